"""One benchmark case: a model in a mode, timed on a fixed batch or with an input pipeline in the loop.

- ``mode_settings``: ``released`` (float32, NCHW, eager, PyTorch's defaults: how ADD-GCN's published
  code runs) and ``fast`` (bf16 autocast, channels_last, ``torch.compile``, fused SGD, cuDNN
  autotuning, TF32 for what stays float32).
- ``Runner``: one model on one device in one mode. Its training step is the trainer's
  ``steps.train_step`` with ADD-GCN's optimiser recipe (``PRESETS["add_gcn"]``: the rates do not
  change the speed, and these do not diverge from a random initialisation); its evaluation step is
  ``steps.forward_scores`` and a sigmoid, as the trainer evaluates.
- ``find_max_batch``: the largest batch that fits (``batch="auto"``).
- ``run_case``: warm-up, then the timed steps of one ``Case``, on a fixed batch already on the
  device (``synthetic``: the model alone) or fed by ``training.inputs.create_loader`` (``jpeg``: an
  input pipeline in the loop; ``loader_img_per_s`` is its rate alone).
- ``measure``: ``run_case`` with the outcome as a status (``ok``, ``oom``, ``non-finite``, the
  error); a compiler failure is measured again eagerly.

The timed steps run between two device synchronisations, and nothing inside a step reads a value
back to the host, so the CPU queues work ahead of the device as in training; the loss is checked for
finiteness once, after the window.
"""

from __future__ import annotations

import gc
import math
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from dbdgcn_lib.data import ImageFiles, random_targets
from dbdgcn_lib.models import attach_cooccurrence_prior, build_model, parameter_groups
from dbdgcn_lib.training.config import PRESETS, TrainConfig
from dbdgcn_lib.training.inputs import create_loader
from dbdgcn_lib.training.steps import CompiledParts, cuda_backend, forward_scores, make_sgd, train_step
from dbdgcn_lib.utils import synchronize

PHASES = ("train", "eval")
MODES = ("released", "fast")
INPUTS = ("synthetic", "jpeg")
COMPILE_SCOPES = ("parts", "model")
RELEASED_BATCH = 18
#: Batch sizes ``batch="auto"`` tries, largest first (capped by ``max_batch``).
AUTO_CANDIDATES = tuple(
    int(b) for b in "1024 768 512 384 320 256 224 192 160 128 96 64 48 32 24 18 16 12 8 4 2 1".split()
)
#: ``batch="auto"`` keeps a batch whose eager step peaks under this share of the card's memory.
AUTO_MEMORY_SHARE = 0.85


@dataclass(frozen=True)
class ModeSettings:
    """What a mode switches on; recorded with every result."""

    amp: bool  # bf16 autocast
    channels_last: bool
    compile: bool
    fused_sgd: bool
    cudnn_benchmark: bool
    tf32: bool


def mode_settings(mode: str, *, compile: bool | None = None) -> ModeSettings:
    """``released``: PyTorch's defaults, float32, NCHW, eager. ``fast``: everything on (``compile=False``
    turns ``torch.compile`` off)."""
    if mode == "released":
        return ModeSettings(False, False, False, False, False, False)
    if mode == "fast":
        return ModeSettings(True, True, True if compile is None else compile, True, True, True)
    raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


