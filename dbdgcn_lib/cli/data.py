"""``python -m dbdgcn_lib data ...``: make the embedded dataset or fetch MS-COCO 2014.

data synthetic [--root DIR] [--size tiny|default] [--seed N]
data coco [--root DIR] [--annotations-only] [--keep-archives]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dbdgcn_lib.checks import SEED
from dbdgcn_lib.cli.errors import checked
from dbdgcn_lib.data import SIZES, SPLITS, download_coco2014, make_synthetic, read_generator
from dbdgcn_lib.paths import default_data_root


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command and its sub-commands to the top-level parser."""
    data = subparsers.add_parser("data", help="make the embedded dataset or download MS-COCO 2014")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="SOURCE")

    synthetic = sub.add_parser("synthetic", help="generate the embedded synthetic dataset (COCO format)")
    synthetic.add_argument(
        "--root", type=Path, default=None, help="target folder (default: <data>/synthetic)"
    )
    synthetic.add_argument(
        "--size", choices=list(SIZES), default="default", help="dataset size (default: default)"
    )
    synthetic.add_argument("--seed", type=checked(int, SEED), default=0, help="random seed (default: 0)")
    synthetic.set_defaults(func=run_synthetic)

    coco = sub.add_parser("coco", help="download and unpack MS-COCO 2014 (about 20 GB; resumable)")
    coco.add_argument("--root", type=Path, default=None, help="target folder (default: <data>/coco)")
    coco.add_argument(
        "--annotations-only",
        action="store_true",
        help="fetch only the annotations (241 MiB): enough for label statistics",
    )
    coco.add_argument("--keep-archives", action="store_true", help="keep the zip files after unpacking")
    coco.set_defaults(func=run_coco)


def run_synthetic(args: argparse.Namespace) -> int:
    root = args.root if args.root is not None else default_data_root() / "synthetic"
    started = time.perf_counter()
    make_synthetic(root, size=args.size, seed=args.seed, progress=True)
    counts = read_generator(root)["counts"]
    summary = ", ".join(f"{split} {counts[split]['images']}" for split in SPLITS)
    print(f"wrote {root} ({summary} images) in {time.perf_counter() - started:.1f} s")
    return 0


def run_coco(args: argparse.Namespace) -> int:
    root = args.root if args.root is not None else default_data_root() / "coco"
    download_coco2014(root, annotations_only=args.annotations_only, keep_archives=args.keep_archives)
    what = "annotations" if args.annotations_only else "images and annotations"
    print(f"MS-COCO 2014 {what} are in {root}")
    return 0
