"""The trainer's speed on one GPU, and the bench loop's on the same card, in one process.

    python benchmarks/trainer_speed.py [--out DIR] [--data-dir DIR] [--budget SECONDS] [--workers N] [--dry]

Steps, in this order; a step that needs more than what is left of ``--budget`` is skipped, and the
skip is recorded:

1. ``data``: photo-like 640 x 480 JPEGs (about COCO's size and decoding cost) in COCO format with
   random labels, ``--train-images`` and ``--val-images``, written in parallel (kept for a rerun);
2. ``paper b18``: the ``Trainer`` with the ``paper`` preset (batch 18), compiled and replayed as CUDA
   graphs (``cuda_graphs``): a timing epoch of ``--small-steps`` steps (``limit_train_batches``),
   then the evaluation of every validation image at batch ``--eval-batch``;
3. ``paper_large b144``: the ``paper_large`` preset (batch 144), compiled, the whole training split;
4. ``bench b144``: the bench loop (``dbdgcn_lib.bench``: db_dgcn, fast, the model compiled as one
   graph as the trainer compiles it, the same input pipeline and workers) at batch 144 on the same
   training files.

Every trainer rate is the trainer's own (its log's ``steady_img_per_s`` and ``eval_img_per_s``), and
the trainer prints its 50-epoch COCO estimate at the end of each run. Weights start random (the GPU
machine has no internet) and the learning rates are ADD-GCN's, so that no run stops on a diverging
loss; neither changes the speed. Both loops read the JPEGs through the ``uint8`` pipeline (the
trainer's default on CUDA) with ``--workers`` worker processes.

Writes ``DIR/results.json`` (the shared results format: ``python -m dbdgcn_lib bench --show``) and
``DIR/summary.txt``: the table, each target PASS / FAIL / not measured (``targets.py``), the
estimates and each step's time (rewritten after every step, so a killed run keeps what it measured).
``--dry``: the same steps on the CPU at toy sizes (tiny backbone, 64 px, a few steps).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from targets import check_targets, format_targets

from dbdgcn_lib.bench import BenchConfig, append_result, environment, format_table, load_results, run_bench
from dbdgcn_lib.bench.results import trainer_records, unmeasured_record
from dbdgcn_lib.data import make_coco_like
from dbdgcn_lib.training import Trainer, format_estimate, get_preset
from dbdgcn_lib.utils import write_text_atomic


@dataclass
class Step:
    """One measured step: ``need_s``, the least time it needs on a GPU (compilation included)."""

    name: str
    need_s: float
    run: Callable[[], object]
    skipped: dict = field(default_factory=dict)  # its record's fields when it is skipped or fails


@dataclass
class Budget:
    """``seconds`` from ``start``; ``left()`` is what remains."""

    seconds: float
    start: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)


def run_steps(
    steps: list[Step], budget: Budget, record: Callable[[Step, str], None], after: Callable[[list[str]], None]
) -> list[str]:
    """Run each step that fits in what is left of ``budget``; returns one line per step (its time,
    its skip or its error). A skipped or failed step is recorded (``record(step, status)``) and the
    run goes on; ``after(lines)`` follows every step."""
    lines: list[str] = []
    for step in steps:
        left = budget.left()
        if left < step.need_s:
            status = f"skipped: {left:.0f} s of the budget left, needs {step.need_s:.0f}"
            record(step, status)
            lines.append(f"{step.name}: {status}")
        else:
            print(f"== {step.name} ({left:.0f} s of the budget left)", flush=True)
            start = time.monotonic()
            try:
                step.run()
                outcome = "done"
            except Exception as err:  # noqa: BLE001 - one failed step must not lose the others
                traceback.print_exc()
                outcome = f"error: {type(err).__name__}: {str(err)[:200]}"
                record(step, outcome)
            lines.append(f"{step.name}: {outcome} in {time.monotonic() - start:.0f} s")
        print(f"== {lines[-1]}", flush=True)
        after(lines)
    return lines


@dataclass(frozen=True)
class Sizes:
    """What the measurement runs at: the GPU's sizes, or toy ones for a dry run on the CPU."""

    device: str
    image_size: int
    jpeg_size: tuple[int, int]  # (width, height)
    small_batch: int  # the paper's batch
    large_batch: int
    eval_batch: int
    bench_steps: int
    bench_warmup: int
    need_s: tuple[float, float, float]  # the least seconds of the three steps (cold compiler caches)
    model: dict  # TrainConfig overrides: the model and its compilation


GPU = Sizes("cuda", 448, (640, 480), 18, 144, 256, 30, 3, (200.0, 150.0, 60.0), {"compile": True})
DRY = Sizes(
    "cpu", 64, (96, 72), 4, 8, 8, 2, 1, (0.0, 0.0, 0.0),
    {"backbone": "tiny", "switches": {"embed_dim": 16}, "threads": 1, "compile": False},
)  # fmt: skip


