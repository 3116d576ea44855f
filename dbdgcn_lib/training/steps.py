"""The pieces every loop of the library is built from: one training step, one prediction pass.

The ``Trainer``, the notebooks' quick runs (``quick.py``) and the bench loop (``benchmarks/bench_loop.py``)
all train with ``train_step`` and predict with ``forward_scores``; none of them writes its own.

- ``compute_loss``: BCE with logits on s, averaged over images and classes, in float32.
- ``train_step``: forward under autocast, loss, backward, gradient clipping, optimizer step; the
  loss stays on the device (no host synchronisation).
- ``forward_scores``: the forward pass for evaluation: the backbone under autocast, the graph head
  in float32, so that bf16 rounding does not create ties in the ranking that AP measures.
- ``predict_loader`` / ``evaluate_model``: probabilities of s, s_r and s_m (and the mean loss) over
  a loader; metrics in percent.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from dbdgcn_lib.metrics import chance_level, multilabel_metrics, paper_tables
from dbdgcn_lib.progress import progress_bar
from dbdgcn_lib.training import distributed
from dbdgcn_lib.training.inputs import DeviceLoader, to_device
from dbdgcn_lib.utils import synced_time

# Model outputs -> the names metrics and logs use for them.
BRANCHES = {"logits": "s", "s_r": "s_r", "s_m": "s_m"}


def val_map_key(score: str) -> str:
    """The training log's key for a score's validation mAP: ``s`` -> ``val_mAP``, ``s_r`` -> ``val_mAP_r``."""
    return "val_mAP" if score == "s" else f"val_mAP{score[1:]}"


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """``"auto"``: bf16 on CUDA, None (float32) elsewhere; ``"bf16"``, ``"fp16"``, ``"none"`` as named."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]


