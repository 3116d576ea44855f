"""``train``, ``evaluate`` and ``predict`` on the command line::

python -m dbdgcn_lib train --preset smoke --out runs/smoke
python -m dbdgcn_lib train --preset paper --data data/coco --out runs/paper [--resume]
torchrun --nproc_per_node=4 -m dbdgcn_lib train --preset paper --out runs/paper4
python -m dbdgcn_lib evaluate --checkpoint runs/paper/best.pt [--split val2014]
python -m dbdgcn_lib predict photo.jpg --checkpoint runs/paper/best.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dbdgcn_lib.cli import CommandError
from dbdgcn_lib.data import CocoMultiLabel, DatasetError, SyntheticDatasetError, test_transform
from dbdgcn_lib.metrics import METRIC_KEYS
from dbdgcn_lib.models import WeightsUnavailableError
from dbdgcn_lib.training import distributed
from dbdgcn_lib.training.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    model_from_checkpoint,
)
from dbdgcn_lib.training.config import (
    PIPELINES,
    PRESETS,
    TrainConfig,
    apply_overrides,
    get_preset,
    parse_assignments,
    parse_value,
)
from dbdgcn_lib.training.trainer import (
    NonFiniteLossError,
    Trainer,
    autocast,
    config_loader,
    data_root,
    paper_rows,
    predict_loader,
    random_baseline_map,
)
from dbdgcn_lib.utils import get_device

# Errors that mean bad input (a path, a setting, a file): one line for the user, no traceback.
USER_ERRORS = (ValueError, CheckpointError, DatasetError, SyntheticDatasetError, WeightsUnavailableError)
TABLE2_KEYS = METRIC_KEYS[1:]


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
        help="train a model (presets: paper, add_gcn, smoke)",
        description="Train a model. Several GPUs: torchrun --nproc_per_node=N -m dbdgcn_lib train ...",
    )
    p.add_argument("--preset", help=f"one of {', '.join(PRESETS)} (default smoke)")
    p.add_argument("--out", help="run folder for checkpoints and the log (default runs/<preset>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt with its settings")
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
        group.add_argument(flag, dest=f"setting_{f.name}", metavar=f.name.upper(), help=f.metadata["help"])
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
        trainer = Trainer(config, out, resume=args.resume, progress=not args.no_progress)
    except USER_ERRORS as err:
        distributed.cleanup()
        raise CommandError(str(err)) from None
    try:
        if trainer.epoch >= config.epochs:
            raise CommandError(
                f"{out} has already trained {trainer.epoch} of {config.epochs} epochs; "
                f"train longer with --resume --epochs N"
            )
        history = trainer.fit()
    except NonFiniteLossError as err:
        raise CommandError(str(err)) from None
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
        description="Evaluate a checkpoint: mAP, CP ... OF1 and the top-3 row, for s, s_r and s_m.",
    )
    p.add_argument("--checkpoint", required=True, help="a last.pt or best.pt written by train")
    p.add_argument("--split", help="split to evaluate (default: the run's validation split)")
    p.add_argument("--data", help="dataset root (default: the one the run trained on)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument(
        "--pipeline",
        default="auto",
        choices=PIPELINES,
        help="input pipeline (auto: uint8 on CUDA, pil elsewhere; see dbdgcn_lib.training.inputs)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.set_defaults(func=run_evaluate)


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


def run_evaluate(args: argparse.Namespace) -> int:
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
        config = dataclasses.replace(config, pipeline=args.pipeline)
    except (*USER_ERRORS, RuntimeError) as err:
        distributed.cleanup()
        raise CommandError(str(err)) from None
    try:
        loader = config_loader(
            config,
            dataset,
            train=False,
            device=device,
            dist=dist,
            batch_size=args.batch_size,
            workers=args.workers,
        )
        scores, targets = predict_loader(
            model, loader, device, amp=config.amp, channels_last=config.channels_last, progress=dist.is_main
        )
    finally:
        distributed.cleanup()
    if not dist.is_main:
        return 0
    rows = paper_rows(scores, targets)
    print(f"{args.checkpoint}: {ckpt['variant']}, epoch {ckpt['epoch']}, {split} ({len(targets)} images)")
    print(format_rows(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"checkpoint": args.checkpoint, "split": split, **rows}, indent=1)
        )
    return 0


# ---------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------


def _register_predict(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="labels with probabilities for image files",
        description="Predict the labels of images with a trained checkpoint.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--threshold", type=float, default=0.5, help="print labels with probability >= this")
    p.add_argument("--top", type=int, default=5, help="at most this many labels per image")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run_predict)


@torch.inference_mode()
def predict_images(
    model, paths: list[Path], image_size: int, device: torch.device, amp: str = "auto"
) -> np.ndarray:
    """Probabilities (N, C) of the final score s for image files (the evaluation transform)."""
    transform = test_transform(image_size)
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                images.append(transform(image.convert("RGB")))
        except (OSError, UnidentifiedImageError) as err:
            raise CommandError(f"cannot read image {path} ({err})") from None
    batch = torch.stack(images).to(device)
    with autocast(device, amp):
        logits = model(batch)["logits"]
    return logits.float().sigmoid().cpu().numpy()


def run_predict(args: argparse.Namespace) -> int:
    try:
        device = get_device(args.device)
        ckpt, config, model = _load(args.checkpoint, device)
    except (*USER_ERRORS, RuntimeError) as err:
        raise CommandError(str(err)) from None
    paths = [Path(p) for p in args.images]
    probabilities = predict_images(model, paths, config.image_size, device, config.amp)
    names = ckpt["class_names"]
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
        print(f"{path}: {labels}")
    return 0