def plan(sizes: Sizes, args, root: Path, results: Path, env: dict, device: torch.device) -> list[Step]:
    """The three measured steps: the trainer at the paper's batch and at the large one, the bench loop."""
    common = dict(
        data=str(root), train_split="train", val_split="val", pipeline="uint8", pretrained=None, lr_head=0.05,
        lr_backbone=0.005, device=sizes.device, image_size=sizes.image_size, epochs=1, workers=args.workers,
        log_every=50, eval_batch_size=sizes.eval_batch, limit_val_batches=args.val_images // sizes.eval_batch,
        **sizes.model,
    )  # fmt: skip
    small, large = sizes.small_batch, sizes.large_batch
    paper = {**common, "batch_size": small, "cuda_graphs": True, "limit_train_batches": args.small_steps}
    paper_large = {**common, "batch_size": large, "limit_train_batches": args.train_images // large}
    bench = BenchConfig(
        variants="db_dgcn", phases="train", modes="fast", inputs="jpeg", pipelines="uint8", batch=large,
        compile=sizes.model["compile"], compile_scope="model", device=sizes.device,
        image_size=sizes.image_size, backbone=sizes.model.get("backbone", "resnet101"),
        embed_dim=sizes.model.get("switches", {}).get("embed_dim"), workers=args.workers,
        data=str(root / "train"), jpeg_count=args.train_images, steps=sizes.bench_steps,
        warmup=sizes.bench_warmup, threads=sizes.model.get("threads"), label="trainer-batch",
        json_path=str(results),
    )  # fmt: skip

    def trainer(name: str, preset: str, config: dict) -> Step:
        need = sizes.need_s[0 if preset == "paper" else 1]
        fields = dict(source="trainer", mode=preset, phase="train", batch=config["batch_size"])
        return Step(name, need, lambda: trainer_step(name, preset, config, env, results, device), fields)

    return [
        trainer(f"paper b{small}", "paper", paper),
        trainer(f"paper_large b{large}", "paper_large", paper_large),
        Step(f"bench b{large}", sizes.need_s[2], lambda: run_bench(bench),
             dict(source="bench", mode="fast", phase="train", batch=large)),
    ]  # fmt: skip


def trainer_step(name: str, preset: str, overrides: dict, env: dict, results: Path, device: torch.device):
    """A timing run of ``preset``; its records are appended to ``results``."""
    torch._dynamo.reset()  # the previous run's graphs (and CUDA-graph memory) go
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(get_preset(preset, **overrides), None, progress=False)
    try:
        trainer.fit()
        peak = round(torch.cuda.max_memory_allocated(device) / 1e9, 2) if device.type == "cuda" else None
        for record in trainer_records(trainer, env, run=name, mode=preset, peak_mem_gb=peak):
            append_result(results, record, env)
    finally:
        trainer.close()
        del trainer
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def summary(results: Path, step_lines: list[str], budget: Budget) -> str:
    data = load_results(results)
    records = data["results"]
    lines = [format_table(records, data.get("env")), "", format_targets(check_targets(records)), ""]
    lines.append("50-epoch COCO estimates, as the trainer printed them:")
    for train in (r for r in records if r.get("source") == "trainer" and r.get("phase") == "train"):
        evals = [r for r in records if r.get("run") == train["run"] and r.get("phase") == "eval"]
        if train.get("status") == "ok" and evals:
            what = (
                f"{train['variant']}, {train['backbone']}, {train['image_size']} px, batch {train['batch']}"
            )
            lines.append(
                f"  {train['run']}: " + format_estimate(train["img_per_s"], evals[-1]["img_per_s"], what=what)
            )
    lines += ["", "steps:", *(f"  {line}" for line in step_lines)]
    lines.append(f"total: {budget.seconds - budget.left():.0f} s of a {budget.seconds:.0f} s budget")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".bench/trainer_speed"), help="results and summary")
    parser.add_argument("--data-dir", type=Path, help="where the JPEGs go (default .bench/coco-like-...)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for every step (default 480)")
    parser.add_argument("--workers", type=int, default=max(1, min(15, (os.cpu_count() or 2) - 1)))
    parser.add_argument("--train-images", type=int, default=6912, help="default: 48 batches of 144")
    parser.add_argument("--val-images", type=int, default=4096)
    parser.add_argument("--small-steps", type=int, default=300, help="training steps at the paper's batch")
    parser.add_argument("--dry", action="store_true", help="CPU, toy sizes: checks this script only")
    args = parser.parse_args(argv)
    budget = Budget(args.budget)
    sizes = DRY if args.dry else GPU
    if args.dry:
        args.train_images, args.val_images, args.small_steps, args.workers = 32, 16, 3, 0
    elif not torch.cuda.is_available():
        print("no CUDA device: run on a GPU machine, or use --dry for a CPU check of this script")
        return 2
    warnings.filterwarnings("ignore", message=".*no positive example", category=RuntimeWarning)
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.json"
    results.unlink(missing_ok=True)
    size = f"{args.train_images}-{args.val_images}-{sizes.jpeg_size[0]}"
    root = args.data_dir or Path(".bench") / f"coco-like-{size}"
    start = time.monotonic()  # the JPEGs first: their writer processes fork before CUDA starts
    make_coco_like(root, {"train": args.train_images, "val": args.val_images}, size=sizes.jpeg_size)
    data_line = (
        f"data: {args.train_images} + {args.val_images} JPEGs in {root} ({time.monotonic() - start:.0f} s)"
    )
    device = torch.device("cpu") if args.dry else torch.device("cuda", torch.cuda.current_device())
    env = environment(device)
    print(
        f"{env['device_name']} | torch {env['torch']} | {env['cpu_count']} CPUs | budget {args.budget:.0f} s"
    )
    print(f"== {data_line}", flush=True)

    def record(step: Step, status: str) -> None:
        fields = {"run": step.name, "variant": "db_dgcn", "image_size": sizes.image_size, **step.skipped}
        append_result(results, unmeasured_record(env, status, **fields), env)

    def write_summary(lines: list[str]) -> str:
        text = summary(results, [data_line, *lines], budget)
        write_text_atomic(args.out / "summary.txt", text + "\n", durable=False)
        return text

    done = run_steps(plan(sizes, args, root, results, env, device), budget, record, write_summary)
    print("\n" + write_summary(done))
    return 1 if any("error:" in line for line in done) else 0


if __name__ == "__main__":
    sys.exit(main())
