"""The training loop, in plain PyTorch, from a laptop CPU to several GPUs.

One epoch: SGD with momentum (or AdamW) over two parameter groups (backbone and head learning rates),
``steps.train_step`` (BCE on the final score s, optionally also on s_r and s_m; gradient clipping),
bf16 autocast on CUDA (float32 on the CPU), channels_last, learning rates set per step
(``steps.LRSchedule``: an optional warm-up, then x gamma after each milestone epoch). Then an
evaluation of s, s_r and s_m on the validation split (``steps.predict_loader``), a JSON-lines log
row and a checkpoint in the run folder (``run_folder.RunFolder``: locked, written atomically).

Reproducibility: the model is initialised from ``seed``; the training order of epoch e is a
permutation seeded by (seed, e); the augmentation of image i in epoch e is seeded by (seed, e, i),
whichever worker process draws it. So a CPU run repeats exactly, and training 2 epochs gives the
same weights as training 1, stopping and resuming for 1.

The loop reads nothing back from the device inside a step: the loss is summed on the device, and
non-finite losses are recorded there and looked at every ``log_every`` steps (on CUDA through an
asynchronous copy, so the host never waits for the GPU). A non-finite loss stops training
(``NonFiniteLossError``) before any checkpoint is written for that epoch, so ``last.pt`` keeps the
last good state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from dbdgcn_lib.data import DatasetError
from dbdgcn_lib.models import attach_cooccurrence_prior, build_model, parameter_groups
from dbdgcn_lib.paths import display_path
from dbdgcn_lib.progress import progress_bar
from dbdgcn_lib.training import distributed
from dbdgcn_lib.training.checkpoint import (
    FORMAT,
    OTHER_VERSION,
    CheckpointError,
    check_compatible,
    load_training_checkpoint,
    load_weights,
    rng_state,
    set_rng_state,
    train_config_of,
)
from dbdgcn_lib.training.config import TrainConfig, train_command
from dbdgcn_lib.training.estimate import format_estimate
from dbdgcn_lib.training.inputs import build_datasets, loader_for, open_split
from dbdgcn_lib.training.run_folder import RunFolder
from dbdgcn_lib.training.steps import (
    CompiledParts,
    LRSchedule,
    branch_metrics,
    cuda_backend,
    make_sgd,
    predict_loader,
    resolve_amp,
    train_step,
    val_map_key,
)
from dbdgcn_lib.utils import get_device, seed_everything, synced_time

#: Settings a resumed run may not change: they define the recipe the restored state belongs to.
RESUME_FIXED = tuple(
    "dataset train_split image_size resize crop variant backbone pretrained switches tau p convention "
    "optimizer batch_size momentum weight_decay milestones gamma warmup_epochs grad_clip branch_loss_weight "
    "amp seed".split()
)
#: Settings a resumed run may change besides ``epochs`` (how long to train); each change is printed and
#: recorded in the next log row. The learning rates are here so that a run stopped by a non-finite
#: loss can go on with lower ones.
RESUME_ADJUSTABLE = tuple(
    "lr_head lr_backbone data val_split eval_batch_size skip_corrupt device channels_last compile "
    "cuda_graphs pipeline workers threads log_every limit_train_batches limit_val_batches".split()
)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the step, the kept checkpoint and
    the command that goes on (or starts again) with lower learning rates."""


def resume_path(out: str | os.PathLike | None, resume: bool | str | os.PathLike) -> Path:
    """The checkpoint a resumed run starts from: ``out/last.pt`` (``resume=True``) or the checkpoint
    named, which must lie in the run folder ``out`` (default: its own folder)."""
    if resume is True:
        if out is None:
            raise CheckpointError("resume needs the run folder (out) that holds last.pt")
        return Path(out) / "last.pt"
    path = Path(resume)
    if out is not None and path.parent.resolve() != Path(out).resolve():
        raise CheckpointError(
            f"--resume {path} continues the run in {path.parent}, not the one in {out}: leave --out out, "
            f"or copy the checkpoint into {out} first"
        )
    return path