def backend(settings: ModeSettings, device: torch.device):
    """The mode's cuDNN autotuning and TF32 settings (``steps.cuda_backend``; restored on exit)."""
    return cuda_backend(device, autotune=settings.cudnn_benchmark, tf32=settings.tf32)


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def is_compiler_error(err: BaseException) -> bool:
    """Raised by torch.compile's machinery (Dynamo, AOTAutograd, Inductor, Triton), or caused by it."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        module = type(err).__module__ or ""
        if module.startswith(("torch._dynamo", "torch._inductor", "torch._functorch", "triton")):
            return True
        err = err.__cause__ or err.__context__
    return False


class Runner:
    """One model on one device in one mode: ``step(phase, x, y)`` without host synchronisation.

    ``compile_scope="parts"``: training and evaluation run the backbone and the head compiled as two
    graphs (``steps.CompiledParts``: after the first variant the compiler's caches serve the shared
    ResNet graph). ``"model"``: training runs the whole model as one graph, as the ``Trainer`` does
    with ``compile``; evaluation runs the two parts, as the trainer's evaluation does.
    """

    def __init__(
        self,
        variant: str,
        settings: ModeSettings,
        device: torch.device,
        *,
        backbone: str = "resnet101",
        num_classes: int = 80,
        embed_dim: int | None = None,
        compile_scope: str = "parts",
        recipe: TrainConfig = PRESETS["add_gcn"],
        seed: int = 0,
    ):
        if compile_scope not in COMPILE_SCOPES:
            raise ValueError(
                f"compile scope must be one of {', '.join(COMPILE_SCOPES)}, got {compile_scope!r}"
            )
        self.variant, self.settings, self.device, self.num_classes = variant, settings, device, num_classes
        self.compile_scope, self.grad_clip = compile_scope, recipe.grad_clip
        torch.manual_seed(seed)
        model = build_model(variant, num_classes, backbone, pretrained=False, embed_dim=embed_dim)
        attach_cooccurrence_prior(model, random_targets(1024, num_classes, seed=seed))  # as the trainer does
        memory_format = torch.channels_last if settings.channels_last else torch.preserve_format
        self.model = model.to(device, memory_format=memory_format)
        groups = parameter_groups(model, recipe.lr_backbone, recipe.lr_head, recipe.weight_decay)
        self.optimizer, self.fused = make_sgd(
            groups,
            lr=recipe.lr_head,
            momentum=recipe.momentum,
            fused=settings.fused_sgd and device.type == "cuda",
        )
        self.train_net = self.eval_net = self.model
        self.compiled = False

    @property
    def amp(self) -> str:
        return "bf16" if self.settings.amp else "none"

    def compile(self) -> None:
        """Compile as the mode and ``compile_scope`` say (once)."""
        if self.settings.compile and not self.compiled:
            parts = CompiledParts(self.model)
            self.eval_net = parts
            self.train_net = (
                parts if self.compile_scope == "parts" else torch.compile(self.model, dynamic=False)
            )
            self.compiled = True

    def uncompile(self) -> None:
        """Back to eager (after a compiler failure)."""
        self.train_net = self.eval_net = self.model
        self.compiled = False
        self.settings = replace(self.settings, compile=False)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, *, eager: bool = False) -> torch.Tensor:
        """``steps.train_step``: BCE on s, backward, clipping, SGD; the loss stays on the device."""
        self.model.train()
        net = self.model if eager else self.train_net
        return train_step(net, (x, y), self.optimizer, amp=self.amp, grad_clip=self.grad_clip)

    def eval_step(self, x: torch.Tensor, *, eager: bool = False) -> torch.Tensor:
        """Probabilities of s (B, C), on the device: ``steps.forward_scores`` (the head in float32)."""
        self.model.eval()
        net = self.model if eager else self.eval_net
        with torch.inference_mode():
            return forward_scores(net, x, amp=self.amp)["logits"].sigmoid()

    def step(self, phase: str, x: torch.Tensor, y: torch.Tensor, *, eager: bool = False) -> torch.Tensor:
        """One train or eval step; ``eager=True`` bypasses the compiled nets (memory probes)."""
        return self.train_step(x, y, eager=eager) if phase == "train" else self.eval_step(x, eager=eager)

    def synthetic_batch(
        self, batch: int, image_size: int, seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed normalised-looking batch (B, 3, S, S) and COCO-like targets (B, C) on the device."""
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, 3, image_size, image_size, generator=gen)
        y = torch.from_numpy(random_targets(batch, self.num_classes, seed=seed))
        fmt = torch.channels_last if self.settings.channels_last else torch.contiguous_format
        return x.to(self.device, memory_format=fmt), y.to(self.device)


