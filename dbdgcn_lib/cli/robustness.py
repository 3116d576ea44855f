"""``evaluate --robustness``: how a checkpoint copes without its usual context, per score (s, s_r, s_m)::

python -m dbdgcn_lib evaluate --checkpoint runs/smoke/best.pt --robustness   # embedded: val, plain, rare
python -m dbdgcn_lib evaluate --checkpoint runs/paper/best.pt --robustness   # COCO: 20 biased pairs

On the embedded data (a dataset with ``generator.json``): val against plain (mAP, recall at 0.5 beside
the share of absent labels predicted, the look-alikes against their context-free level) and the rare
split's out-of-scene labels. On COCO: AP on the exclusive and co-occur images of the biased pairs of
``training.robustness.coco_context_pairs``, on the run's validation split (or ``--split``). One process
(no torchrun); the work is ``dbdgcn_lib.training.robustness``'s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from dbdgcn_lib.cli.errors import CommandError
from dbdgcn_lib.data import CocoMultiLabel, out_of_scene_mask
from dbdgcn_lib.training import check_compatible, data_root, loader_for, predict_loader
from dbdgcn_lib.training.robustness import (
    ROBUSTNESS_SPLITS,
    coco_context_pairs,
    coco_robustness,
    embedded_robustness,
)
from dbdgcn_lib.utils import get_device, write_text_atomic

BRANCHES = ("s", "s_r", "s_m")


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--robustness",
        action="store_true",
        help="robustness without context: val vs plain and out-of-scene labels (embedded data), or "
        "exclusive vs co-occur AP on biased pairs (COCO)",
    )


def run_robustness(args: argparse.Namespace, load) -> int:
    """The ``evaluate --robustness`` command; ``load(path, device) -> (checkpoint, TrainConfig, model)``."""
    device = get_device(args.device)
    ckpt, config, model = load(args.checkpoint, device)
    root = Path(args.data) if args.data else data_root(config)
    config = dataclasses.replace(config, pipeline=args.pipeline, skip_corrupt=False)

    def predict(split: str):
        dataset = CocoMultiLabel(root, split)
        check_compatible(ckpt, num_classes=dataset.num_classes, class_names=dataset.categories)
        loader = loader_for(
            config, dataset, train=False, device=device, batch_size=args.batch_size, workers=args.workers
        )
        predictions = predict_loader(
            model, loader, device, amp=config.amp, channels_last=config.channels_last
        )
        return dataset, predictions

    print(f"{args.checkpoint}: {ckpt['variant']}, epoch {ckpt['epoch']}, robustness on {root}")
    if (root / "generator.json").is_file():
        if args.split:
            raise CommandError("--robustness on the embedded data measures val, plain and rare; drop --split")
        outputs = {split: predict(split) for split in ROBUSTNESS_SPLITS}
        names = list(outputs["val"][0].categories)
        mask = out_of_scene_mask(outputs["rare"][0])
        targets = {split: predictions.targets for split, (_, predictions) in outputs.items()}
        report = {
            branch: embedded_robustness(
                {split: predictions.scores[branch] for split, (_, predictions) in outputs.items()},
                targets,
                mask,
                names,
            )
            for branch in BRANCHES
        }
        print(format_embedded(report))
    else:
        split = args.split or config.val_split
        dataset, predictions = predict(split)
        pairs = coco_context_pairs(list(dataset.categories))
        if not pairs:
            raise CommandError(
                f"{root}: none of COCO's biased (object, context) pairs has both classes among this "
                "dataset's categories; --robustness on COCO needs COCO's class names"
            )
        report = {
            branch: coco_robustness(predictions.scores[branch], predictions.targets, pairs)
            for branch in BRANCHES
        }
        print(
            f"{split}: {len(predictions.targets)} images, {len(pairs)} (object, context) pairs chosen from "
            "COCO 2014 train's label statistics (P(c|b) there); exclusive: the object without its context"
        )
        print(format_coco(report))
        report = {"split": split, **report}
    if args.json:
        result = {"checkpoint": args.checkpoint, "robustness": report}
        write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")
    return 0


def format_embedded(report: dict) -> str:
    """val / plain / rare in one table per measure, a row per score."""
    first = report["s"]
    rare = first["rare"]
    columns = ("val mAP", "plain mAP", "val recall", "plain recall", "val absent", "plain absent")
    lines = [
        "val and plain: recall at 0.5, and the share of the absent labels predicted at 0.5 (absent)",
        f"{'':<5}" + "".join(f"{c:>14}" for c in columns),
    ]
    for branch, r in report.items():
        values = [
            r[split][key] for key in ("mAP", "recall", "absent_predicted") for split in ("val", "plain")
        ]
        lines.append(f"{branch:<5}" + "".join(f"{v:14.2f}" for v in values))
    for split in ("val", "plain"):
        names = list(first[split]["lookalikes"])
        reference = ", ".join(f"{n} {first[split]['lookalikes'][n]['context_free_AP']:.2f}" for n in names)
        lines.append(f"look-alikes on {split} (context-free AP: {reference}; AUC 50 = no context used)")
        for branch, r in report.items():
            aps = "  ".join(f"AP {n} {r[split]['lookalikes'][n]['AP']:6.2f}" for n in names)
            aucs = "  ".join(f"AUC {pair} {v['auc']:6.2f}" for pair, v in r[split]["lookalike_auc"].items())
            lines.append(f"{branch:<5}{aps}  {aucs}")
    lines.append(
        f"rare: {rare['out_of_scene_labels']} out-of-scene and {rare['in_scene_labels']} in-scene labels on "
        f"{rare['images']} images"
    )
    lines.append(
        f"{'':<5}{'recall out':>12}{'recall in':>11}{'absent predicted':>18}{'mAP out':>9}{'mAP in':>8}"
    )
    for branch, r in report.items():
        m = r["rare"]
        lines.append(
            f"{branch:<5}{m['out_of_scene_recall']:12.2f}{m['in_scene_recall']:11.2f}"
            f"{m['absent_predicted']:18.2f}{m['out_of_scene_mAP']:9.2f}{m['in_scene_mAP']:8.2f}"
        )
    return "\n".join(lines)


def format_coco(report: dict) -> str:
    """One row per pair (exclusive / co-occur AP of each score and the image counts), then the means."""
    first = report["s"]
    header = f"{'object / context':<28}{'P(c|b)':>7}{'excl.':>7}{'co-oc.':>7}"
    header += "".join(f"{f'{b} excl':>10}{f'{b} co-oc':>10}" for b in report)
    lines = [header]
    for k, row in enumerate(first["pairs"]):
        line = f"{row['object'] + ' / ' + row['context']:<28}{row['probability']:7.2f}"
        line += f"{row['exclusive_images']:7d}{row['cooccur_images']:7d}"
        for r in report.values():
            line += f"{r['pairs'][k]['exclusive_AP']:10.2f}{r['pairs'][k]['cooccur_AP']:10.2f}"
        lines.append(line)
    line = f"{'mean over the pairs':<49}"
    for r in report.values():
        line += f"{r['exclusive_mAP']:10.2f}{r['cooccur_mAP']:10.2f}"
    lines.append(line)
    return "\n".join(lines)
