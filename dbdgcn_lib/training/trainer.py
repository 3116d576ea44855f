"""The training loop, in plain PyTorch, from a laptop CPU to several GPUs.

One epoch: SGD with momentum over two parameter groups (backbone and head learning rates),
BCE-with-logits on the final score s (optionally also on s_r and s_m), gradient clipping at norm
10, bf16 autocast on CUDA (float32 on the CPU), channels_last. Then an evaluation of s, s_r and
s_m on the validation split, a MultiStepLR step, a JSON-lines log row and a checkpoint
(``last.pt`` every epoch, ``best.pt`` at the best mAP of s).

The pieces work on their own, for the benchmark and the notebooks: ``compute_loss``,
``train_step(model, batch, optimizer, ...)``, ``predict_loader`` and
``evaluate_model(model, loader, device, amp=...)``.

Reproducibility: the model is initialised from ``seed``; the training order of epoch e is a
permutation seeded by (seed, e); the augmentation of image i in epoch e is seeded by (seed, e, i),
whichever worker process draws it. So a CPU run repeats exactly, and training 2 epochs gives the
same weights as training 1, stopping and resuming for 1.

The loop never calls ``.item()`` per step: the loss is summed on the device, and non-finite
losses are recorded on the device and checked every ``log_every`` steps, when the progress bar is
updated. A non-finite loss stops training (``NonFiniteLossError``) before any checkpoint is
written for that epoch, so ``last.pt`` keeps the last good state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from dbdgcn_lib.data import CocoMultiLabel, ensure_synthetic, test_transform, train_transform
from dbdgcn_lib.graph import cooccurrence, static_adjacency
from dbdgcn_lib.metrics import multilabel_metrics, paper_tables
from dbdgcn_lib.models import build_model, parameter_groups
from dbdgcn_lib.paths import default_data_root
from dbdgcn_lib.training import distributed
from dbdgcn_lib.training.checkpoint import (
    FORMAT,
    CheckpointError,
    check_compatible,
    copy_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from dbdgcn_lib.training.config import TrainConfig
from dbdgcn_lib.training.inputs import DeviceLoader, build_loader, to_device
from dbdgcn_lib.utils import get_device, seed_everything

# Model outputs -> the names metrics and logs use for them.
BRANCHES = {"logits": "s", "s_r": "s_r", "s_m": "s_m"}
# Settings a resumed run may not change: the restored optimizer and scheduler would silently ignore them.
RESUME_FIXED = tuple(
    "dataset train_split variant backbone pretrained switches tau p "
    "lr_head lr_backbone momentum weight_decay milestones gamma seed".split()
)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step and the kept checkpoint."""


# ---------------------------------------------------------------------------------------------
# Pieces that work on their own
# ---------------------------------------------------------------------------------------------


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """``"auto"``: bf16 on CUDA, None (float32) elsewhere; ``"bf16"``, ``"fp16"``, ``"none"`` as named."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]


def autocast(device: torch.device, amp: str):
    """The autocast context for ``amp`` on ``device`` (a no-op for float32)."""
    dtype = resolve_amp(amp, device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def compute_loss(outputs: dict, targets: torch.Tensor, branch_loss_weight: float = 0.0) -> torch.Tensor:
    """BCE with logits on s, averaged over images and classes (= MultiLabelSoftMarginLoss), in float32.

    With ``branch_loss_weight`` w > 0 also ``w * (BCE(s_r) + BCE(s_m))``: each branch must then
    predict on its own, not only their average.
    """
    loss = F.binary_cross_entropy_with_logits(outputs["logits"].float(), targets)
    if branch_loss_weight:
        for key in ("s_r", "s_m"):
            loss = loss + branch_loss_weight * F.binary_cross_entropy_with_logits(
                outputs[key].float(), targets
            )
    return loss


def train_step(
    model: torch.nn.Module,
    batch,
    optimizer: torch.optim.Optimizer,
    *,
    amp: str = "auto",
    scaler: torch.amp.GradScaler | None = None,
    grad_clip: float | None = 10.0,
    branch_loss_weight: float = 0.0,
) -> torch.Tensor:
    """One optimisation step on ``batch = (images, targets)`` (already on the device).

    Returns the loss as a detached device tensor (no synchronisation). ``scaler`` is only needed
    for fp16; bf16 and float32 need none.
    """
    images, targets = batch
    with autocast(images.device, amp):
        outputs = model(images)
    loss = compute_loss(outputs, targets, branch_loss_weight)
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


@torch.inference_mode()
def predict_loader(
    model: torch.nn.Module,
    loader: DataLoader | DeviceLoader,
    device: torch.device,
    *,
    amp: str = "auto",
    channels_last: bool = False,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Probabilities (sigmoid) of s, s_r and s_m for every image of a non-shuffling ``loader``
    (a DataLoader of host batches, or a ``DeviceLoader`` from ``build_loader``).

    Returns ``({"s": (N, C), "s_r": ..., "s_m": ...}, targets (N, C))`` as numpy, in dataset order.
    Under DDP (the loader uses a ``DistributedSampler``) every rank gets all ranks' rows.
    """
    was_training = model.training
    model.eval()
    rows: dict[str, list] = {name: [] for name in BRANCHES.values()}
    rows["targets"] = []
    for batch in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        images, targets = to_device(batch, device, channels_last)
        with autocast(device, amp):
            outputs = model(images)
        for key, name in BRANCHES.items():
            rows[name].append(outputs[key].float().sigmoid())
        rows["targets"].append(targets.float())
    model.train(was_training)
    tensors = {name: torch.cat(parts) for name, parts in rows.items()}
    n = tensors["targets"].shape[0]
    sampler = loader.sampler
    indices = torch.tensor(list(sampler)) if isinstance(sampler, DistributedSampler) else torch.arange(n)
    tensors = distributed.gather_predictions(tensors, indices[:n])
    targets = tensors.pop("targets").cpu().numpy()
    return {name: t.cpu().numpy() for name, t in tensors.items()}, targets