def autocast(device: torch.device, amp: str):
    """The autocast context for ``amp`` on ``device`` (a no-op for float32)."""
    dtype = resolve_amp(amp, device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


@contextlib.contextmanager
def cuda_backend(device: torch.device, *, autotune: bool = True, tf32: bool = True):
    """cuDNN autotuning (one input shape per run: tune once) and TF32 for what stays float32, on CUDA;
    the process-wide flags are restored on exit. A no-op on other devices."""
    if device.type != "cuda":
        yield
        return
    old_bench, old_precision = torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()
    torch.backends.cudnn.benchmark = autotune
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old_bench
        torch.set_float32_matmul_precision(old_precision)


def compute_loss(
    outputs: dict, targets: torch.Tensor, branch_loss_weight: float = 0.0, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """BCE with logits on s, averaged over images and classes (= MultiLabelSoftMarginLoss), in float32.

    With ``branch_loss_weight`` w > 0 also ``w * (BCE(s_r) + BCE(s_m))``: each branch must then
    predict on its own, not only their average. ``weights`` (B, C): each entry's BCE is multiplied by
    it before the mean (the feature split weights its exclusive images).
    """
    loss = F.binary_cross_entropy_with_logits(outputs["logits"].float(), targets, weight=weights)
    if branch_loss_weight:
        for key in ("s_r", "s_m"):
            loss = loss + branch_loss_weight * F.binary_cross_entropy_with_logits(
                outputs[key].float(), targets, weight=weights
            )
    return loss


def train_step(
    model: Callable,
    batch,
    optimizer: torch.optim.Optimizer,
    *,
    amp: str = "auto",
    scaler: torch.amp.GradScaler | None = None,
    grad_clip: float | None = 10.0,
    branch_loss_weight: float = 0.0,
    feature_split=None,
) -> torch.Tensor:
    """One optimisation step on ``batch = (images, targets)`` (already on the device).

    Returns the loss as a detached device tensor (no synchronisation). ``grad_clip``: the norm of
    all gradients together is clipped to it (None: no clipping). ``scaler`` is only needed for fp16;
    bf16 and float32 need none. ``feature_split``: a ``training.FeatureSplit`` (Singh et al.'s
    training against contextual bias), or None.
    """
    images, targets = batch
    with autocast(images.device, amp):
        if feature_split is None:
            outputs = model(images)
        else:
            outputs = feature_split(model, images, targets)
    if feature_split is None:
        loss = compute_loss(outputs, targets, branch_loss_weight)
    else:
        loss = compute_loss(outputs, targets, branch_loss_weight, weights=feature_split.loss_weights(targets))
    optimizer.zero_grad(set_to_none=True)
    scaling = scaler is not None and scaler.is_enabled()
    (scaler.scale(loss) if scaling else loss).backward()
    if grad_clip:
        if scaling:
            scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    if scaling:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss.detach()


def make_sgd(groups: list[dict], *, lr: float, momentum: float, fused: bool) -> tuple[torch.optim.SGD, bool]:
    """SGD with momentum over ``groups``; with ``fused`` the fused CUDA kernel (one launch for all
    parameters) where this torch and device have it. Returns ``(optimizer, fused_used)``. The state
    dict is the same either way, so checkpoints move between both."""
    if fused:
        try:  # on copies: a failed constructor leaves its settings in the group dicts
            fused_groups = [dict(g) for g in groups]
            return torch.optim.SGD(fused_groups, lr=lr, momentum=momentum, fused=True), True
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.SGD(groups, lr=lr, momentum=momentum), False


def lr_factor(
    step: int, *, steps_per_epoch: int, milestones, gamma: float, warmup_epochs: float = 0.0
) -> float:
    """The learning-rate multiplier at optimisation step ``step`` (0-based): a linear warm-up from
    ``1 / warmup_steps`` to 1 over the first ``warmup_epochs`` epochs, times ``gamma`` for each
    milestone epoch passed (the MultiStepLR rule: rates drop after epoch ``m``)."""
    epoch = step // max(1, steps_per_epoch)
    factor = gamma ** sum(epoch >= m for m in milestones)
    warmup_steps = math.ceil(warmup_epochs * steps_per_epoch)
    if step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return factor


class LRSchedule:
    """Sets every parameter group's learning rate before each optimisation step: its base rate times
    ``lr_factor(step)``. Its whole state is the step number, so a resumed run only needs that (and may
    change the base rates: ``base_lrs``)."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        base_lrs: list[float],
        *,
        steps_per_epoch: int,
        milestones,
        gamma: float,
        warmup_epochs: float = 0.0,
    ):
        if len(base_lrs) != len(optimizer.param_groups):
            raise ValueError(f"{len(base_lrs)} base rates for {len(optimizer.param_groups)} parameter groups")
        self.optimizer, self.base_lrs = optimizer, list(base_lrs)
        self.steps_per_epoch, self.milestones = steps_per_epoch, tuple(milestones)
        self.gamma, self.warmup_epochs = gamma, warmup_epochs
        self.set_step(0)

    def factor(self, step: int) -> float:
        return lr_factor(
            step,
            steps_per_epoch=self.steps_per_epoch,
            milestones=self.milestones,
            gamma=self.gamma,
            warmup_epochs=self.warmup_epochs,
        )

    def set_step(self, step: int) -> None:
        """The rates of optimisation step ``step`` (0-based)."""
        factor = self.factor(step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor


class CompiledParts:
    """``torch.compile`` of a model's backbone and head as two graphs, with the model's interface
    (``forward_features``, ``forward_head``, ``__call__``). Every variant shares the ResNet graph, so
    the compiler's caches serve the backbone once and only the small head compiles again."""

    def __init__(self, model: torch.nn.Module, **compile_options):
        self.model = model
        self.forward_features = torch.compile(model.backbone, dynamic=False, **compile_options)
        self.forward_head = torch.compile(model.head, dynamic=False, **compile_options)

    def __call__(self, x: torch.Tensor, return_intermediates: bool = False) -> dict:
        x3, x4 = self.forward_features(x)
        return self.forward_head(x3, x4, return_intermediates)

    def train(self, mode: bool = True):
        self.model.train(mode)
        return self

    def eval(self):
        return self.train(False)

    @property
    def training(self) -> bool:
        return self.model.training


def forward_scores(
    model, images: torch.Tensor, *, amp: str = "auto", float32_head: bool = True, intermediates: bool = False
) -> dict:
    """The model's outputs for evaluation: the backbone under ``amp`` autocast, then (``float32_head``)
    the head in float32 outside autocast, so s, s_r and s_m are float32 scores (the head costs a
    small share of the FLOPs; bf16 scores would tie many images in the ranking). ``model`` is a
    ``MultiLabelGCN`` or its ``CompiledParts``."""
    with autocast(images.device, amp):
        x3, x4 = model.forward_features(images)
    if float32_head:
        with torch.autocast(images.device.type, enabled=False):
            return model.forward_head(x3.float(), x4.float(), intermediates)
    with autocast(images.device, amp):
        return model.forward_head(x3, x4, intermediates)


@dataclass
class Predictions:
    """What ``predict_loader`` returns: ``scores`` {"s", "s_r", "s_m"} -> (N, C) probabilities,
    ``targets`` (N, C), both numpy in dataset order, ``loss``: the mean BCE of s (the training loss
    without branch terms) over every image and class, ``img_per_s``: this process's steady rate
    (the batches after the first, which also waits for the loader to fill; None for one batch), and
    ``left_out``: unreadable images left out of all of these (``skip_corrupt``; their rows are gone)."""

    scores: dict[str, np.ndarray]
    targets: np.ndarray
    loss: float
    img_per_s: float | None = None
    left_out: int = 0


@torch.inference_mode()
def predict_loader(
    model,
    loader: DataLoader | DeviceLoader,
    device: torch.device,
    *,
    amp: str = "auto",
    channels_last: bool = False,
    progress: bool = False,
    float32_head: bool = True,
    limit_batches: int | None = None,
) -> Predictions:
    """Probabilities (sigmoid) of s, s_r and s_m for every image of a non-shuffling ``loader``
    (a DataLoader of host batches, or a ``DeviceLoader``), and the mean loss; see ``Predictions``.
    ``limit_batches``: only the first batches (a timing run).

    Under DDP (the loader uses a ``DistributedSampler``) every rank gets all ranks' rows.
    """
    was_training = model.training
    model.eval()
    rows: dict[str, list] = {name: [] for name in BRANCHES.values()}
    rows["targets"], rows["loss"] = [], []
    total = len(loader) if limit_batches is None else min(limit_batches, len(loader))
    started, steady_images = None, 0
    for step, batch in enumerate(
        progress_bar(loader, total=total, desc="evaluate", leave=False, enabled=progress)
    ):
        if step == total:
            break
        if step == 1:
            started = synced_time(device)
        images, targets = to_device(batch, device, channels_last)
        steady_images += images.shape[0] if step >= 1 else 0
        outputs = forward_scores(model, images, amp=amp, float32_head=float32_head)
        for key, name in BRANCHES.items():
            rows[name].append(outputs[key].float().sigmoid())
        targets = targets.float()
        rows["targets"].append(targets)
        loss = F.binary_cross_entropy_with_logits(outputs["logits"].float(), targets, reduction="none")
        rows["loss"].append(loss.mean(1, keepdim=True))
    rate = steady_images / (synced_time(device) - started) if started is not None else None
    model.train(was_training)
    tensors = {name: torch.cat(parts) for name, parts in rows.items()}
    n = tensors["targets"].shape[0]
    sampler = loader.sampler
    indices = torch.tensor(list(sampler)) if isinstance(sampler, DistributedSampler) else torch.arange(n)
    tensors = distributed.gather_predictions(tensors, indices[:n])
    readable = ~tensors["targets"].isnan().any(1)  # a NaN target marks an image left out (SkipCorrupt)
    left_out = int((~readable).sum())
    if left_out:
        tensors = {name: t[readable] for name, t in tensors.items()}
    targets = tensors.pop("targets").cpu().numpy()
    loss = float(tensors.pop("loss").double().mean()) if len(targets) else float("nan")
    scores = {name: t.cpu().numpy() for name, t in tensors.items()}
    return Predictions(scores, targets, loss, rate, left_out)


def branch_metrics(
    predictions: Predictions, top_k: int | None = None, class_names: list[str] | None = None
) -> dict[str, dict]:
    """``{"s": metrics, "s_r": metrics, "s_m": metrics}``, each ``multilabel_metrics`` (percent); a class
    without positives is warned about once, by name when ``class_names`` are given."""
    with warnings.catch_warnings():
        rows = {}
        for name, s in predictions.scores.items():
            rows[name] = multilabel_metrics(s, predictions.targets, top_k=top_k, class_names=class_names)
            warnings.simplefilter("ignore", RuntimeWarning)  # the same classes for every branch
    return rows


def evaluate_model(
    model,
    loader: DataLoader | DeviceLoader,
    device: torch.device,
    *,
    amp: str = "auto",
    channels_last: bool = False,
    top_k: int | None = None,
    progress: bool = False,
) -> dict[str, dict]:
    """``branch_metrics`` of ``predict_loader``: metrics of s, s_r and s_m (percent)."""
    p = predict_loader(model, loader, device, amp=amp, channels_last=channels_last, progress=progress)
    return branch_metrics(p, top_k)


def paper_rows(
    scores: dict[str, np.ndarray], targets: np.ndarray, class_names: list[str] | None = None
) -> dict[str, dict]:
    """Per branch, Table 1 and Table 2 (top-3) as ``paper_tables`` gives them (classes without
    positives warned about once, by name when ``class_names`` are given)."""
    with warnings.catch_warnings():
        rows = {}
        for name, s in scores.items():
            rows[name] = paper_tables(s, targets, class_names=class_names)
            warnings.simplefilter("ignore", RuntimeWarning)
    return rows


def random_baseline_map(targets: np.ndarray, seed: int = 0, draws: int = 100) -> float:
    """mAP (percent) of uniformly random scores, the mean over ``draws`` draws: what a model that learned
    nothing gets on average. ``metrics.chance_level`` gives the whole distribution (its spread, its range)."""
    return chance_level(targets, draws=draws, seed=seed).mean
