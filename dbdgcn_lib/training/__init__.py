"""Training and evaluation: configs and presets, the step, the input pipelines, the trainer,
checkpoints and run folders, DDP helpers, the notebooks' quick runs, the COCO cost estimate."""

from dbdgcn_lib.training.checkpoint import (
    CheckpointError,
    check_compatible,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from dbdgcn_lib.training.config import (
    INPUT_PIPELINES,
    PIPELINES,
    PRESETS,
    TrainConfig,
    get_preset,
    parse_assignments,
)
from dbdgcn_lib.training.estimate import coco_run_hours, format_estimate
from dbdgcn_lib.training.feature_split import FeatureSplit
from dbdgcn_lib.training.inputs import (
    DeviceLoader,
    DevicePrefetcher,
    create_loader,
    data_root,
    loader_for,
    resolve_pipeline,
)
from dbdgcn_lib.training.run_folder import RunFolder, RunFolderError
from dbdgcn_lib.training.steps import (
    CompiledParts,
    LRSchedule,
    Predictions,
    autocast,
    branch_metrics,
    compute_loss,
    evaluate_model,
    forward_scores,
    make_sgd,
    paper_rows,
    predict_loader,
    random_baseline_map,
    resolve_amp,
    train_step,
)
from dbdgcn_lib.training.trainer import NonFiniteLossError, Trainer

__all__ = [
    "INPUT_PIPELINES",
    "PIPELINES",
    "PRESETS",
    "CheckpointError",
    "CompiledParts",
    "DeviceLoader",
    "DevicePrefetcher",
    "FeatureSplit",
    "LRSchedule",
    "NonFiniteLossError",
    "Predictions",
    "RunFolder",
    "RunFolderError",
    "TrainConfig",
    "Trainer",
    "autocast",
    "branch_metrics",
    "check_compatible",
    "coco_run_hours",
    "compute_loss",
    "create_loader",
    "data_root",
    "evaluate_model",
    "format_estimate",
    "forward_scores",
    "get_preset",
    "load_checkpoint",
    "loader_for",
    "make_sgd",
    "model_from_checkpoint",
    "paper_rows",
    "parse_assignments",
    "predict_loader",
    "random_baseline_map",
    "resolve_amp",
    "resolve_pipeline",
    "save_checkpoint",
    "train_step",
]