def evaluate_model(
    model: torch.nn.Module,
    loader: DataLoader | DeviceLoader,
    device: torch.device,
    *,
    amp: str = "auto",
    channels_last: bool = False,
    top_k: int | None = None,
    progress: bool = False,
) -> dict[str, dict]:
    """``{"s": metrics, "s_r": metrics, "s_m": metrics}``, each ``multilabel_metrics`` (percent)."""
    scores, targets = predict_loader(
        model, loader, device, amp=amp, channels_last=channels_last, progress=progress
    )
    return {name: multilabel_metrics(s, targets, top_k=top_k) for name, s in scores.items()}


def paper_rows(scores: dict[str, np.ndarray], targets: np.ndarray) -> dict[str, dict]:
    """Per branch, Table 1 and Table 2 (top-3) as ``paper_tables`` gives them."""
    return {name: paper_tables(s, targets) for name, s in scores.items()}


def random_baseline_map(targets: np.ndarray, seed: int = 0) -> float:
    """mAP (percent) of uniformly random scores: what a model that learned nothing gets (about the
    mean label frequency)."""
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # classes without positives were reported by the real evaluation
        warnings.simplefilter("ignore", RuntimeWarning)
        return multilabel_metrics(rng.random(targets.shape), targets)["mAP"]


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


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def data_root(config: TrainConfig) -> Path:
    """``config.data``, else the default place: ``<data root>/coco`` or the embedded set (made if missing)."""
    if config.data is not None:
        return Path(config.data)
    if config.dataset == "synthetic":
        return ensure_synthetic()
    return default_data_root() / "coco"


def build_datasets(config: TrainConfig) -> tuple[CocoMultiLabel, CocoMultiLabel]:
    """The training split (random crop + flip) and the validation split (resize only), with PIL
    transforms; the ``uint8`` and ``nvjpeg`` pipelines read only their paths and labels."""
    root = data_root(config)
    train = CocoMultiLabel(
        root, config.train_split, transform=train_transform(config.image_size, config.resize)
    )
    val = CocoMultiLabel(root, config.val_split, transform=test_transform(config.image_size))
    if list(train.categories) != list(val.categories):
        raise ValueError(f"{config.train_split} and {config.val_split} under {root} have different classes")
    return train, val


def config_loader(
    config: TrainConfig,
    dataset: CocoMultiLabel,
    *,
    train: bool,
    device: torch.device,
    dist: distributed.DistInfo | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
) -> DeviceLoader:
    """``build_loader`` with the settings of ``config`` (pipeline, sizes, workers, seed)."""
    if batch_size is None:
        batch_size = config.batch_size if train else config.eval_batch_size or 2 * config.batch_size
    return build_loader(
        dataset,
        pipeline=config.pipeline,
        train=train,
        batch_size=batch_size,
        workers=config.workers if workers is None else workers,
        device=device,
        image_size=config.image_size,
        resize=config.resize,
        channels_last=config.channels_last,
        seed=config.seed,
        dist=dist,
    )


# ---------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------


