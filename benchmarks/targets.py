"""The project's speed targets on one GPU, checked against results files: PASS, FAIL or not measured.

    python benchmarks/targets.py RESULTS.json [RESULTS.json ...]

prints each file's table, then the targets over all their records and the 50-epoch COCO estimates.
Every target reads db_dgcn records at 448 px with ResNet-101 (``dbdgcn_lib.bench.results``):

- the bench loop (the model's own step): training >= 1,000 img/s with a real JPEG pipeline, >= 3x
  ADD-GCN as released (its model alone, without any loader: the ratio is conservative), evaluation
  >= 2,500 img/s, batch 18 in bf16 under 8 GB;
- the trainer (its own log): the ``paper`` preset at batch 18 >= 550 img/s steady, evaluation >= 2,500
  img/s over 4,096 or more images, at a batch of 128 or more within 5% of the bench loop at the same
  batch and pipeline on the same card, and 50 COCO epochs under 2 h (batch 18) and 1.2 h (large batch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable

from dbdgcn_lib.bench import format_estimates, format_table, load_results, run_estimates
from dbdgcn_lib.bench.results import input_name
from dbdgcn_lib.training import coco_run_hours


def _where(r: dict | None) -> str:
    if r is None:
        return ""
    compiled = "CUDA graphs" if r.get("cuda_graphs") else ("compiled" if r.get("compile") else "eager")
    return (
        f"{r.get('source')} {r['variant']} {r['phase']} {r['mode']} {input_name(r)} b{r['batch']} {compiled}"
    )


def _row(
    name: str, rec: dict | None, value, goal: str, passed: Callable[[float], bool], how: str = ""
) -> dict:
    return {
        "target": name,
        "value": value,
        "goal": goal,
        "passed": None if value is None else bool(passed(value)),
        "from": _where(rec) + how,
    }


def check_targets(
    results: Iterable[dict], *, image_size: int = 448, backbone: str = "resnet101"
) -> list[dict]:
    """One row per target: ``target``, ``value`` (None: not measured by these results), ``goal``,
    ``passed`` (None when not measured) and ``from`` (the record it was read from)."""
    ok = [
        r
        for r in results
        if r.get("status") == "ok"
        and r.get("variant") == "db_dgcn"
        and (r.get("image_size"), r.get("backbone")) == (image_size, backbone)
    ]
    add_gcn = [
        r
        for r in results
        if r.get("status") == "ok"
        and (r.get("variant"), r.get("image_size"), r.get("backbone")) == ("add_gcn", image_size, backbone)
    ]

    def best(rows, pred, key="img_per_s", pick=max):
        rows = [r for r in rows if pred(r) and r.get(key) is not None]
        return pick(rows, key=lambda r: r[key]) if rows else None

    def bench(r):
        return r.get("source", "bench") == "bench"

    def trainer(r):
        return r.get("source") == "trainer"

    out = []
    rec = best(ok, lambda r: bench(r) and r["phase"] == "train" and r["input"] == "jpeg")
    v = rec["img_per_s"] if rec else None
    out.append(_row("bench: train img/s, real JPEG pipeline", rec, v, ">= 1,000", lambda x: x >= 1000))
    released = best(add_gcn, lambda r: bench(r) and r["phase"] == "train" and r["mode"] == "released"
                    and r["input"] == "synthetic")  # fmt: skip
    ratio = round(v / released["img_per_s"], 2) if v and released else None
    how = f" vs add_gcn released {released['img_per_s']:,.0f} img/s" if released else ""
    out.append(_row("  ... over add_gcn as released", rec, ratio, ">= 3x", lambda x: x >= 3, how))
    for inp in ("synthetic", "jpeg"):
        rec = best(
            ok, lambda r, i=inp: bench(r) and r["phase"] == "eval" and r["mode"] == "fast" and r["input"] == i
        )
        v = rec["img_per_s"] if rec else None
        out.append(_row(f"bench: eval img/s ({inp} input)", rec, v, ">= 2,500", lambda x: x >= 2500))
    rec = best(ok, lambda r: r["phase"] == "train" and r.get("amp") == "bf16" and r["batch"] == 18
               and r.get("peak_mem_gb") is not None, key="peak_mem_gb", pick=min)  # fmt: skip
    v = rec["peak_mem_gb"] if rec else None
    out.append(_row("train batch 18 bf16 peak GB", rec, v, "< 8", lambda x: x < 8))

    rec = best(
        ok, lambda r: trainer(r) and r["phase"] == "train" and r["mode"] == "paper" and r["batch"] == 18
    )
    v = rec["img_per_s"] if rec else None
    out.append(_row("trainer: paper batch 18, steady train img/s", rec, v, ">= 550", lambda x: x >= 550))
    rec = best(ok, lambda r: trainer(r) and r["phase"] == "eval" and r.get("images", 0) >= 4096)
    v = rec["img_per_s"] if rec else None
    out.append(_row("trainer: eval img/s over >= 4,096 images", rec, v, ">= 2,500", lambda x: x >= 2500))

    pairs = []  # (trainer / bench, trainer record, bench record) at one batch >= 128
    for t in (r for r in ok if trainer(r) and r["phase"] == "train" and r["batch"] >= 128):
        same = best(ok, lambda r, t=t: bench(r) and r["phase"] == "train" and r["input"] == "jpeg"
                    and r.get("compile") and (r["batch"], r.get("pipeline"), r.get("device"))
                    == (t["batch"], t.get("pipeline"), t.get("device")))  # fmt: skip
        if same:
            pairs.append((round(t["img_per_s"] / same["img_per_s"], 3), t, same))
    ratio, rec, same = max(pairs, key=lambda p: p[0]) if pairs else (None, None, None)
    how = f" vs the bench loop's {same['img_per_s']:,.0f} img/s" if same else ""
    out.append(
        _row("trainer / bench loop, same batch >= 128", rec, ratio, ">= 0.95", lambda x: x >= 0.95, how)
    )

    for name, goal, pred in (
        ("paper batch 18", 2.0, lambda r: r["mode"] == "paper" and r["batch"] == 18),
        ("batch >= 128", 1.2, lambda r: r["batch"] >= 128),
    ):
        runs = [r for r in ok if trainer(r) and r["phase"] == "train" and pred(r)]
        hours = [(_hours(r, ok), r) for r in runs]
        hours = [(h, r) for h, r in hours if h is not None]
        h, rec = min(hours, key=lambda p: p[0]) if hours else (None, None)
        out.append(
            _row(f"trainer: 50 COCO epochs (h), {name}", rec, None if h is None else round(h, 2), f"< {goal}",
                 lambda x, g=goal: x < g)
        )  # fmt: skip
    return out


def _hours(train: dict, records: list[dict]) -> float | None:
    """50 COCO epochs at a trainer run's training rate and its own evaluation rate."""
    evals = [r for r in records if r.get("run") == train.get("run") and r["phase"] == "eval"]
    return coco_run_hours(train["img_per_s"], evals[-1]["img_per_s"]) if evals else None


def format_targets(rows: list[dict]) -> str:
    lines = ["targets:"]
    for r in rows:
        verdict = "not measured" if r["passed"] is None else ("PASS" if r["passed"] else "FAIL")
        value = "-" if r["value"] is None else f"{r['value']:,}"
        lines.append(f"  {r['target']:<44}{value:>10}  goal {r['goal']:<9} {verdict:<13} {r['from']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="RESULTS.json")
    args = parser.parse_args(argv)
    records = []
    for path in args.files:
        data = load_results(path)
        print(format_table(data["results"], data.get("env")), end="\n\n")
        records += data["results"]
    print(format_targets(check_targets(records)), end="\n\n")
    print(format_estimates(run_estimates(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
