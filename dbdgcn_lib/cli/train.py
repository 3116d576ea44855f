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
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from dbdgcn_lib.checks import BATCH_SIZE, PROBABILITY, WORKERS, integer
from dbdgcn_lib.cli import robustness
from dbdgcn_lib.cli.errors import CommandError, checked
from dbdgcn_lib.data import CocoMultiLabel, CorruptImageError, open_image, out_of_scene_mask, test_transform
from dbdgcn_lib.metrics import METRIC_KEYS, chance_level, out_of_scene_metrics
from dbdgcn_lib.training import (
    PIPELINES,
    PRESETS,
    TrainConfig,
    Trainer,
    check_compatible,
    data_root,
    distributed,
    forward_scores,
    loader_for,
    model_from_checkpoint,
    paper_rows,
    predict_loader,
)
from dbdgcn_lib.training.checkpoint import load_training_checkpoint, train_config_of
from dbdgcn_lib.training.config import (
    apply_overrides,
    get_preset,
    parse_assignments,
    parse_value,
)
from dbdgcn_lib.training.steps import val_map_key
from dbdgcn_lib.training.trainer import load_resume_checkpoint, resume_path
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
    mode.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue the run in --out from its last.pt, or from the checkpoint named (e.g. its best.pt)",
    )
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out (the old one is deleted once the new one has saved a checkpoint)",
    )
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
    """The settings given on the command line; one given twice (``--set`` and its flag, or two
    ``--set``) is refused rather than one silently winning."""
    given: dict[str, str] = {}

    def note(key: str, how: str) -> None:
        if key in given:
            raise CommandError(f"{key} is given twice ({given[key]} and {how}); give it once")
        given[key] = how

    try:
        overrides: dict = {}
        for item in args.set:
            assignment = parse_assignments([item])
            for key, value in assignment.items():
                if key == "switches":
                    for switch in value:
                        note(f"switches.{switch}", f"--set {item}")
                    overrides.setdefault("switches", {}).update(value)
                else:
                    note(key, f"--set {item}")
                    overrides[key] = value
        for f in dataclasses.fields(TrainConfig):
            text = getattr(args, f"setting_{f.name}")
            if text is None:
                continue
            flag = f"--{f.name.replace('_', '-')} {text}"
            value = parse_value(f.name, text)
            if f.name == "switches":
                if not isinstance(value, dict):
                    raise ValueError(f"bad switches {text!r}: a JSON mapping such as '{{\"alpha\": 0.7}}'")
                for switch in value:
                    note(f"switches.{switch}", flag)
                overrides["switches"] = {**overrides.get("switches", {}), **value}
            else:
                note(f.name, flag)
                overrides[f.name] = value
    except ValueError as err:
        raise CommandError(str(err)) from None
    return overrides


def run_train(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    if args.resume is not False and args.preset:
        raise CommandError("--resume continues with the run's own settings; drop --preset")
    preset = args.preset or "smoke"
    if args.out:
        out = Path(args.out)
    elif args.resume not in (True, False):
        out = Path(args.resume).parent  # --resume runs/x/best.pt continues runs/x
    else:
        out = Path("runs") / preset
    start = time.perf_counter()
    try:
        if args.resume is not False:
            path = resume_path(out, args.resume)
            saved = train_config_of(load_resume_checkpoint(path, lambda c: apply_overrides(c, overrides)))
            config = apply_overrides(saved, overrides)
        else:
            config = get_preset(preset, **overrides)
        trainer = Trainer(
            config, out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress
        )
        if trainer.epoch >= config.epochs:
            command = trainer.command(dataclasses.replace(config, epochs=2 * trainer.epoch))
            trainer.close()
            raise CommandError(
                f"{out} has already trained {trainer.epoch} of {config.epochs} epochs; train longer with: "
                f"{command} (or any number of epochs above {trainer.epoch})"
            )
        history = trainer.fit()
    finally:
        distributed.cleanup()
    if trainer.dist.is_main:
        last = history[-1]
        best = max(history, key=lambda row: row["val_mAP"])
        chance = chance_level(trainer.val_set.labels, draws=100, seed=config.seed)
        maps = " | ".join(f"{last[val_map_key(n)]:.2f} ({n})" for n in trainer.model.config.score_names)
        print(f"{config.variant} val mAP {maps}  vs  {chance}")
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
        description="Evaluate a checkpoint: mAP, CP ... OF1 and the top-3 row, for s (and the graph heads' "
        "s_r and s_m); on a split with out-of-scene labels (the embedded rare split) also their recall and "
        "mAP.",
    )
    p.add_argument("--checkpoint", required=True, help="a last.pt or best.pt written by train")
    p.add_argument("--split", help="split to evaluate (default: the run's validation split)")
    p.add_argument("--data", help="dataset root (default: the one the run trained on)")
    p.add_argument("--batch-size", type=checked(int, BATCH_SIZE), default=64)
    p.add_argument("--workers", type=checked(int, WORKERS), default=4)
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


