"""Training and evaluation: configs and presets, the trainer, checkpoints, DDP helpers, commands."""

from dbdgcn_lib.training.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from dbdgcn_lib.training.config import PRESETS, TrainConfig, get_preset, parse_assignments
from dbdgcn_lib.training.inputs import PIPELINES, DeviceLoader, build_loader, make_loader
from dbdgcn_lib.training.trainer import (
    NonFiniteLossError,
    Trainer,
    compute_loss,
    evaluate_model,
    predict_loader,
    random_baseline_map,
    train_step,
)

__all__ = [
    "PIPELINES",
    "PRESETS",
    "CheckpointError",
    "DeviceLoader",
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "build_loader",
    "check_compatible",
    "compute_loss",
    "evaluate_model",
    "get_preset",
    "load_checkpoint",
    "make_loader",
    "model_from_checkpoint",
    "parse_assignments",
    "predict_loader",
    "random_baseline_map",
    "save_checkpoint",
    "train_step",
]
