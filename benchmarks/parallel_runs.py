"""Independent quick runs one after another against one worker process per core, in one measurement.

    python benchmarks/parallel_runs.py                       # 4 runs like notebook 09's, smoke-sized
    python benchmarks/parallel_runs.py --runs 6 --epochs 3 --image-size 96

Both orders run the same jobs (the ablation's variants and seeds) with one torch thread per run; the
script prints each order's wall time, the ratio, and whether every run's history and weights are
identical in both (they must be: each run is seeded and single-threaded).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from dbdgcn_lib.data import ensure_synthetic
from dbdgcn_lib.training.quick import default_workers, quick_train_many

VARIANTS = [("db_dgcn", {}), ("resnet", {}), ("add_gcn", {}), ("db_dgcn", {"aux_branch": False})]


def jobs(runs: int, epochs: int, image_size: int, train_images: int | None) -> list[dict]:
    plan = []
    for index in range(runs):
        variant, switches = VARIANTS[index % len(VARIANTS)]
        seed = index // len(VARIANTS)
        plan.append(
            dict(variant=variant, seed=seed, epochs=epochs, image_size=image_size, train_images=train_images)
            | switches
        )
    return plan


def identical(a, b) -> bool:
    if a.history != b.history:
        return False
    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    return all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-images", type=int, default=640, help="first N training images (0: all)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: the cores available)")
    args = parser.parse_args(argv)
    ensure_synthetic()
    plan = jobs(args.runs, args.epochs, args.image_size, args.train_images or None)
    workers = args.workers or default_workers()
    print(f"{len(plan)} quick runs ({args.epochs} epochs at {args.image_size} px), {os.cpu_count()} CPUs")

    start = time.perf_counter()
    sequential = quick_train_many(plan, workers=1)
    sequential_s = time.perf_counter() - start
    start = time.perf_counter()
    parallel = quick_train_many(plan, workers=workers)
    parallel_s = time.perf_counter() - start

    same = all(identical(a, b) for a, b in zip(sequential, parallel, strict=True))
    print(f"one after another (1 process):   {sequential_s:7.1f} s")
    print(f"in parallel ({workers} processes):      {parallel_s:7.1f} s")
    print(f"ratio: {sequential_s / parallel_s:.2f}x; every run identical in both orders: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
