"""``python -m dbdgcn_lib params``: parameter counts of the variants and of each ablation switch."""

from __future__ import annotations

import argparse

from dbdgcn_lib.checks import EMBED_DIM, NUM_CLASSES
from dbdgcn_lib.cli.errors import checked
from dbdgcn_lib.models import BACKBONES, parameter_table


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "params", help="parameter counts of resnet, add_gcn, db_dgcn and ablations"
    )
    parser.add_argument("--backbone", default="resnet101", choices=BACKBONES)
    parser.add_argument("--num-classes", type=checked(int, NUM_CLASSES), default=80)
    parser.add_argument("--embed-dim", type=checked(int, EMBED_DIM), default=1024)
    parser.set_defaults(func=run_params)


def run_params(args: argparse.Namespace) -> int:
    rows = parameter_table(args.backbone, args.num_classes, args.embed_dim)
    reference = next(r["total"] for r in rows if r["name"] == "db_dgcn")
    print(f"parameters: backbone {args.backbone}, {args.num_classes} classes, D = {args.embed_dim}")
    print(f"{'model':<32}{'total':>14}{'backbone':>14}{'head':>14}{'vs db_dgcn':>14}")
    for r in rows:
        diff = f"{r['total'] - reference:+,}" if r["name"].startswith("db_dgcn ") else ""
        print(f"{r['name']:<32}{r['total']:>14,}{r['backbone']:>14,}{r['head']:>14,}{diff:>14}")
    return 0
