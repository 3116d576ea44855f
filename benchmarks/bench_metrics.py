"""Time the metrics on COCO val2014's shape (40,504 x 80) beside scikit-learn's per-class loop.

    python benchmarks/bench_metrics.py [--images 40504] [--classes 80] [--repeat 5]

Two score sets: float32 probabilities rounded to bf16's 8 significant bits (what a bf16 model gives:
heavy ties) and float64 probabilities (few ties). For each, in the same run and on one thread:
``average_precision`` (per-class AP) against ``average_precision_score`` called once per class (the
usual mAP loop), the speed-up, the largest per-class AP difference, and ``paper_tables`` (Table 1 and
top-3 in one call) for reference. Ours and scikit-learn's alternate inside each repeat, so that a load
change on a shared machine hits both; the best time of each is kept. Exits with status 1 if any AP
differs from scikit-learn's by more than 1e-9.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from dbdgcn_lib.metrics import average_precision, paper_tables  # noqa: E402

TOLERANCE = 1e-9


def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 rounded to the nearest bfloat16 (8 significant bits, ties to even), kept as float32."""
    bits = x.astype(np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def score_sets(images: int, classes: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    prevalence = rng.uniform(0.005, 0.2, size=classes)  # COCO-like: rare and common classes
    targets = (rng.random((images, classes)) < prevalence).astype(np.float32)
    logits = 2.5 * targets - 3.0 + 1.5 * rng.standard_normal(targets.shape)  # scores that know something
    probabilities = 1.0 / (1.0 + np.exp(-logits))
    return targets, {
        "float32 rounded to bf16": round_to_bf16(probabilities),
        "float64": probabilities,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40504)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if args.images < 2 or args.classes < 1 or args.repeat < 1:
        parser.error("--images must be >= 2, --classes and --repeat >= 1")

    targets, sets = score_sets(args.images, args.classes)
    print(f"{args.images} x {args.classes} scores, best of {args.repeat}, one thread")
    worst = 0.0
    for name, scores in sets.items():
        times = {"ours": [], "tables": [], "sklearn": []}
        for _ in range(args.repeat):
            start = time.perf_counter()
            ours = average_precision(scores, targets)
            times["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
            reference = np.array(
                [average_precision_score(targets[:, c], scores[:, c]) for c in range(args.classes)]
            )
            times["sklearn"].append(time.perf_counter() - start)
            start = time.perf_counter()
            paper_tables(scores, targets)
            times["tables"].append(time.perf_counter() - start)
        best = {key: min(values) for key, values in times.items()}
        scored = targets.any(axis=0)  # scikit-learn gives no AP for a class without positives
        difference = float(np.max(np.abs(ours[scored] - reference[scored]), initial=0.0))
        worst = max(worst, difference)
        distinct = np.mean([np.unique(scores[:, c]).size for c in range(args.classes)])
        speed_up = best["sklearn"] / best["ours"]
        print(f"{name} ({distinct:,.0f} distinct scores per class on average):")
        print(f"  dbdgcn_lib average_precision  {best['ours']:7.3f} s")
        print(f"  scikit-learn per-class loop   {best['sklearn']:7.3f} s   speed-up {speed_up:.1f}x")
        print(f"  max |AP difference|           {difference:.1e}   mAP {100 * np.nanmean(ours):.4f}")
        print(f"  dbdgcn_lib paper_tables       {best['tables']:7.3f} s   (Table 1 + top-3, for reference)")
    if worst > TOLERANCE:
        sys.exit(f"AP differs from scikit-learn's by {worst:.1e} > {TOLERANCE:.0e}")


if __name__ == "__main__":
    main()