def find_max_batch(
    runner: Runner, phase: str, image_size: int, max_batch: int, log: Callable = print
) -> tuple[int, list[dict]]:
    """The largest batch of ``AUTO_CANDIDATES`` (<= ``max_batch``) whose step runs and peaks under
    ``AUTO_MEMORY_SHARE`` of the card, probed eagerly (compiled code needs no more memory, usually
    less) without cuDNN autotuning (that would cost seconds per probed shape).

    Returns ``(batch, probes)``. On other devices nothing is probed: ``min(max_batch, 8)``.
    """
    device = runner.device
    if device.type != "cuda":
        return min(max_batch, 8), []
    candidates = [b for b in AUTO_CANDIDATES if b <= max_batch] or [max_batch]
    total = torch.cuda.get_device_properties(device).total_memory
    probes: list[dict] = []
    with cuda_backend(device, autotune=False, tf32=runner.settings.tf32):
        for b in candidates:
            free_memory(device)
            torch.cuda.reset_peak_memory_stats(device)
            try:
                x, y = runner.synthetic_batch(b, image_size)
                runner.step(phase, x, y, eager=True)  # compiled code would recompile for each size
                del x, y
                synchronize(device)
                peak = torch.cuda.max_memory_allocated(device)
            except Exception as err:  # noqa: BLE001 - out of memory comes as several exception types
                if not is_oom(err):
                    raise
                peak = None
            finally:
                runner.optimizer.zero_grad(set_to_none=True)
            fits = peak is not None and peak < AUTO_MEMORY_SHARE * total
            probes.append(
                {"batch": b, "fits": fits, "peak_gb": None if peak is None else round(peak / 1e9, 2)}
            )
            log(
                f"  {phase} batch {b}: " + ("out of memory" if peak is None else f"{peak / 1e9:.1f} GB eager")
            )
            if fits:
                free_memory(device)
                return b, probes
    raise RuntimeError("no batch size fits on this device, not even 1")


@dataclass
class Case:
    """What one measurement runs: ``pipeline`` only for ``input="jpeg"``."""

    variant: str
    phase: str
    mode: str
    input: str = "synthetic"
    pipeline: str | None = None
    batch: int = RELEASED_BATCH

    @property
    def name(self) -> str:
        src = self.input if self.input == "synthetic" else f"jpeg/{self.pipeline}"
        return f"{self.variant} {self.phase} {self.mode} {src} batch {self.batch}"


def timed(run_one: Callable[[], object], steps: int, max_seconds: float | None, device) -> tuple[int, float]:
    """Up to ``steps`` calls (fewer once ``max_seconds`` of host time have passed) between two syncs."""
    synchronize(device)
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        run_one()
        done += 1
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    synchronize(device)
    return done, time.perf_counter() - t0


def _repeated(files: ImageFiles, n: int) -> ImageFiles:
    """The first ``n`` items of ``files`` repeated: one evaluation pass long enough for a whole case."""
    reps = math.ceil(n / len(files.image_paths))
    return ImageFiles((list(files.image_paths) * reps)[:n], np.tile(files.labels, (reps, 1))[:n])


def _jpeg_window(
    runner: Runner, case: Case, step, *, files, image_size, warmup, steps, max_seconds, workers, seed
):
    """The pipeline alone, then the model fed by it; returns ``(steps, seconds, fields)``."""
    device, train = runner.device, case.phase == "train"
    first = max(2, workers)  # worker start-up: their first round arrives at once
    loader_steps = max(steps, 2 * workers)
    if not train:  # evaluation is one pass over its images: make it long enough for every step below
        most = first + loader_steps + max(warmup, 4 * max(workers, 1)) + steps
        files = _repeated(files, most * case.batch)
    loader = create_loader(
        files,
        pipeline=case.pipeline,
        train=train,
        batch_size=case.batch,
        workers=workers,
        device=device,
        image_size=image_size,
        channels_last=runner.settings.channels_last,
        seed=seed,
        endless=train,
    )
    factor = loader.loader.prefetch_factor or 0
    # as many steps as batches the workers can hold, so the timed window cannot feed on a backlog
    drain = max(warmup, factor * workers) if case.pipeline != "nvjpeg" else max(warmup, 2)
    batches = iter(loader)
    for _ in range(first):
        next(batches)
    ln, lsecs = timed(lambda: next(batches), loader_steps, max_seconds, device)
    for _ in range(drain):
        step(*next(batches))
    n, secs = timed(lambda: step(*next(batches)), steps, max_seconds, device)
    fields = {
        "loader_img_per_s": round(ln * case.batch / lsecs, 1),
        "workers": workers,
        "prefetch_factor": factor or None,
        "loader_warmup_steps": drain,
    }
    return n, secs, fields