class Trainer:
    """Train ``config`` and write ``out``: ``last.pt``, ``best.pt``, ``log.jsonl``, ``config.json``::

        trainer = Trainer(get_preset("smoke"), "runs/smoke")
        history = trainer.fit()              # one dict per epoch, as in log.jsonl
        trainer.evaluate()["s"]["mAP"]       # metrics of s, s_r and s_m on the validation split

    ``resume=True`` continues from ``out/last.pt`` (model, optimizer, scheduler, scaler, epoch,
    RNG states, history). Under ``torchrun`` each process trains its shard and only rank 0 writes.
    """

    def __init__(
        self,
        config: TrainConfig,
        out: str | os.PathLike | None = None,
        *,
        resume: bool = False,
        progress: bool = True,
        verbose: bool = True,
    ):
        self.config = config
        self.out = Path(out) if out is not None else None
        device = get_device(config.device)
        self.dist = distributed.init_distributed(device.type)
        if self.dist.enabled and device.type == "cuda":
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        self.progress = progress and self.dist.is_main
        self.verbose = verbose and self.dist.is_main
        if config.threads is not None:
            torch.set_num_threads(config.threads)  # for the whole process
        if device.type == "cuda":  # what the benchmark's fast mode sets (docs/benchmarks.md)
            torch.backends.cudnn.benchmark = True  # one input shape per run: autotune once
            torch.set_float32_matmul_precision("high")  # TF32 for what bf16 autocast leaves in float32
        seed_everything(config.seed)

        self.train_set, self.val_set = build_datasets(config)
        self.class_names = list(self.train_set.categories)
        # A resumed run takes every weight from its checkpoint: no ImageNet file needed (offline).
        pretrained = False if resume else config.pretrained or False
        self.model = build_model(
            config.variant, len(self.class_names), config.backbone, pretrained, **config.switches
        )
        self.model.config = dataclasses.replace(self.model.config, pretrained=config.pretrained)
        if self.model.config.variant != "resnet" and self.model.config.static_graph == "cooccurrence":
            nums, counts = cooccurrence(self.train_set.labels)
            self.model.set_static_adjacency(static_adjacency(nums, counts, config.tau, config.p))
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        self.model.to(device, memory_format=memory_format)

        groups = parameter_groups(self.model, config.lr_backbone, config.lr_head, config.weight_decay)
        self.optimizer, _ = make_sgd(
            groups, lr=config.lr_head, momentum=config.momentum, fused=device.type == "cuda"
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, list(config.milestones), config.gamma
        )
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=resolve_amp(config.amp, device) == torch.float16
        )
        self.epoch = 0  # epochs finished
        self.best_map = float("-inf")
        self.history: list[dict] = []
        if resume:
            self._resume()

        net = self.model
        if self.dist.enabled:
            net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        # static shapes: one training shape (full batches), at most two evaluation shapes
        self.net = torch.compile(net, dynamic=False) if config.compile else net
        self.eval_net = torch.compile(self.model, dynamic=False) if config.compile else self.model

        self.train_loader = config_loader(config, self.train_set, train=True, device=device, dist=self.dist)
        self.val_loader = config_loader(config, self.val_set, train=False, device=device, dist=self.dist)
        if len(self.train_loader) == 0:
            raise ValueError(
                f"{len(self.train_set)} training images make no full batch of {config.batch_size} per "
                "process; lower batch_size"
            )

    # -- state ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """Everything a checkpoint holds (see ``checkpoint``)."""
        model_config = self.model.config
        return {
            "format": FORMAT,
            "model": self.model.state_dict(),
            "model_config": model_config.to_dict(),
            "variant": model_config.variant,
            "num_classes": model_config.num_classes,
            "class_names": self.class_names,
            "train_config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "best_mAP": self.best_map,
            "history": self.history,
            "rng": rng_state(),
        }

    def _resume(self) -> None:
        if self.out is None:
            raise CheckpointError("resume needs the run folder (out) that holds last.pt")
        path = self.out / "last.pt"
        if not path.is_file():
            raise CheckpointError(f"nothing to resume: {path} not found")
        ckpt = load_checkpoint(path)
        check_compatible(ckpt, variant=self.config.variant, num_classes=len(self.class_names))
        check_compatible(ckpt, class_names=self.class_names)
        saved = ckpt["train_config"]
        changed = [key for key in RESUME_FIXED if saved.get(key) != self.config.to_dict()[key]]
        if changed:
            detail = ", ".join(f"{k} {saved.get(k)!r} -> {getattr(self.config, k)!r}" for k in changed)
            raise CheckpointError(
                f"{path} was trained with other settings ({detail}); start a new run instead"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.best_map, self.history = ckpt["epoch"], ckpt["best_mAP"], list(ckpt["history"])
        set_rng_state(ckpt["rng"])

    def _save(self, is_best: bool) -> None:
        last = save_checkpoint(self.out / "last.pt", self.state())
        if is_best:
            copy_checkpoint(last, self.out / "best.pt")
        log = self.out / "log.jsonl"
        tmp = log.with_name(log.name + ".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in self.history))
        os.replace(tmp, log)

    def _echo(self, text: str) -> None:
        if self.verbose:
            tqdm.write(text)

    # -- training ------------------------------------------------------------------------------

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the training shard; returns the mean loss, the time, the wait for the first
        batch (the loader filling up; a real epoch hides it, a short timing epoch does not) and
        images per second."""
        cfg, device = self.config, self.device
        self.net.train()
        self.train_loader.set_epoch(epoch)
        steps = len(self.train_loader)
        total = torch.zeros((), device=device, dtype=torch.float64 if device.type != "mps" else torch.float32)
        first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        bar = tqdm(
            total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not self.progress
        )
        start = time.perf_counter()
        first_batch_s = 0.0
        for step, batch in enumerate(self.train_loader):
            if step == 0:  # host time only: how long the loader took to fill (no device sync)
                first_batch_s = time.perf_counter() - start
            loss = train_step(
                self.net,
                batch,
                self.optimizer,
                amp=cfg.amp,
                scaler=self.scaler,
                grad_clip=cfg.grad_clip,
                branch_loss_weight=cfg.branch_loss_weight,
            )
            finite = torch.isfinite(loss)
            first_bad = torch.where((first_bad < 0) & ~finite, step, first_bad)
            total += torch.where(finite, loss, 0.0)
            bar.update()
            if (step + 1) % cfg.log_every == 0 or step + 1 == steps:
                self._stop_if_not_finite(first_bad, epoch, steps)
                bar.set_postfix(loss=f"{total.item() / (step + 1):.4f}")
        distributed.broadcast_buffers(self.model)  # every rank evaluates and saves the same model
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        bar.close()
        images = steps * cfg.batch_size * self.dist.world_size
        return {
            "train_loss": total.item() / steps,
            "train_time_s": elapsed,
            "first_batch_s": first_batch_s,
            "img_per_s": images / elapsed,
        }

    def _stop_if_not_finite(self, first_bad: torch.Tensor, epoch: int, steps: int) -> None:
        if not distributed.any_rank(first_bad >= 0):
            return
        step = int(first_bad.item())
        where = f"step {step + 1} of {steps}" if step >= 0 else f"a step (on another rank) of {steps}"
        if self.epoch and self.out is not None:
            kept = f"the last good checkpoint is {self.out / 'last.pt'} (epoch {self.epoch})"
        else:
            kept = "no checkpoint was written before it"
        raise NonFiniteLossError(
            f"non-finite loss in epoch {epoch + 1}, {where}: training stopped; {kept}. "
            "Lower the learning rates or check the data."
        )

    def evaluate(self, split: str | None = None, *, top_k: int | None = None) -> dict[str, dict]:
        """Metrics of s, s_r and s_m on ``split`` (default: the validation split)."""
        loader = self.val_loader
        if split is not None and split != self.config.val_split:
            dataset = CocoMultiLabel(data_root(self.config), split)
            loader = config_loader(
                self.config,
                dataset,
                train=False,
                device=self.device,
                dist=self.dist,
                batch_size=self.val_loader.batch_size,
                workers=0,
            )
        return evaluate_model(
            self.eval_net,
            loader,
            self.device,
            amp=self.config.amp,
            channels_last=self.config.channels_last,
            top_k=top_k,
            progress=self.progress,
        )

    def fit(self) -> list[dict]:
        """Train until ``config.epochs`` epochs are done; returns the history (one row per epoch)."""
        cfg = self.config
        if self.dist.is_main and self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
        self._echo(self.model.summary())
        self._echo(
            f"{len(self.train_set)} training / {len(self.val_set)} validation images, {self.device}, "
            f"{self.dist.world_size} process(es), epochs {self.epoch + 1}..{cfg.epochs}"
        )
        for epoch in range(self.epoch, cfg.epochs):
            start = time.perf_counter()
            row = {"epoch": epoch + 1}
            row.update({f"lr_{g['name']}": g["lr"] for g in self.optimizer.param_groups})
            row.update(self.train_epoch(epoch))
            self.scheduler.step()
            metrics = self.evaluate()
            row.update({f"val_mAP{'' if n == 's' else n[1:]}": m["mAP"] for n, m in metrics.items()})
            row.update(val_CF1=metrics["s"]["CF1"], val_OF1=metrics["s"]["OF1"])
            row["time_s"] = time.perf_counter() - start
            self.epoch = epoch + 1
            self.history.append(row)
            is_best = row["val_mAP"] > self.best_map
            self.best_map = max(self.best_map, row["val_mAP"])
            if self.dist.is_main and self.out is not None:
                self._save(is_best)
            self._echo(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                f"val mAP s {row['val_mAP']:.2f} s_r {row['val_mAP_r']:.2f} s_m {row['val_mAP_m']:.2f}  "
                f"{row['img_per_s']:.0f} img/s  "
                f"{row['time_s']:.1f} s"
            )
        return self.history
