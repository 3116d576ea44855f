"""Time the metric suite on COCO val2014's shape (40,504 x 80) beside scikit-learn's per-class loop.

    python benchmarks/bench_metrics.py [--images 40504] [--classes 80] [--repeat 3]

Ours: ``paper_tables``, i.e. Table 1 (mAP, CP ... OF1) and Table 2 (top-3) with one ranking per class.
scikit-learn: ``average_precision_score`` called once per class (the usual mAP loop; mAP only).
Both on one thread.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from dbdgcn_lib.metrics import paper_tables  # noqa: E402


def best_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40504)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    targets = (rng.random((args.images, args.classes)) < 0.04).astype(np.float32)
    # Scores that know something about the labels, rounded to 3 decimals so that ties occur.
    scores = np.clip(0.35 * targets + rng.random(targets.shape) * 0.65, 0, 1).round(3).astype(np.float32)

    def ours():
        return paper_tables(scores, targets)

    def sklearn_loop():
        aps = [average_precision_score(targets[:, c], scores[:, c]) for c in range(args.classes)]
        return 100 * float(np.mean(aps))

    t_ours, tables = best_time(ours, args.repeat)
    table1, top3 = tables["table1"], tables["table2"]
    t_sk, sk_map = best_time(sklearn_loop, args.repeat)
    print(f"{args.images} x {args.classes} scores, best of {args.repeat}")
    print(f"dbdgcn_lib.metrics  Table 1 + top-3: {t_ours:7.3f} s   mAP {table1['mAP']:.4f}")
    print(f"scikit-learn loop   mAP only:        {t_sk:7.3f} s   mAP {sk_map:.4f}")
    print(f"difference in mAP: {abs(table1['mAP'] - sk_map):.2e} points; speed-up {t_sk / t_ours:.1f}x")
    print("top-3: " + " ".join(f"{k} {top3[k]:.2f}" for k in ("CP", "CR", "CF1", "OP", "OR", "OF1")))


if __name__ == "__main__":
    main()
