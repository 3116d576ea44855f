"""The bench loop: the trainer's own step, timed in a bare loop (no Trainer around it).

``measure(case, env, ...)`` builds one model and times one ``Case``: training is
``training.steps.train_step`` (forward, BCE on s, backward, clipping, SGD on the two parameter
groups, ADD-GCN's rates from the ``add_gcn`` preset: the rates do not change the speed, and these do
not diverge from a random initialisation); evaluation is ``steps.forward_scores`` and a sigmoid, as
the trainer evaluates. Compiled, it compiles as the trainer does: the whole model for training,
``steps.CompiledParts`` for evaluation.

Modes: ``released`` is how ADD-GCN's published code runs (float32, NCHW, eager, PyTorch's defaults);
``fast`` switches everything on (bf16 autocast, channels_last, ``torch.compile``, fused SGD, cuDNN
autotuning, TF32 for what stays float32).

Inputs: without a ``pipeline`` the timed steps run on a fixed batch already on the device (the model
alone); with one, ``training.inputs.create_loader`` feeds them (``pil``, ``uint8``, ``nvjpeg``: the
pipeline in the loop), and the pipeline's own rate is timed first (``loader_img_per_s``).

Timing: warm-up steps on the fixed batch (compilation, autotuning, optimizer state; before any
loader worker starts), then the timed steps between two device synchronisations. Nothing in a step
reads back to the host, so the CPU queues work ahead as in training; the output is checked for
finiteness once, after the window.
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from report import machine_fields

from dbdgcn_lib.data import ImageFiles, random_targets
from dbdgcn_lib.models import attach_cooccurrence_prior, build_model, parameter_groups
from dbdgcn_lib.training import PRESETS, CompiledParts, create_loader, forward_scores, make_sgd, train_step
from dbdgcn_lib.training.steps import cuda_backend
from dbdgcn_lib.utils import synced_time


@dataclass(frozen=True)
class Mode:
    """What a mode switches on; recorded with every result."""

    amp: str  # "bf16" autocast or "none"
    channels_last: bool
    compile: bool
    fused_sgd: bool
    cudnn_benchmark: bool
    tf32: bool


MODES = {
    "released": Mode("none", False, False, False, False, False),
    "fast": Mode("bf16", True, True, True, True, True),
}


@dataclass(frozen=True)
class Case:
    """One measurement: ``pipeline`` None times the model alone; ``compile`` None: as the mode says."""

    variant: str
    phase: str  # "train" or "eval"
    mode: str  # a key of MODES
    batch: int
    pipeline: str | None = None
    compile: bool | None = None


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def free_memory(device: torch.device) -> None:
    """The last case's memory back to the card (on the CPU a collection only costs time)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def measure(
    case: Case,
    env: dict,
    *,
    device: torch.device,
    image_size: int = 448,
    backbone: str = "resnet101",
    label: str = "",
    **settings,
) -> dict:
    """The record of one case (``dbdgcn_lib.bench``'s format, ``env`` from ``report.environment``); a
    failure is its ``status`` (``oom``, ``non-finite``, ``error: ...``), never an exception.
    ``settings``: the rest of ``run_case``'s (``files`` a pipeline reads, ``steps`` ...)."""
    mode = MODES[case.mode]
    compiled = mode.compile if case.compile is None else case.compile
    on_cuda = device.type == "cuda"
    record = {
        "source": "bench",
        "variant": case.variant,
        "phase": case.phase,
        "mode": case.mode,
        "input": "jpeg" if case.pipeline else "synthetic",
        "pipeline": case.pipeline,
        "batch": case.batch,
        "image_size": image_size,
        "backbone": backbone,
        **machine_fields(env),
        "amp": "bf16" if mode.amp == "bf16" else "float32",
        "channels_last": mode.channels_last,
        "compile": compiled,
        "cudnn_benchmark": mode.cudnn_benchmark and on_cuda,
        "tf32": mode.tf32 and on_cuda,
        "label": label,
    }
    try:
        with cuda_backend(device, autotune=mode.cudnn_benchmark, tf32=mode.tf32):
            fields = run_case(
                case, mode, compiled, device=device, image_size=image_size, backbone=backbone, **settings
            )
            record.update(fields)
        record["status"] = "ok" if record["finite"] else "non-finite"
    except Exception as err:  # noqa: BLE001 - one broken case must not end the run
        if not is_oom(err):
            traceback.print_exc()
        record["status"] = "oom" if is_oom(err) else f"error: {type(err).__name__}: {str(err)[:300]}"
    finally:
        free_memory(device)
    return record


