"""Plant known bugs one at a time in a scratch copy of the course and show that the tests catch each.

Each mutant is one exact text replacement in one library file (the bugs of the correctness review of
2026-12-06: the paper's rules that a plausible slip would break). The script copies the working tree
to a temporary folder once; for each mutant it patches the copy, runs the mutant's tests there with
``pytest -x`` and puts the file back. The checkout itself is never touched. The tests first run once
without any mutant, so that a test failing anyway is not counted as a kill.

    python scripts/mutants.py                 # all 30 (about 15 minutes on a busy 2-core CPU)
    python scripts/mutants.py --only M06,M11  # some
    python scripts/mutants.py --list

Results: ``killed`` (a test failed: the first one is named), ``SURVIVED`` (every test passed),
``NOT APPLIED`` (the text to replace is no longer in the file, or is there more than once: the mutant
must be rewritten for the new code, it proves nothing as it is), ``BASELINE FAILS`` (the tests fail
without the mutant, so a failure would prove nothing). Exit status 1 unless every mutant is killed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    path: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: files and -k selections


GRAPH = ("tests/test_graph.py",)
MODELS = ("tests/test_models.py",)
METRICS = ("tests/test_metrics.py", "tests/test_statistics.py")
SYNTHETIC = ("tests/test_data_synthetic.py",)
SCHEDULE = ("tests/test_training.py", "-k", "schedule or warm or learning_rate")

MUTANTS = (
    Mutant(
        "M01",
        "co-occurrence direction swapped (paper <-> ml_gcn_code)",
        "dbdgcn_lib/graph/cooccurrence.py",
        'if convention == "ml_gcn_code":',
        'if convention == "paper":',
        GRAPH,
    ),
    Mutant(
        "M02",
        "P(j | i) divided by nums[j]",
        "dbdgcn_lib/graph/cooccurrence.py",
        "denom = np.where(nums > 0, nums, 1.0)[:, None]",
        "denom = np.where(nums > 0, nums, 1.0)[None, :]",
        GRAPH,
    ),
    Mutant(
        "M03",
        "sigmoid dropped from the dynamic adjacency",
        "dbdgcn_lib/models/gcn.py",
        "return torch.sigmoid(self.adjacency_conv(h_prime)).transpose(1, 2)",
        "return self.adjacency_conv(h_prime).transpose(1, 2)",
        MODELS,
    ),
    Mutant(
        "M04",
        "dynamic adjacency not transposed",
        "dbdgcn_lib/models/gcn.py",
        "return torch.sigmoid(self.adjacency_conv(h_prime)).transpose(1, 2)",
        "return torch.sigmoid(self.adjacency_conv(h_prime))",
        MODELS,
    ),
    Mutant(
        "M05",
        "GCN normalisation D^-1 A instead of D^-1/2 A D^-1/2",
        "dbdgcn_lib/graph/cooccurrence.py",
        "out = inv_sqrt[:, None] * a * inv_sqrt[None, :]",
        "out = inv_sqrt[:, None] ** 2 * a",
        GRAPH + MODELS,
    ),
    Mutant(
        "M06",
        "static GCN aggregates with A^T",
        "dbdgcn_lib/models/gcn.py",
        "mixed = aggregate(self.adjacency, v)",
        "mixed = aggregate(self.adjacency.T, v)",
        MODELS,
    ),
    Mutant(
        "M07",
        'AP ties off by one (side="right")',
        "dbdgcn_lib/metrics/metrics.py",
        'np.searchsorted(by_class[c], positives, side="left")',
        'np.searchsorted(by_class[c], positives, side="right")',
        METRICS,
    ),
    Mutant(
        "M08",
        "tied positives not grouped",
        "dbdgcn_lib/metrics/metrics.py",
        "positives_at_or_above = positives.size - _first_of_tie(positives)",
        "positives_at_or_above = positives.size - np.arange(positives.size)",
        METRICS,
    ),
    Mutant(
        "M09",
        "CF1 = mean of per-class F1",
        "dbdgcn_lib/metrics/metrics.py",
        '"CF1": _f1(cp, cr),',
        '"CF1": float(np.mean([_f1(p, r) for p, r in zip(nc / np.maximum(npred, 1), nc / ng)])),',
        METRICS,
    ),
    Mutant(
        "M10",
        "top-k ORed with the threshold",
        "dbdgcn_lib/metrics/metrics.py",
        "predicted &= _top_k_mask(scores, int(top_k))",
        "predicted |= _top_k_mask(scores, int(top_k))",
        METRICS,
    ),
    Mutant(
        "M11",
        "threshold > instead of >=",
        "dbdgcn_lib/metrics/metrics.py",
        "predicted = scores >= threshold",
        "predicted = scores > threshold",
        METRICS,
    ),
    Mutant(
        "M12",
        "a class without positives counted as AP 0 in mAP",
        "dbdgcn_lib/metrics/metrics.py",
        '"mAP": float(np.mean(ap[has_positive])),',
        '"mAP": float(np.mean(np.nan_to_num(ap))),',
        METRICS,
    ),
    Mutant(
        "M13",
        "paired bootstrap not paired",
        "dbdgcn_lib/metrics/bootstrap.py",
        "b = bootstrap(metric, *reference, resamples=resamples)",
        "b = bootstrap(metric, *reference, resamples=resamples[::-1])",
        METRICS,
    ),
    Mutant(
        "M14",
        "verdict ignores the seed noise (replanted on the new rule)",
        "dbdgcn_lib/metrics/noise.py",
        "return math.hypot(seed_part, image_part)",
        "return image_part",
        METRICS,
    ),
    Mutant(
        "M15",
        "verdict with the normal 1.96 whatever the seeds (replanted: the old rule's fixed factor)",
        "dbdgcn_lib/metrics/noise.py",
        "seed_part = t_quantile(level, spread.dof) * math.sqrt(seed_variance)",
        "seed_part = t_quantile(level, math.inf) * math.sqrt(seed_variance)",
        METRICS,
    ),
    Mutant(
        "M16",
        "resampling without replacement",
        "dbdgcn_lib/metrics/bootstrap.py",
        "return np.random.default_rng(seed).integers(0, n_rows, size=(resamples, n_rows))",
        "return np.stack([np.random.default_rng(seed + k).permutation(n_rows) for k in range(resamples)])",
        METRICS,
    ),
    Mutant(
        "M17",
        "out-of-scene AP keeps the other kind as negatives",
        "dbdgcn_lib/metrics/out_of_scene.py",
        "ap_outside = _average_precision(np.where(inside, -np.inf, scores), outside)",
        "ap_outside = _average_precision(scores, outside)",
        METRICS,
    ),
    Mutant(
        "M18",
        "out-of-scene mask inverted to the in-scene labels",
        "dbdgcn_lib/data/out_of_scene.py",
        "= True\n    return mask\n",
        "= True\n    return (dataset.labels > 0) & ~mask\n",
        SYNTHETIC + ("-k", "out_of_scene"),
    ),
    Mutant(
        "M19",
        "plain split keeps the scene background",
        "dbdgcn_lib/data/synthetic/draw.py",
        'if background == "plain":\n        d.rectangle((0, 0, canvas, canvas), fill=PLAIN_BACKGROUND)',
        'if background == "plain":\n        pass',
        SYNTHETIC + ("-k", "plain"),
    ),
    Mutant(
        "M20",
        "plain split uses its own random stream",
        "dbdgcn_lib/data/synthetic/make.py",
        'source = "val" if split == "plain" else split',
        "source = split",
        SYNTHETIC + ("-k", "plain"),
    ),
    Mutant(
        "M21",
        "rare intruder drawn from the scene's usual classes",
        "dbdgcn_lib/data/synthetic/make.py",
        "if q[k] == 0 and c.name not in lookalike",
        "if q[k] > 0 and c.name not in lookalike",
        SYNTHETIC + ("-k", "rare and not old_splits"),
    ),
    Mutant(
        "M22",
        "gradient clipping removed",
        "dbdgcn_lib/training/steps.py",
        "torch.nn.utils.clip_grad_norm_(params, grad_clip)",
        "del params",
        ("tests/test_faults.py", "-k", "clip"),
    ),
    Mutant(
        "M23",
        "learning rate drops one epoch late (epoch > m)",
        "dbdgcn_lib/training/steps.py",
        "sum(epoch >= m for m in milestones)",
        "sum(epoch > m for m in milestones)",
        SCHEDULE,
    ),
    Mutant(
        "M24",
        "warm-up off by one",
        "dbdgcn_lib/training/steps.py",
        "if step < warmup_steps:",
        "if step <= warmup_steps:",
        SCHEDULE,
    ),
    Mutant(
        "M25",
        "prior re-weighted by column degree",
        "dbdgcn_lib/graph/cooccurrence.py",
        "degree = binary.sum(axis=1, keepdims=True)",
        "degree = binary.sum(axis=0, keepdims=True).T",
        GRAPH,
    ),
    Mutant(
        "M26",
        "auxiliary branch fed H instead of V",
        "dbdgcn_lib/models/gcn.py",
        "z_aux, aux_adjacency = self.aux(v)",
        "z_aux, aux_adjacency = self.aux(h)",
        MODELS,
    ),
    Mutant(
        "M27",
        "fusion without the residual V",
        "dbdgcn_lib/models/gcn.py",
        "z = v + z_main",
        "z = z_main",
        MODELS,
    ),
    Mutant(
        "M28",
        "loss on s_r instead of the fused s",
        "dbdgcn_lib/training/steps.py",
        'loss = F.binary_cross_entropy_with_logits(outputs["logits"].float(), targets, weight=weights)',
        'loss = F.binary_cross_entropy_with_logits(outputs["s_r"].float(), targets, weight=weights)',
        ("tests/test_training.py", "-k", "loss or schedule or warm or resume"),
    ),
    Mutant(
        "M29",
        "learning rate set once per epoch, not at every step",
        "dbdgcn_lib/training/trainer.py",
        "            self.schedule.set_step(self.step)\n            if self.cuda_graphs:",
        "            if self.cuda_graphs:",
        SCHEDULE,
    ),
    Mutant(
        "M30",
        "out-of-scene recall threshold > instead of >=",
        "dbdgcn_lib/metrics/out_of_scene.py",
        "predicted = scores >= threshold",
        "predicted = scores > threshold",
        METRICS,
    ),
)


def scratch_copy(destination: Path) -> Path:
    """The working tree's files that git tracks or would track (uncommitted changes included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def plant(root: Path, mutant: Mutant) -> str | None:
    """Apply ``mutant`` in ``root``; returns the original text, or None when the patch does not apply
    (its text is not in the file exactly once)."""
    path = root / mutant.path
    if not path.is_file():
        return None
    original = path.read_text()
    if original.count(mutant.old) != 1:
        return None
    path.write_text(original.replace(mutant.old, mutant.new))
    return original