def _load(path: str, device: torch.device):
    ckpt = load_training_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    config = train_config_of(ckpt)
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
    rows = paper_rows(predictions.scores, predictions.targets, dataset.categories)
    images = len(predictions.targets)
    print(f"{args.checkpoint}: {ckpt['variant']}, epoch {ckpt['epoch']}, {split} ({images} images)")
    shown = model.config.score_names  # a one-score model's s_r and s_m are s: printed once
    print(format_rows({name: rows[name] for name in shown}))
    result = {"checkpoint": args.checkpoint, "split": split, **rows}
    mask = out_of_scene_mask(dataset)
    if mask.any():
        scene = {
            name: out_of_scene_metrics(scores, predictions.targets, mask)
            for name, scores in predictions.scores.items()
        }
        print(format_out_of_scene({name: scene[name] for name in shown}))
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
        "checkpoint. Unreadable files are skipped with a warning naming them, and counted.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    p.add_argument("--checkpoint", required=True)
    p.add_argument(
        "--threshold",
        type=checked(float, PROBABILITY),
        default=0.5,
        help="print labels with probability >= this (in [0, 1])",
    )
    p.add_argument(
        "--top", type=checked(int, integer(1)), default=5, help="at most this many labels per image"
    )
    p.add_argument("--batch-size", type=checked(int, BATCH_SIZE), default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="write the probabilities of every class per image to this file")
    p.set_defaults(func=run_predict)


def image_files(items: list[str]) -> list[Path]:
    """The files named, and the images (by suffix) directly in the folders named, in order (a named
    pipe or other special file with an image suffix is listed, so that reading it warns, naming it)."""
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if not p.is_dir() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                warnings.warn(f"no image files in folder {path}", stacklevel=2)
            paths += found
        elif path.exists():
            paths.append(path)
        else:
            raise CommandError(f"{path}: no such file or folder")
    return paths


@torch.inference_mode()
def predict_images(
    model, paths: list[Path], config: TrainConfig, device: torch.device, batch_size: int = 32
) -> tuple[list[Path], np.ndarray]:
    """The readable ``paths`` and the probabilities (N, C) of their final score s, in batches (the
    evaluation transform). A file that cannot be read or decoded is skipped with a warning naming it."""
    transform = test_transform(config.image_size)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    kept: list[Path] = []
    probabilities = []
    for start in range(0, len(paths), batch_size):
        images = []
        for path in paths[start : start + batch_size]:
            try:
                images.append(transform(open_image(path)))
            except CorruptImageError as err:
                warnings.warn(f"skipping: {err}", stacklevel=2)
                continue
            kept.append(path)
        if images:
            x = torch.stack(images).to(device, memory_format=memory_format)
            scores = forward_scores(model, x, amp=config.amp)["logits"]
            probabilities.append(scores.float().sigmoid().cpu().numpy())
    num_classes = model.config.num_classes
    return kept, np.concatenate(probabilities) if probabilities else np.zeros((0, num_classes), np.float32)


def run_predict(args: argparse.Namespace) -> int:
    device = get_device(args.device)
    ckpt, config, model = _load(args.checkpoint, device)
    named = image_files(args.images)
    paths, probabilities = predict_images(model, named, config, device, args.batch_size)
    if not paths:
        raise CommandError("no readable images to predict; pass image files or folders that hold them")
    readable = set(paths)
    skipped = [str(p) for p in named if p not in readable]
    if skipped:
        print(
            f"skipped {len(skipped)} of {len(named)} files: unreadable (the warnings name them)",
            file=sys.stderr,
        )
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
        result = {"checkpoint": args.checkpoint, "predictions": rows, "skipped": skipped}
        write_text_atomic(args.json, json.dumps(result, indent=1))
    return 0