def run_case(
    case: Case,
    mode: Mode,
    compiled: bool,
    *,
    device: torch.device,
    files: ImageFiles | None = None,
    image_size: int = 448,
    backbone: str = "resnet101",
    num_classes: int = 80,
    embed_dim: int | None = None,
    warmup: int = 3,
    steps: int = 20,
    workers: int = 4,
    seed: int = 0,
) -> dict:
    """Build the model, warm up, time ``steps`` steps; returns the measured fields (raises on errors)."""
    train = case.phase == "train"
    torch.manual_seed(seed)
    model = build_model(case.variant, num_classes, backbone, pretrained=False, embed_dim=embed_dim)
    attach_cooccurrence_prior(model, random_targets(1024, num_classes, seed=seed))  # as the trainer does
    layout = torch.channels_last if mode.channels_last else torch.contiguous_format
    model.to(device, memory_format=layout).train(train)
    fields: dict = {}
    last: list[torch.Tensor] = []  # the last step's output
    if train:
        recipe = PRESETS["add_gcn"]
        groups = parameter_groups(model, recipe.lr_backbone, recipe.lr_head, recipe.weight_decay)
        fused = mode.fused_sgd and device.type == "cuda"
        optimizer, fields["fused_sgd"] = make_sgd(
            groups, lr=recipe.lr_head, momentum=recipe.momentum, fused=fused
        )
        net = torch.compile(model, dynamic=False) if compiled else model

        def step(x, y):  # the loss stays on the device
            last[:] = [train_step(net, (x, y), optimizer, amp=mode.amp, grad_clip=recipe.grad_clip)]
    else:
        net = CompiledParts(model) if compiled else model

        def step(x, y):  # probabilities of s (B, C), on the device
            with torch.inference_mode():
                last[:] = [forward_scores(net, x, amp=mode.amp)["logits"].sigmoid()]

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    x = torch.randn(case.batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(seed))
    x = x.to(device, memory_format=layout)
    y = torch.from_numpy(random_targets(case.batch, num_classes, seed=seed)).to(device)
    start = time.perf_counter()
    for _ in range(max(1, warmup)):
        step(x, y)
    fields["warmup_s"] = round(synced_time(device) - start, 2)

    if case.pipeline is None:
        seconds = timed(lambda: step(x, y), steps, device)
    else:
        if not files:
            raise ValueError("a pipeline case needs image files")
        del x, y
        first, loader_steps = (
            max(2, workers),
            max(steps, 2 * workers),
        )  # the workers' first round comes at once
        # then as many steps as batches the workers can hold (4 each at most; nvjpeg's hold only bytes),
        # so that the timed window cannot feed on a backlog
        drain = warmup if case.pipeline == "nvjpeg" else max(warmup, 4 * workers)
        if not train:  # one evaluation pass, long enough for all of it
            files = _repeated(files, (first + loader_steps + drain + steps) * case.batch)
        loader = create_loader(
            files,
            pipeline=case.pipeline,
            train=train,
            batch_size=case.batch,
            workers=workers,
            device=device,
            image_size=image_size,
            channels_last=mode.channels_last,
            seed=seed,
            endless=train,
        )
        batches = iter(loader)
        for _ in range(first):
            next(batches)
        loader_s = timed(lambda: next(batches), loader_steps, device)
        for _ in range(drain):
            step(*next(batches))
        seconds = timed(lambda: step(*next(batches)), steps, device)
        fields.update(loader_img_per_s=round(loader_steps * case.batch / loader_s, 1), workers=workers)
    fields.update(
        steps=steps,
        seconds=round(seconds, 3),
        img_per_s=round(steps * case.batch / seconds, 1),
        step_ms=round(1000 * seconds / steps, 2),
        finite=bool(torch.isfinite(last[0]).all()),
    )
    if device.type == "cuda":
        fields["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)
    return fields


def timed(run_one: Callable[[], object], steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``run_one``, between two device synchronisations."""
    start = synced_time(device)
    for _ in range(steps):
        run_one()
    return synced_time(device) - start


def _repeated(files: ImageFiles, n: int) -> ImageFiles:
    """The files repeated to ``n`` items: one evaluation pass long enough for a whole case."""
    reps = math.ceil(n / len(files.image_paths))
    return ImageFiles((list(files.image_paths) * reps)[:n], np.tile(files.labels, (reps, 1))[:n])