def load_resume_checkpoint(path: Path, wanted=lambda saved: saved) -> dict:
    """The checkpoint at ``path``, checked for resuming. When it is missing, damaged or from another
    version of the library, the message names the run's other checkpoint that can be resumed instead,
    with the command (``wanted(saved config) -> config`` gives the settings that command asks for)."""
    try:
        if not path.is_file() and path.name == "last.pt" and not (path.parent / "best.pt").is_file():
            raise CheckpointError(
                f"nothing to resume: {path.parent} holds no checkpoint (a run saves its first one at the "
                "end of epoch 1); start the run again without --resume"
            )
        return load_training_checkpoint(path, resume=True, advice=None)
    except CheckpointError as err:
        problem = str(err)
    for name in ("last.pt", "best.pt"):
        other = path.with_name(name)
        if other.resolve() == path.resolve() or not other.is_file():
            continue
        try:
            ckpt = load_training_checkpoint(other, resume=True, advice=None)
        except CheckpointError:
            continue
        saved = train_config_of(ckpt)
        command = train_command(wanted(saved), path.parent, resume_from=saved, checkpoint=other)
        raise CheckpointError(f"{problem}; resume from {other} (epoch {ckpt['epoch']}) instead: {command}")
    try:  # the run's settings are also in config.json: the command that trains it again
        config = TrainConfig.from_dict(json.loads((path.parent / "config.json").read_text()))
        again = f" with: {train_command(config, path.parent, overwrite=True)}"
    except (OSError, ValueError, TypeError):
        again = ""
    raise CheckpointError(f"{problem}; no other checkpoint of the run can be resumed: train it again{again}")


