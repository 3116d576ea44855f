"""``python -m dbdgcn_lib params``: parameter counts of the variants and of each ablation switch."""

from __future__ import annotations

import argparse

from dbdgcn_lib.checks import EMBED_DIM, NUM_CLASSES
from dbdgcn_lib.cli.errors import checked
from dbdgcn_lib.models import ABLATION_ROWS, BACKBONES, QUERY_ROWS, parameter_table


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "params", help="parameter counts of every variant (graph and query heads) and ablations"
    )
    parser.add_argument("--backbone", default="resnet101", choices=BACKBONES)
    parser.add_argument("--num-classes", type=checked(int, NUM_CLASSES), default=80)
    parser.add_argument(
        "--embed-dim",
        type=checked(int, EMBED_DIM),
        default=None,
        help="D of every head (default: each variant's own)",
    )
    parser.set_defaults(func=run_params)


def run_params(args: argparse.Namespace) -> int:
    rows = parameter_table(args.backbone, args.num_classes, args.embed_dim, rows=ABLATION_ROWS + QUERY_ROWS)
    width = f"D = {args.embed_dim}" if args.embed_dim else "D = each variant's own"
    print(f"parameters: backbone {args.backbone}, {args.num_classes} classes, {width}")
    print(f"{'model':<32}{'D':>6}{'total':>14}{'backbone':>14}{'head':>14}{'vs variant':>14}")
    for r in rows:
        diff = "" if r["vs"] is None else f"{r['vs']:+,}"
        dim = "" if r["D"] is None else r["D"]
        print(f"{r['name']:<32}{dim:>6}{r['total']:>14,}{r['backbone']:>14,}{r['head']:>14,}{diff:>14}")
    return 0