def run_case(
    runner: Runner,
    case: Case,
    *,
    image_size: int,
    warmup: int = 3,
    steps: int = 20,
    max_seconds: float | None = None,
    files: ImageFiles | None = None,
    workers: int = 4,
    seed: int = 0,
) -> dict:
    """Measure one case; returns the measured fields (raises on errors, out-of-memory included).

    Warm-up steps first, on a fixed batch (compilation, cuDNN autotuning, optimizer state; for jpeg
    cases before any worker starts). Then the timed window: on that batch (``synthetic``), or with
    ``create_loader(files, pipeline=case.pipeline)`` feeding it (``jpeg``; the pipeline's own rate
    is timed first: ``loader_img_per_s``).
    """
    device = runner.device
    rec: dict = {}
    free_memory(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    x, y = runner.synthetic_batch(case.batch, image_size, seed)
    last: list[torch.Tensor] = []

    def step(xb, yb):
        last[:] = [runner.step(case.phase, xb, yb)]

    runner.compile()
    t0 = time.perf_counter()
    for _ in range(max(1, warmup)):
        step(x, y)
    synchronize(device)
    rec["warmup_s"] = round(time.perf_counter() - t0, 2)

    if case.input == "synthetic":
        n, secs = timed(lambda: step(x, y), steps, max_seconds, device)
    elif case.input == "jpeg":
        if not files:
            raise ValueError("jpeg input needs image files")
        del x, y
        n, secs, fields = _jpeg_window(
            runner,
            case,
            step,
            files=files,
            image_size=image_size,
            warmup=warmup,
            steps=steps,
            max_seconds=max_seconds,
            workers=workers,
            seed=seed,
        )
        rec.update(fields)
    else:
        raise ValueError(f"unknown input {case.input!r}; choose from {', '.join(INPUTS)}")

    rec.update(
        steps=n,
        seconds=round(secs, 3),
        img_per_s=round(n * case.batch / secs, 1),
        step_ms=round(1000 * secs / n, 2),
        finite=bool(torch.isfinite(last[0]).all()),
    )
    if device.type == "cuda":
        rec["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)
        rec["peak_reserved_gb"] = round(torch.cuda.max_memory_reserved(device) / 1e9, 2)
    return rec


def measure(runner: Runner, case: Case, record: dict, log: Callable = print, **timing) -> dict:
    """``run_case`` into ``record`` with a ``status``; a compiler failure is recorded
    (``compile_error``) and the case measured again eagerly. Never raises for a failed case."""
    for attempt in (1, 2):
        try:
            record.update(run_case(runner, case, **timing))
            record["status"] = "ok" if record["finite"] else "non-finite"
            return record
        except Exception as err:  # noqa: BLE001 - one broken case must not end the run
            free_memory(runner.device)
            message = f"{type(err).__name__}: {str(err)[:300]}"
            if is_oom(err):
                record["status"] = "oom"
                return record
            traceback.print_exc(file=sys.stderr)
            if attempt == 2 or not (runner.compiled and is_compiler_error(err)):
                record["status"] = f"error: {message}"
                return record
            log(f"  {case.name}: torch.compile failed ({message}); measuring eagerly instead")
            runner.uncompile()
            record.update(compile=False, compile_error=message)
    return record
