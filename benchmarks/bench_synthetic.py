"""Time the generation of the embedded synthetic dataset (and the first label-table build).

    python benchmarks/bench_synthetic.py [--size default|tiny] [--seed 0] [--repeat 1]

Writes into a temporary folder that is deleted afterwards; prints seconds per run and images/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dbdgcn_lib.data import SIZES, SPLITS, load_labels, make_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    spec = SIZES[args.size]
    images = sum(getattr(spec, split) for split in SPLITS)
    print(f"synthetic {args.size}: {images} images of {spec.image_size} px, {os.cpu_count()} CPUs")
    for run in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "synthetic"
            start = time.perf_counter()
            make_synthetic(root, size=args.size, seed=args.seed)
            generated = time.perf_counter() - start
            start = time.perf_counter()
            for split in SPLITS:
                load_labels(root, split)
            labelled = time.perf_counter() - start
        rate = images / generated
        print(f"run {run}: generated in {generated:.2f} s ({rate:.0f} img/s); label tables {labelled:.2f} s")


if __name__ == "__main__":
    main()
