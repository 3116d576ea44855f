"""``train``, ``evaluate`` and ``predict`` on the command line::

python -m dbdgcn_lib train --preset smoke --out runs/smoke
python -m dbdgcn_lib train --preset paper --data data/coco --out runs/paper [--resume | --overwrite]
torchrun --nproc_per_node=4 -m dbdgcn_lib train --preset paper --out runs/paper4
python -m dbdgcn_lib evaluate --checkpoint runs/paper/best.pt [--split val2014] [--robustness]
python -m dbdgcn_lib predict photo.jpg photos/ --checkpoint runs/paper/best.pt [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from dbdgcn_lib.cli import robustness
from dbdgcn_lib.cli.errors import CommandError
from dbdgcn_lib.data import CocoMultiLabel, ImageFiles, out_of_scene_mask
from dbdgcn_lib.metrics import METRIC_KEYS, out_of_scene_metrics
from dbdgcn_lib.training import (
    PIPELINES,
    PRESETS,
    TrainConfig,
    Trainer,
    check_compatible,
    create_loader,
    data_root,
    distributed,
    load_checkpoint,
    loader_for,
    model_from_checkpoint,
    paper_rows,
    predict_loader,
    random_baseline_map,
)
from dbdgcn_lib.training.config import apply_overrides, get_preset, parse_assignments, parse_value
from dbdgcn_lib.utils import get_device, write_text_atomic

TABLE2_KEYS = METRIC_KEYS[1:]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def register(subparsers) -> None:
    _register_train(subparsers)
    _register_evaluate(subparsers)
    _register_predict(subparsers)


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------


def _register_train(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help=f"train a model (presets: {', '.join(PRESETS)})",
        description="Train a model. Several GPUs: torchrun --nproc_per_node=N -m dbdgcn_lib train ...",
    )
    p.add_argument("--preset", help=f"one of {', '.join(PRESETS)} (default smoke)")
    p.add_argument("--out", help="run folder for checkpoints and the log (default runs/<preset>)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in --out (<out>/last.pt)")
    mode.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. in CI logs)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set lr_head=0.1 --set milestones=20,30 --set switches.alpha=0.7",
    )
    group = p.add_argument_group("settings (each overrides the preset; 'none' clears an optional one)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):  # a bare --compile means true; --compile false also works
            group.add_argument(flag, dest=f"setting_{f.name}", nargs="?", const="true", metavar="BOOL",
                               help=f.metadata["help"])  # fmt: skip
        else:
            group.add_argument(
                flag, dest=f"setting_{f.name}", metavar=f.name.upper(), help=f.metadata["help"]
            )
    p.set_defaults(func=run_train)


def _overrides(args: argparse.Namespace) -> dict:
    try:
        overrides = parse_assignments(args.set)
        for f in dataclasses.fields(TrainConfig):
            text = getattr(args, f"setting_{f.name}")
            if text is not None:
                overrides[f.name] = parse_value(f.name, text)
    except ValueError as err:
        raise CommandError(str(err)) from None
    return overrides


def run_train(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    if args.resume and args.preset:
        raise CommandError("--resume continues with the run's own settings; drop --preset")
    preset = args.preset or "smoke"
    out = Path(args.out) if args.out else Path("runs") / preset
    start = time.perf_counter()
    try:
        if args.resume:
            saved = load_checkpoint(out / "last.pt")
            config = apply_overrides(TrainConfig.from_dict(saved["train_config"]), overrides)
        else:
            config = get_preset(preset, **overrides)
        trainer = Trainer(
            config, out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress
        )
        if trainer.epoch >= config.epochs:
            trainer.close()
            raise CommandError(
                f"{out} has already trained {trainer.epoch} of {config.epochs} epochs; "
                f"train longer with --resume --epochs N"
            )
        history = trainer.fit()
    finally:
        distributed.cleanup()
    if trainer.dist.is_main:
        last = history[-1]
        best = max(history, key=lambda row: row["val_mAP"])
        baseline = random_baseline_map(trainer.val_set.labels, seed=config.seed)
        print(
            f"{config.variant} val mAP {last['val_mAP']:.2f} (s) | {last['val_mAP_r']:.2f} (s_r) | "
            f"{last['val_mAP_m']:.2f} (s_m)  vs  random scores {baseline:.2f}"
        )
        print(
            f"best epoch {best['epoch']}: mAP {best['val_mAP']:.2f}; {out}/last.pt, best.pt, log.jsonl; "
            f"{time.perf_counter() - start:.1f} s"
        )
    return 0


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------


def _register_evaluate(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="Table 1 and Table 2 (top-3) rows of a checkpoint, per branch",
        description="Evaluate a checkpoint: mAP, CP ... OF1 and the top-3 row, for s, s_r and s_m; on a "
        "split with out-of-scene labels (the embedded rare split) also their recall and mAP.",
    )
    p.add_argument("--checkpoint", required=True, help="a last.pt or best.pt written by train")
    p.add_argument("--split", help="split to evaluate (default: the run's validation split)")
    p.add_argument("--data", help="dataset root (default: the one the run trained on)")
    p.add_argument("--batch-size", type=_positive, default=64)
    p.add_argument("--workers", type=_non_negative, default=4)
    p.add_argument(
        "--pipeline",
        default="auto",
        choices=["auto", *PIPELINES],
        help="input pipeline (auto: uint8 on CUDA, pil elsewhere; see dbdgcn_lib.training.inputs)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the rows to this JSON file")
    robustness.add_argument(p)
    p.set_defaults(func=run_evaluate)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _load(path: str, device: torch.device):
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    config = TrainConfig.from_dict(ckpt["train_config"])
    memory_format = torch.channels_last if config.channels_last else torch.preserve_format
    return ckpt, config, model.to(device, memory_format=memory_format).eval()


def format_rows(rows: dict[str, dict]) -> str:
    """The two tables of the paper for each branch, as aligned text."""
    lines = ["Table 1  " + "".join(f"{k:>7}" for k in METRIC_KEYS)]
    lines += [
        f"{name:<9}" + "".join(f"{r['table1'][k]:7.2f}" for k in METRIC_KEYS) for name, r in rows.items()
    ]
    lines += ["Table 2 (top-3)" + " " * 1 + "".join(f"{k:>7}" for k in TABLE2_KEYS)]
    lines += [
        f"{name:<16}" + "".join(f"{r['table2'][k]:7.2f}" for k in TABLE2_KEYS) for name, r in rows.items()
    ]
    return "\n".join(lines)


def format_out_of_scene(rows: dict[str, dict]) -> str:
    """The out-of-scene block of ``evaluate``: recall at 0.5 and mAP, out of scene vs in scene."""
    first = next(iter(rows.values()))
    lines = [
        f"out-of-scene labels ({first['out_of_scene_labels']} out of scene, {first['in_scene_labels']} in "
        f"scene, on {first['images']} images)",
        f"{'':<9}{'recall out':>12}{'recall in':>11}{'mAP out':>9}{'mAP in':>8}",
    ]
    for name, r in rows.items():
        lines.append(
            f"{name:<9}{r['out_of_scene_recall']:12.2f}{r['in_scene_recall']:11.2f}"
            f"{r['out_of_scene_mAP']:9.2f}{r['in_scene_mAP']:8.2f}"
        )
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    if args.robustness:
        return robustness.run_robustness(args, _load)
    try:
        device = get_device(args.device)
        dist = distributed.init_distributed(device.type)
        if dist.enabled and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
        ckpt, config, model = _load(args.checkpoint, device)
        split = args.split or config.val_split
        root = Path(args.data) if args.data else data_root(config)
        dataset = CocoMultiLabel(root, split)
        check_compatible(ckpt, num_classes=dataset.num_classes, class_names=dataset.categories)
        config = dataclasses.replace(config, pipeline=args.pipeline, skip_corrupt=False)
        loader = loader_for(
            config,
            dataset,
            train=False,
            device=device,
            dist=dist,
            batch_size=args.batch_size,
            workers=args.workers,
        )
        predictions = predict_loader(
            model, loader, device, amp=config.amp, channels_last=config.channels_last, progress=dist.is_main
        )
    finally:
        distributed.cleanup()
    if not dist.is_main:
        return 0
    rows = paper_rows(predictions.scores, predictions.targets)
    images = len(predictions.targets)
    print(f"{args.checkpoint}: {ckpt['variant']}, epoch {ckpt['epoch']}, {split} ({images} images)")
    print(format_rows(rows))
    result = {"checkpoint": args.checkpoint, "split": split, **rows}
    mask = out_of_scene_mask(dataset)
    if mask.any():
        scene = {
            name: out_of_scene_metrics(scores, predictions.targets, mask)
            for name, scores in predictions.scores.items()
        }
        print(format_out_of_scene(scene))
        result["out_of_scene"] = scene
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------


def _register_predict(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="labels with probabilities for image files and folders",
        description="Predict the labels of images (files, or every image in a folder) with a trained "
        "checkpoint. Unreadable files are skipped with a warning naming them.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--threshold", type=float, default=0.5, help="print labels with probability >= this")
    p.add_argument("--top", type=_positive, default=5, help="at most this many labels per image")
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="write the probabilities of every class per image to this file")
    p.set_defaults(func=run_predict)


def image_files(items: list[str]) -> list[Path]:
    """The files named, and the images (by suffix) directly in the folders named, in order."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                warnings.warn(f"no image files in folder {path}", stacklevel=2)
            paths += found
        elif path.exists():
            paths.append(path)
        else:
            raise CommandError(f"{path}: no such file or folder")
    return paths


