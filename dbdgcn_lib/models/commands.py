"""``python -m dbdgcn_lib params``: parameter counts of the variants and of each ablation switch."""

from __future__ import annotations

import argparse

import torch

from dbdgcn_lib.models.backbone import BACKBONES
from dbdgcn_lib.models.model import build_model

ROWS = (
    ("resnet", {}),
    ("add_gcn", {}),
    ("db_dgcn", {}),
    ("db_dgcn", {"multiscale": False}),
    ("db_dgcn", {"aux_branch": False}),
    ("db_dgcn", {"static_graph": "learned"}),
)


def parameter_table(backbone: str = "resnet101", num_classes: int = 80, embed_dim: int = 1024) -> list[dict]:
    """One dict per row of ``ROWS``: name, total, backbone, head parameters.

    Models are built on the ``meta`` device: shapes without memory or initialisation, so the
    ResNet-101 rows take milliseconds.
    """
    rows = []
    for variant, switches in ROWS:
        extra = {} if variant == "resnet" else {"embed_dim": embed_dim}
        with torch.device("meta"):
            model = build_model(variant, num_classes, backbone, **extra, **switches)
        name = " ".join([variant, *(f"{k}={v}" for k, v in switches.items())])
        rows.append(
            {
                "name": name,
                "total": model.parameter_count(),
                "backbone": model.parameter_count("backbone"),
                "head": model.parameter_count("head"),
            }
        )
    return rows


def run_params(args: argparse.Namespace) -> int:
    rows = parameter_table(args.backbone, args.num_classes, args.embed_dim)
    reference = next(r["total"] for r in rows if r["name"] == "db_dgcn")
    print(f"parameters: backbone {args.backbone}, {args.num_classes} classes, D = {args.embed_dim}")
    print(f"{'model':<32}{'total':>14}{'backbone':>14}{'head':>14}{'vs db_dgcn':>14}")
    for r in rows:
        diff = f"{r['total'] - reference:+,}" if r["name"].startswith("db_dgcn ") else ""
        print(f"{r['name']:<32}{r['total']:>14,}{r['backbone']:>14,}{r['head']:>14,}{diff:>14}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "params", help="parameter counts of resnet, add_gcn, db_dgcn and ablations"
    )
    parser.add_argument("--backbone", default="resnet101", choices=BACKBONES)
    parser.add_argument("--num-classes", type=int, default=80)
    parser.add_argument("--embed-dim", type=int, default=1024)
    parser.set_defaults(func=run_params)