class Trainer:
    """Train ``config`` and write the run folder ``out``: ``last.pt``, ``best.pt``, ``log.jsonl``,
    ``config.json``::

        trainer = Trainer(get_preset("smoke"), "runs/smoke")
        history = trainer.fit()              # one dict per epoch, as in log.jsonl
        trainer.evaluate()["s"]["mAP"]       # metrics of s, s_r and s_m on the validation split

    ``resume=True`` continues from ``out/last.pt`` (model, optimizer, step, epoch, RNG states,
    history), ``resume=PATH`` from another checkpoint of the run (``best.pt``; ``out`` defaults to its
    folder); ``overwrite=True`` replaces a run already in ``out`` once the new run has written its first
    checkpoint; without either, a folder that holds a run is refused. Under ``torchrun`` each process
    trains its shard and only rank 0 writes.
    """

    def __init__(
        self,
        config: TrainConfig,
        out: str | os.PathLike | None = None,
        *,
        resume: bool | str | os.PathLike = False,
        overwrite: bool = False,
        progress: bool = True,
        verbose: bool = True,
    ):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"bad config {config!r}: a TrainConfig (get_preset(name, **overrides))")
        self.config = config
        self.resume_from = resume_path(out, resume) if resume is not False else None
        if out is None and self.resume_from is not None:
            out = self.resume_from.parent
        self.out = Path(out) if out is not None else None
        device = get_device(config.device)
        self.dist = distributed.init_distributed(device.type)
        if self.dist.enabled and device.type == "cuda":
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        self.progress = progress and self.dist.is_main
        self.verbose = verbose and self.dist.is_main
        seed_everything(config.seed)

        self.train_set, self.val_set = build_datasets(config)
        self.class_names = list(self.train_set.categories)
        self.train_loader = loader_for(config, self.train_set, train=True, device=device, dist=self.dist)
        self.val_loader = loader_for(config, self.val_set, train=False, device=device, dist=self.dist)
        if len(self.train_loader) == 0:
            raise DatasetError(
                f"{len(self.train_set)} training images make no full batch of {config.batch_size} per "
                "process; lower batch_size"
            )
        self.steps_per_epoch = min(
            len(self.train_loader), config.limit_train_batches or len(self.train_loader)
        )

        # A resumed run takes every weight from its checkpoint: no ImageNet file needed (offline).
        pretrained = False if self.resume_from else config.pretrained or False
        self.model = build_model(
            config.variant, len(self.class_names), config.backbone, pretrained, **config.switches
        )
        self.model.config = dataclasses.replace(self.model.config, pretrained=config.pretrained)
        attach_cooccurrence_prior(
            self.model, self.train_set.labels, tau=config.tau, p=config.p, convention=config.convention
        )
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        self.model.to(device, memory_format=memory_format)

        groups = parameter_groups(self.model, config.lr_backbone, config.lr_head, config.weight_decay)
        if config.optimizer == "adamw":  # each group's weight decay, decoupled
            self.optimizer = torch.optim.AdamW(groups, lr=config.lr_head)
        else:
            self.optimizer, _ = make_sgd(
                groups, lr=config.lr_head, momentum=config.momentum, fused=device.type == "cuda"
            )
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=resolve_amp(config.amp, device) == torch.float16
        )
        self.epoch = 0  # epochs finished
        self.step = 0  # optimisation steps taken
        self.best_map = float("-inf")
        self.history: list[dict] = []
        self.resume_changes: dict[str, list] = {}
        #: The last checkpoint written or resumed from, and the settings it holds (None: none yet).
        self.saved_path: Path | None = None
        self.saved_config: TrainConfig | None = None

        self.folder = None
        if self.out is not None and self.dist.is_main:
            self.folder = RunFolder(self.out).open(resume=self.resume_from is not None, overwrite=overwrite)
            for note in self.folder.notes:
                self._echo(note)
        try:
            if self.resume_from is not None:
                self._resume()
            self.schedule = LRSchedule(
                self.optimizer,
                [config.lr_backbone, config.lr_head],
                steps_per_epoch=self.steps_per_epoch,
                milestones=config.milestones,
                gamma=config.gamma,
                warmup_epochs=config.warmup_epochs,
            )
            self.schedule.set_step(self.step)
            self._build_nets()
        except BaseException:
            self.close()  # a run being replaced comes back at once
            raise

    def _build_nets(self) -> None:
        """The training net (DDP, compiled, CUDA graphs as configured) and the evaluation net."""
        cfg, device = self.config, self.device
        self.cuda_graphs = cfg.cuda_graphs and device.type == "cuda" and not self.dist.enabled
        if cfg.cuda_graphs and not self.cuda_graphs:
            self._echo("cuda_graphs needs one CUDA device: training without CUDA graphs")
        net = self.model
        if self.dist.enabled:
            net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        if self.cuda_graphs:
            net = torch.compile(net, dynamic=False, mode="reduce-overhead")
        elif cfg.compile:
            net = torch.compile(net, dynamic=False)
        self.net = net
        self.eval_net = CompiledParts(self.model) if cfg.compile or self.cuda_graphs else self.model

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
            "scheduler": {"step": self.step},
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "best_mAP": self.best_map,
            "history": self.history,
            "rng": rng_state(),
        }

    def _resume(self) -> None:
        path = self.resume_from
        ckpt = load_resume_checkpoint(path, lambda saved: self.config)
        check_compatible(ckpt, variant=self.config.variant, num_classes=len(self.class_names))
        check_compatible(ckpt, class_names=self.class_names)
        self.saved_path, self.saved_config = path, train_config_of(ckpt)
        saved = self.saved_config.to_dict()
        now = self.config.to_dict()
        fixed = [key for key in RESUME_FIXED if saved[key] != now[key]]
        if fixed:
            detail = ", ".join(f"{k} {saved[k]!r} -> {now[k]!r}" for k in fixed)
            raise CheckpointError(
                f"{path} was trained with other settings ({detail}); these cannot change on resume "
                f"(only epochs, {', '.join(RESUME_ADJUSTABLE)} can): start a new run instead"
            )
        self.resume_changes = {k: [saved[k], now[k]] for k in RESUME_ADJUSTABLE if saved[k] != now[k]}
        for key, (old, new) in self.resume_changes.items():
            self._echo(f"resume: {key} {old!r} -> {new!r}")
        load_weights(self.model, ckpt)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scaler.load_state_dict(ckpt["scaler"])
            self.epoch, self.best_map, self.history = ckpt["epoch"], ckpt["best_mAP"], list(ckpt["history"])
            self.step = ckpt["scheduler"].get("step", self.epoch * self.steps_per_epoch)
            set_rng_state(ckpt["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
            raise CheckpointError(
                f"checkpoint {path}: its training state cannot be restored ({type(err).__name__}: "
                f"{' '.join(str(err).split())[:120]}); {OTHER_VERSION}"
            ) from None

    def command(self, config: TrainConfig) -> str:
        """The command line that trains ``config`` in this run's folder from where the run stands: from
        the last checkpoint written or resumed from, or (none yet) from the start."""
        if self.out is None:
            raise ValueError("a run without a run folder (out) has no command line")
        if self.saved_config is not None:
            checkpoint = None if self.saved_path == self.out / "last.pt" else self.saved_path
            return train_command(config, self.out, resume_from=self.saved_config, checkpoint=checkpoint)
        replacing = self.folder is not None and self.folder.replacing  # the replaced run comes back
        return train_command(config, self.out, overwrite=replacing)

    def close(self) -> None:
        """Release the run folder (``fit`` does it when it ends)."""
        if self.folder is not None:
            self.folder.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    def _echo(self, text: str) -> None:
        if self.verbose:
            tqdm.write(text)

    @contextlib.contextmanager
    def _machine(self):
        """The process-wide settings this run wants (torch threads, cuDNN autotuning, TF32), restored
        afterwards so that a notebook or test running other code next is not affected."""
        threads = torch.get_num_threads()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        try:
            with cuda_backend(self.device):
                yield
        finally:
            torch.set_num_threads(threads)

    # -- training ------------------------------------------------------------------------------

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the training shard; returns the mean loss, the time, the wait for the first
        batch (the loader filling up), images per second over the epoch and at the steady rate (the
        steps after the first ones, which also compile and autotune)."""
        cfg, device = self.config, self.device
        self.net.train()
        self.train_loader.set_epoch(epoch)
        skipped_before = self.train_loader.skipped
        steps = self.steps_per_epoch
        warm = min(10, steps // 2)  # steps before the steady window
        total = torch.zeros((), device=device, dtype=torch.float64 if device.type != "mps" else torch.float32)
        first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        watch = _LossWatch(device, self.dist)
        bar = progress_bar(
            total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, enabled=self.progress
        )
        start = time.perf_counter()
        first_batch_s, steady_start = 0.0, None
        for step, batch in enumerate(self.train_loader):
            if step == steps:
                break
            if step == 0:  # host time only: how long the loader took to fill (no device sync)
                first_batch_s = time.perf_counter() - start
            if step == warm:
                steady_start = synced_time(device)
            self.schedule.set_step(self.step)
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            loss = train_step(
                self.net,
                batch,
                self.optimizer,
                amp=cfg.amp,
                scaler=self.scaler,
                grad_clip=cfg.grad_clip,
                branch_loss_weight=cfg.branch_loss_weight,
            )
            self.step += 1
            finite = torch.isfinite(loss)
            first_bad = torch.where((first_bad < 0) & ~finite, step, first_bad)
            total += torch.where(finite, loss, 0.0)
            bar.update()
            if (step + 1) % cfg.log_every == 0 and step + 1 < steps:
                seen = watch.update(total, first_bad, step + 1)
                if seen is not None:
                    self._stop_if_not_finite(seen[1], epoch, steps)
                    bar.set_postfix(loss=f"{seen[0]:.4f}")
        end = synced_time(device)
        bar.close()
        self._stop_if_not_finite(watch.final(first_bad), epoch, steps)
        distributed.broadcast_buffers(self.model)  # every rank evaluates and saves the same model
        images = steps * cfg.batch_size * self.dist.world_size
        steady = (steps - warm) * cfg.batch_size * self.dist.world_size / (end - steady_start)
        row = {
            "train_loss": total.item() / steps,
            "train_time_s": end - start,
            "first_batch_s": first_batch_s,
            "img_per_s": images / (end - start),
            "steady_img_per_s": steady,
        }
        if cfg.skip_corrupt:
            row["skipped_images"] = self.train_loader.skipped - skipped_before  # this epoch's
        return row

    def _stop_if_not_finite(self, bad_step: int, epoch: int, steps: int) -> None:
        if bad_step == -1:
            return
        where = f"step {bad_step + 1} of {steps}" if bad_step >= 0 else f"a step (on another rank) of {steps}"
        cfg = self.config
        lower = dataclasses.replace(cfg, lr_head=cfg.lr_head / 2, lr_backbone=cfg.lr_backbone / 2)
        if self.out is None:
            advice = (
                f"start again with lower learning rates (lr_head {lower.lr_head!r}, "
                f"lr_backbone {lower.lr_backbone!r})"
            )
        elif self.saved_config is not None:
            advice = (
                f"the last good checkpoint is {display_path(self.saved_path)} (epoch {self.epoch}); go on "
                f"from it with lower learning rates: {self.command(lower)}"
            )
        else:
            advice = (
                f"no checkpoint was written before it; start again with lower learning rates: "
                f"{self.command(lower)}"
            )
        raise NonFiniteLossError(
            f"non-finite loss in epoch {epoch + 1}, {where}: training stopped; {advice} (or check the data)"
        )

    def evaluate(self, split: str | None = None, *, top_k: int | None = None) -> dict[str, dict]:
        """Metrics of s, s_r and s_m on ``split`` (default: the validation split)."""
        return branch_metrics(self._predict(split), top_k, self.class_names)

    def _predict(self, split: str | None = None):
        loader = self.val_loader
        if split is not None and split != self.config.val_split:
            dataset = open_split(self.config, split)
            if list(dataset.categories) != self.class_names:
                raise DatasetError(
                    f"split {split!r} has other classes (or another class order) than the model's; "
                    "evaluate it with a model trained on its classes"
                )
            loader = loader_for(
                self.config,
                dataset,
                train=False,
                device=self.device,
                dist=self.dist,
                batch_size=self.val_loader.batch_size,
                workers=0,
            )
        with self._machine():
            return predict_loader(
                self.eval_net,
                loader,
                self.device,
                amp=self.config.amp,
                channels_last=self.config.channels_last,
                progress=self.progress,
                limit_batches=self.config.limit_val_batches,
            )

    def fit(self) -> list[dict]:
        """Train until ``config.epochs`` epochs are done; returns the history (one row per epoch)."""
        try:
            with self._machine():
                return self._fit()
        finally:
            self.close()

    def _fit(self) -> list[dict]:
        cfg = self.config
        if self.folder is not None:
            self.folder.write_config(cfg.to_dict())
        self._echo(self.model.summary())
        self._echo(
            f"{len(self.train_set)} training / {len(self.val_set)} validation images, {self.device}, "
            f"{self.dist.world_size} process(es), epochs {self.epoch + 1}..{cfg.epochs}"
        )
        for epoch in range(self.epoch, cfg.epochs):
            start = time.perf_counter()
            row: dict = {"epoch": epoch + 1}
            if self.resume_changes:
                row["resumed_with"], self.resume_changes = self.resume_changes, {}
            self.schedule.set_step(self.step)  # the rates of the epoch's first step
            row.update({f"lr_{g['name']}": g["lr"] for g in self.optimizer.param_groups})
            row.update(self.train_epoch(epoch))
            predictions = self._predict()
            metrics = branch_metrics(predictions, class_names=self.class_names)
            row.update({val_map_key(n): m["mAP"] for n, m in metrics.items()})
            row.update(val_CF1=metrics["s"]["CF1"], val_OF1=metrics["s"]["OF1"], val_loss=predictions.loss)
            if cfg.skip_corrupt:
                row["val_left_out"] = predictions.left_out  # unreadable: not in the metrics
            if predictions.img_per_s is not None:
                row["eval_img_per_s"] = predictions.img_per_s * self.dist.world_size
            row["time_s"] = time.perf_counter() - start
            self.epoch = epoch + 1
            self.history.append(row)
            is_best = row["val_mAP"] > self.best_map
            self.best_map = max(self.best_map, row["val_mAP"])
            if self.folder is not None:
                self.folder.save(self.state(), is_best=is_best)
                self.folder.write_log(self.history)
            self.saved_path, self.saved_config = (self.out / "last.pt" if self.out else None), cfg
            maps = " ".join(f"{n} {row[val_map_key(n)]:.2f}" for n in self.model.config.score_names)
            self._echo(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {row['train_loss']:.4f} (val {row['val_loss']:.4f})  "
                f"val mAP {maps}  {row['steady_img_per_s']:.0f} img/s  {row['time_s']:.1f} s"
                + (f"  skipped {row['skipped_images']} unreadable images" if "skipped_images" in row else "")
                + (
                    f"; left {row['val_left_out']} unreadable validation images out of the metrics"
                    if row.get("val_left_out")
                    else ""
                )
            )
        last = self.history[-1] if self.history else None
        timing = cfg.limit_train_batches is not None or cfg.limit_val_batches is not None
        if timing and last is not None and last.get("eval_img_per_s"):
            self._echo(
                format_estimate(
                    last["steady_img_per_s"],
                    last["eval_img_per_s"],
                    what=f"{cfg.variant}, {cfg.backbone}, {cfg.image_size} px, batch {cfg.batch_size}",
                )
            )
        return self.history


class _LossWatch:
    """Reads the running loss and the first non-finite step without stalling the device: on CUDA with
    one process each ``update`` starts an asynchronous copy to pinned memory and returns the previous
    copy's values (None the first time); elsewhere it reads them directly. ``final`` always reads
    the current value (after the epoch's last step), agreed over all ranks."""

    def __init__(self, device: torch.device, dist: distributed.DistInfo):
        self.asynchronous = device.type == "cuda" and not dist.enabled
        self.dist = dist
        if self.asynchronous:
            self.host = torch.zeros(2, dtype=torch.float64, pin_memory=True)
            self.event = torch.cuda.Event()
            self.pending_steps: int | None = None

    def update(self, total: torch.Tensor, first_bad: torch.Tensor, steps: int) -> tuple[float, int] | None:
        if not self.asynchronous:
            return total.item() / steps, self.final(first_bad)
        seen = None
        if self.pending_steps is not None:
            self.event.synchronize()  # recorded one interval ago: long finished
            seen = float(self.host[0]) / self.pending_steps, int(self.host[1])
        self.host.copy_(torch.stack([total.double(), first_bad.double()]), non_blocking=True)
        self.event.record()
        self.pending_steps = steps
        return seen

    def final(self, first_bad: torch.Tensor) -> int:
        """-1: every loss finite; the first bad step of this rank; -2: a bad step on another rank."""
        if not distributed.any_rank(first_bad >= 0):  # a collective: every rank calls it
            return -1
        return int(first_bad.item()) if first_bad.item() >= 0 else -2