def run_tests(root: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, str]:
    """``pytest -x`` on ``tests`` in ``root``: ("passed" | "failed" | "timeout" | "error", first failure)."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"no result in {timeout:.0f} s"
    output = result.stdout + result.stderr
    if result.returncode == 0:
        return "passed", ""
    first = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)
    if result.returncode == 1:
        return "failed", first.group(1) if first else "a test failed"
    last = output.strip().splitlines()[-1] if output.strip() else ""
    return "error", f"pytest exit {result.returncode}: {first.group(1) if first else last}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated mutant names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per test run (default 900)")
    args = parser.parse_args(argv)
    mutants = MUTANTS
    if args.only:
        wanted = {name.strip().upper() for name in args.only.split(",")}
        unknown = wanted - {m.name for m in MUTANTS}
        if unknown:
            parser.error(f"unknown mutant(s) {', '.join(sorted(unknown))}; --list shows them")
        mutants = tuple(m for m in MUTANTS if m.name in wanted)
    if args.list:
        for m in mutants:
            print(f"{m.name}  {m.path:<36} {m.what}")
        return 0

    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="dbdgcn-mutants-") as scratch:
        root = scratch_copy(Path(scratch))
        print(f"scratch copy of {REPO} in {root}", flush=True)
        baseline: dict[tuple[str, ...], tuple[str, str]] = {}
        for tests in dict.fromkeys(m.tests for m in mutants):
            baseline[tests] = run_tests(root, tests, args.timeout)
            print(f"baseline {' '.join(tests)}: {baseline[tests][0]} {baseline[tests][1]}", flush=True)
        for m in mutants:
            began = time.perf_counter()
            if baseline[m.tests][0] != "passed":
                status, detail = "BASELINE FAILS", baseline[m.tests][1]
            else:
                original = plant(root, m)
                if original is None:
                    status, detail = "NOT APPLIED", f"the text to replace is not in {m.path} exactly once"
                else:
                    try:
                        outcome, detail = run_tests(root, m.tests, args.timeout)
                    finally:
                        (root / m.path).write_text(original)
                    status = "SURVIVED" if outcome == "passed" else "killed"
                    if outcome in ("timeout", "error"):
                        detail = f"({outcome}) {detail}"
            results.append((m, status, detail))
            print(
                f"{m.name} {status:<14} {time.perf_counter() - began:6.1f} s  {m.what}: {detail}", flush=True
            )
    killed = sum(status == "killed" for _, status, _ in results)
    print(f"\n{killed} of {len(results)} mutants killed in {time.perf_counter() - start:.0f} s")
    for m, status, detail in results:
        if status != "killed":
            print(f"  {m.name} {status}: {m.what} ({m.path}) {detail}")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