def readable_images(paths: list[Path]) -> list[Path]:
    """The paths PIL can open as images; each other one is skipped with a warning naming it."""
    from PIL import Image, UnidentifiedImageError

    good = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
            good.append(path)
        except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as err:
            warnings.warn(f"skipping {path}: not a readable image ({err})", stacklevel=2)
    return good


def predict_images(model, paths: list[Path], config: TrainConfig, device: torch.device, batch_size: int = 32):
    """Probabilities (N, C) of the final score s for image files, in batches (the evaluation transform)."""
    files = ImageFiles(list(paths), np.zeros((len(paths), model.config.num_classes), dtype=np.float32))
    loader = create_loader(
        files,
        pipeline="pil",
        train=False,
        batch_size=batch_size,
        workers=0,
        device=device,
        image_size=config.image_size,
        channels_last=config.channels_last,
    )
    return predict_loader(model, loader, device, amp=config.amp, channels_last=config.channels_last).scores[
        "s"
    ]


def run_predict(args: argparse.Namespace) -> int:
    device = get_device(args.device)
    ckpt, config, model = _load(args.checkpoint, device)
    paths = readable_images(image_files(args.images))
    if not paths:
        raise CommandError("no readable images to predict; pass image files or folders that hold them")
    probabilities = predict_images(model, paths, config, device, args.batch_size)
    names = ckpt["class_names"]
    width = max(len(str(p)) for p in paths)
    for path, probs in zip(paths, probabilities):
        order = np.argsort(-probs)
        chosen = [i for i in order[: args.top] if probs[i] >= args.threshold]
        if chosen:
            labels = ", ".join(f"{names[i]} {probs[i]:.2f}" for i in chosen)
        else:
            labels = (
                f"(none >= {args.threshold}; highest: "
                + ", ".join(f"{names[i]} {probs[i]:.2f}" for i in order[:3])
                + ")"
            )
        print(f"{str(path):<{width}}  {labels}")
    if args.json:
        rows = [
            {"image": str(path), "probabilities": {n: round(float(v), 6) for n, v in zip(names, probs)}}
            for path, probs in zip(paths, probabilities)
        ]
        write_text_atomic(
            args.json, json.dumps({"checkpoint": args.checkpoint, "predictions": rows}, indent=1)
        )
    return 0
