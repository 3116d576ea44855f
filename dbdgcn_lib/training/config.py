"""Training configuration: one dataclass, three presets, overrides from code or the command line.

>>> cfg = get_preset("paper", epochs=2)
>>> cfg.lr_head, cfg.lr_backbone, cfg.batch_size, cfg.epochs
(0.5, 0.05, 18, 2)

Every field can be changed on the command line, as ``--set key=value`` or ``--key value``
(``--set switches.alpha=0.7`` for one model switch; ``--set milestones=20,30`` for a tuple).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field

from dbdgcn_lib.models import SWITCHES, VARIANTS

AMP_MODES = ("auto", "bf16", "fp16", "none")
INPUT_PIPELINES = ("pil", "uint8", "nvjpeg")  # see dbdgcn_lib.training.inputs
PIPELINES = ("auto", *INPUT_PIPELINES)
DATASETS = ("coco", "synthetic")


def _f(default, help: str, **kwargs):
    """A dataclass field with its help text (shown by ``train --help``)."""
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass
class TrainConfig:
    """Everything a training run depends on; stored in every checkpoint. Defaults = the ``paper`` preset."""

    # data
    dataset: str = _f("coco", "coco (COCO-format files under --data) or synthetic (the embedded set)")
    data: str | None = _f(None, "dataset root; None: <data root>/coco, or the embedded set (made if missing)")
    train_split: str = _f("train2014", "split to train on")
    val_split: str = _f("val2014", "split evaluated after every epoch")
    image_size: int = _f(448, "input side in pixels (random crop for training, resize for evaluation)")
    resize: int | None = _f(
        None, "training images are resized to this before the random crop (None: default)"
    )
    # model
    variant: str = _f("db_dgcn", f"one of {', '.join(VARIANTS)}")
    backbone: str = _f("resnet101", "resnet18/34/50/101 or tiny")
    pretrained: str | None = _f("IMAGENET1K_V1", "torchvision weights name for the backbone, or none")
    switches: dict = _f({}, f"model switches ({', '.join(SWITCHES)}), e.g. --set switches.alpha=0.7")
    tau: float = _f(0.4, "co-occurrence threshold of the static prior")
    p: float = _f(0.2, "neighbour mass of the static prior")
    # optimisation
    epochs: int = _f(50, "epochs to train (raise it and --resume to train longer)")
    batch_size: int = _f(18, "images per step and per GPU")
    eval_batch_size: int | None = _f(None, "images per evaluation step (None: 2 x batch_size)")
    lr_head: float = _f(0.5, "learning rate of the head (SAM, graph layers, classifiers)")
    lr_backbone: float = _f(0.05, "learning rate of the ResNet trunk")
    momentum: float = _f(0.9, "SGD momentum")
    weight_decay: float = _f(1e-3, "weight decay on every parameter")
    milestones: tuple[int, ...] = _f(
        (30, 40), "epochs after which the learning rates are multiplied by gamma"
    )
    gamma: float = _f(0.1, "learning-rate factor at each milestone")
    grad_clip: float | None = _f(10.0, "clip the gradient norm to this (none: no clipping)")
    branch_loss_weight: float = _f(
        0.0, "also BCE on s_r and on s_m, each times this weight (0: loss on s only)"
    )
    # machinery
    device: str = _f("auto", "auto (CUDA if present), cpu, cuda or cuda:N")
    amp: str = _f("auto", f"mixed precision: {', '.join(AMP_MODES)} (auto: bf16 on CUDA, float32 on the CPU)")
    channels_last: bool = _f(True, "channels_last memory format (faster convolutions on GPUs)")
    compile: bool = _f(False, "torch.compile the model")
    pipeline: str = _f("auto", f"input pipeline: {', '.join(PIPELINES)} (auto: uint8 on CUDA, pil elsewhere)")
    workers: int = _f(8, "DataLoader worker processes per GPU")
    threads: int | None = _f(None, "CPU threads per process for tensor maths (None: torch's default)")
    seed: int = _f(0, "seed of initialisation, shuffling and augmentation")
    log_every: int = _f(50, "steps between progress-bar updates (and checks for a non-finite loss)")

    def __post_init__(self):
        checks = {
            "dataset": (self.dataset in DATASETS, f"choose from {DATASETS}"),
            "variant": (self.variant in VARIANTS, f"choose from {VARIANTS}"),
            "amp": (self.amp in AMP_MODES, f"choose from {AMP_MODES}"),
            "pipeline": (self.pipeline in PIPELINES, f"choose from {PIPELINES}"),
            "switches": (set(self.switches) <= set(SWITCHES), f"known switches: {', '.join(SWITCHES)}"),
            "epochs": (self.epochs >= 1, "must be >= 1"),
            "batch_size": (self.batch_size >= 1, "must be >= 1"),
            "image_size": (self.image_size >= 32, "must be >= 32"),
            "workers": (self.workers >= 0, "must be >= 0"),
            "threads": (self.threads is None or self.threads >= 1, "must be >= 1 or none"),
            "log_every": (self.log_every >= 1, "must be >= 1"),
        }
        for name, (ok, hint) in checks.items():
            if not ok:
                raise ValueError(f"bad {name} {getattr(self, name)!r}: {hint}")
        self.milestones = tuple(int(m) for m in self.milestones)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Inverse of ``to_dict``; unknown keys raise ``ValueError``."""
        _check_fields(values)
        return cls(**values)


