"""The trainer's input pipelines side by side: same pixels? how fast on this machine?

    python benchmarks/compare_pipelines.py [--data ROOT] [--split val] [--image-size 112] [--workers 1]

For each pipeline (pil, uint8, nvjpeg) it loads the evaluation batches of one split on the CPU and
prints the difference from ``pil`` in grey levels (mean and max over every pixel: interpolation
rounding, and for nvjpeg a float resize instead of a uint8 one) and the images per second of the
loader alone. Default: the embedded synthetic set (made if missing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from dbdgcn_lib.data import IMAGENET_STD, CocoMultiLabel, ensure_synthetic
from dbdgcn_lib.training import INPUT_PIPELINES, create_loader


def load(dataset: CocoMultiLabel, pipeline: str, args) -> tuple[torch.Tensor, float]:
    """Every evaluation image of ``dataset`` through ``pipeline``, and the loader's images per second."""
    loader = create_loader(
        dataset,
        pipeline=pipeline,
        train=False,
        batch_size=args.batch_size,
        workers=args.workers,
        device=torch.device("cpu"),
        image_size=args.image_size,
    )
    start = time.perf_counter()
    images = torch.cat([x for x, _ in loader])
    return images, len(images) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a COCO-format root (default: the embedded set)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steady on a shared machine)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dataset = CocoMultiLabel(args.data or ensure_synthetic(), args.split)
    level = 1.0 / (255 * min(IMAGENET_STD))  # one grey level after normalisation (the widest channel)
    print(f"{dataset}; {args.image_size} px, batch {args.batch_size}, {args.workers} worker(s), CPU")
    print(f"{'pipeline':<9}{'mean diff':>11}{'max diff':>10}  (grey levels vs pil){'img/s':>9}")
    reference = None
    for pipeline in INPUT_PIPELINES:
        images, rate = load(dataset, pipeline, args)
        if reference is None:
            reference = images
        diff = (images - reference).abs() / level
        print(f"{pipeline:<9}{diff.mean().item():>11.4f}{diff.max().item():>10.2f}{'':<21}{rate:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