PRESETS: dict[str, TrainConfig] = {
    # The paper as written: lr 0.5 head / 0.05 CNN, weight decay 1e-3, batch 18 per GPU, 448 crops + flip.
    "paper": TrainConfig(),
    # ADD-GCN's released code (SPEC section 3).
    "add_gcn": TrainConfig(lr_head=0.05, lr_backbone=0.005, weight_decay=1e-4, batch_size=16),
    # The embedded dataset on a laptop CPU in under a minute (a check that everything runs and learns).
    "smoke": TrainConfig(
        dataset="synthetic",
        train_split="train",
        val_split="val",
        image_size=112,
        backbone="tiny",
        pretrained=None,
        switches={"embed_dim": 128},
        epochs=6,
        batch_size=32,
        lr_head=0.1,
        lr_backbone=0.1,
        weight_decay=1e-4,
        milestones=(5,),
        device="cpu",
        amp="none",
        channels_last=False,
        # One thread computes while one worker process decodes: both cores busy, and no stalls when
        # another program takes a core (torch's 2 threads wait for each other at every small op).
        workers=1,
        threads=1,
        log_every=10,
    ),
}


def _check_fields(values: dict) -> None:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )


def get_preset(name: str, **overrides) -> TrainConfig:
    """A copy of preset ``name`` (``paper``, ``add_gcn``, ``smoke``) with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return apply_overrides(PRESETS[name], overrides)


def apply_overrides(config: TrainConfig, overrides: dict) -> TrainConfig:
    """A copy of ``config`` with ``overrides``; ``switches`` are merged, not replaced."""
    _check_fields(overrides)
    overrides = dict(overrides)
    if "switches" in overrides:
        overrides["switches"] = {**config.switches, **overrides["switches"]}
    return dataclasses.replace(config, **overrides)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_value(name: str, text: str):
    """Convert command-line text to the type of field ``name`` (``none`` -> None where allowed)."""
    hints = typing.get_type_hints(TrainConfig)
    if name not in hints:
        _check_fields({name: None})
    kind = hints[name]
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        if text.lower() in ("none", "null"):
            return None
        kind = next(a for a in args if a is not type(None))
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(f"expected true or false, got {text!r}")
            return text.lower() in _TRUE
        if typing.get_origin(kind) is tuple:
            return tuple(int(v) for v in text.split(",") if v.strip())
        if kind is dict:
            return json.loads(text)
        return kind(text)
    except ValueError as err:
        raise ValueError(f"bad value for {name}: {err}") from None


def parse_assignments(items: list[str]) -> dict:
    """``["epochs=3", "switches.alpha=0.7"]`` -> ``{"epochs": 3, "switches": {"alpha": 0.7}}``."""
    result: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {item!r}")
        if key.startswith("switches."):
            switch = key.split(".", 1)[1]
            if switch not in SWITCHES:
                raise ValueError(f"unknown switch {switch!r}; known: {', '.join(SWITCHES)}")
            try:
                value = json.loads(text)
            except ValueError:
                value = text  # a bare string such as learned
            result.setdefault("switches", {})[switch] = value
        else:
            result[key] = parse_value(key, text)
    return result
