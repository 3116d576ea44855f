"""``python -m dbdgcn_lib bench``: training and evaluation throughput, peak memory, the head's share.

One run measures a matrix of cases on one device, prints a table and appends each result to a JSON
file as soon as it is measured (a run killed half-way keeps what it had):

- variants ``db_dgcn``, ``add_gcn``, ``resnet``. ``resnet`` is the backbone alone plus a global max
  pool and one linear layer, so a variant's step time against ``resnet``'s at the same settings
  gives the graph head's share of a step (the ``head`` column);
- phases ``train`` (the trainer's ``train_step``: forward, BCE, backward, clipping at norm 10, SGD)
  and ``eval`` (forward and sigmoid under ``torch.inference_mode``);
- modes ``released`` (float32, NCHW, batch 18, eager: how ADD-GCN's published code runs) and
  ``fast`` (bf16 autocast, ``channels_last``, ``torch.compile``, fused SGD, cuDNN autotuning, TF32
  for whatever stays float32; batch given, or ``auto`` = the largest that fits);
- inputs ``synthetic`` (a fixed batch already on the device: the model alone) and ``jpeg`` (the real
  input pipeline in the loop: CPU workers decoding and augmenting, ``--loader cpu``, or nvJPEG and
  GPU kernels, ``--loader gpu``; ``dbdgcn_lib.data.gpu``), with the pipeline's own rate beside it.

Timing: warm-up steps first (compilation, cuDNN autotuning, optimizer state), then the timed
steps between two ``torch.cuda.synchronize`` calls. Nothing inside a step reads a value back to
the host (no ``.item()``), so the CPU queues work ahead of the GPU as in real training; the loss is
checked for finiteness once, after the window.

The same code runs on the CPU at tiny sizes (``--backbone tiny --image-size 64``): the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from dbdgcn_lib.cli import CommandError
from dbdgcn_lib.data import gpu as gpu_data
from dbdgcn_lib.data.gpu import make_jpeg_folder
from dbdgcn_lib.models import VARIANTS, build_model, parameter_groups
from dbdgcn_lib.training.trainer import autocast as amp_autocast
from dbdgcn_lib.training.trainer import make_sgd, train_step

PHASES = ("train", "eval")
MODES = ("released", "fast")
INPUTS = ("synthetic", "jpeg")
LOADERS = ("gpu", "cpu")
RELEASED_BATCH = 18
#: Batch sizes ``--batch auto`` tries, largest first (capped by ``--max-batch``).
AUTO_CANDIDATES = tuple(
    int(b) for b in "1024 768 512 384 320 256 224 192 160 128 96 64 48 32 24 18 16 12 8 4 2 1".split()
)
#: ``--batch auto`` keeps a batch whose eager step peaks under this share of the card's memory.
AUTO_MEMORY_SHARE = 0.85
SCHEMA = 1


# --------------------------------------------------------------------------------------------------
# modes
# --------------------------------------------------------------------------------------------------
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
    """``released``: PyTorch's defaults, float32, NCHW, eager. ``fast``: everything on (``compile`` may
    turn ``torch.compile`` off)."""
    if mode == "released":
        return ModeSettings(False, False, False, False, False, False)
    if mode == "fast":
        return ModeSettings(True, True, True if compile is None else compile, True, True, True)
    raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


@contextlib.contextmanager
def backend_flags(settings: ModeSettings, device: torch.device):
    """cuDNN autotuning and TF32 matmuls for the fast mode, PyTorch's defaults otherwise; restored after."""
    old_bench, old_prec = torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()
    try:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = settings.cudnn_benchmark
            torch.set_float32_matmul_precision("high" if settings.tf32 else "highest")
        yield
    finally:
        torch.backends.cudnn.benchmark = old_bench
        torch.set_float32_matmul_precision(old_prec)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _is_oom(err: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(err, oom) or "out of memory" in str(err).lower()


def _is_compiler_error(err: BaseException) -> bool:
    """Raised by torch.compile's machinery (Dynamo, AOTAutograd, Inductor, Triton), or caused by it."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        module = type(err).__module__ or ""
        if module.startswith(("torch._dynamo", "torch._inductor", "torch._functorch", "triton")):
            return True
        err = err.__cause__ or err.__context__
    return False


def environment(device: torch.device) -> dict:
    """Versions and hardware: stored once per JSON file, and the table's first line."""
    import torchvision

    env = {
        "device_name": platform.processor() or platform.machine(),
        "device": str(device),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": None,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            device_name=props.name,
            device_memory_gb=round(props.total_memory / 1e9, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    return env


# --------------------------------------------------------------------------------------------------
# model and steps
# --------------------------------------------------------------------------------------------------
def make_optimizer(model: torch.nn.Module, fused: bool, device: torch.device):
    """SGD with momentum 0.9 on the two parameter groups (the trainer's ``make_sgd``); the fused CUDA
    kernel when asked and available. Returns ``(optimizer, fused_used)``."""
    groups = parameter_groups(model, lr_backbone=0.005, lr_head=0.05, weight_decay=1e-4)
    return make_sgd(groups, lr=0.05, momentum=0.9, fused=fused and device.type == "cuda")


def compile_model(model: torch.nn.Module, scope: str = "parts") -> Callable:
    """``torch.compile`` the model (not the training step), static shapes (``dynamic=False``).

    ``scope="parts"``: the backbone and the head as two graphs. Every variant has the same ResNet
    graph, so after the first variant the compiler's caches serve the backbone and only the small
    head is compiled again: three variants cost about one ResNet-101 compilation, not three.
    ``scope="model"``: one graph for the whole model.
    """
    if scope == "model":
        return torch.compile(model, dynamic=False)
    if scope != "parts":
        raise ValueError(f"compile scope must be 'parts' or 'model', got {scope!r}")
    backbone = torch.compile(model.backbone, dynamic=False)
    head = torch.compile(model.head, dynamic=False)

    def forward(x: torch.Tensor) -> dict:
        x3, x4 = backbone(x)
        return head(x3, x4)

    return forward


class Runner:
    """One model on one device in one mode: ``train_step(x, y)`` and ``eval_step(x)``, no host syncs."""

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
    ):
        self.variant, self.settings, self.device, self.num_classes = variant, settings, device, num_classes
        switches = {"embed_dim": embed_dim} if embed_dim and variant != "resnet" else {}
        model = build_model(variant, num_classes, backbone, pretrained=False, **switches).to(device)
        if settings.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.optimizer, self.fused = make_optimizer(model, settings.fused_sgd, device)
        self.net: Callable = model
        self.compiled = False
        self.compile_scope = compile_scope
        self.scores: list[torch.Tensor] = []

    @property
    def amp(self) -> str:
        return "bf16" if self.settings.amp else "none"

    def compile(self) -> None:
        if self.settings.compile and not self.compiled:
            self.net = compile_model(self.model, self.compile_scope)
            self.compiled = True

    def uncompile(self) -> None:
        """Back to eager (after a compiler failure)."""
        self.net, self.compiled = self.model, False
        self.settings = replace(self.settings, compile=False)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, *, eager: bool = False) -> torch.Tensor:
        """The trainer's own step (BCE on s, clipping at 10, SGD); the loss stays on the device."""
        self.model.train()
        net = self.model if eager else self.net
        return train_step(net, (x, y), self.optimizer, amp=self.amp, grad_clip=10.0)

    def eval_step(self, x: torch.Tensor, *, eager: bool = False) -> torch.Tensor:
        """Probabilities of s, kept on the device as an evaluation would keep them."""
        self.model.eval()
        net = self.model if eager else self.net
        with torch.inference_mode(), amp_autocast(self.device, self.amp):
            scores = torch.sigmoid(net(x)["logits"].float())
        self.scores = [*self.scores[-63:], scores]
        return scores

    def step(self, phase: str, x: torch.Tensor, y: torch.Tensor, *, eager: bool = False) -> torch.Tensor:
        """One train or eval step; ``eager=True`` bypasses the compiled model (memory probes)."""
        return self.train_step(x, y, eager=eager) if phase == "train" else self.eval_step(x, eager=eager)

    def synthetic_batch(
        self, batch: int, image_size: int, seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed normalised-looking batch and COCO-like targets (2.9 labels per image) on the device."""
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, 3, image_size, image_size, generator=gen)
        y = (torch.rand(batch, self.num_classes, generator=gen) < 2.9 / self.num_classes).float()
        fmt = torch.channels_last if self.settings.channels_last else torch.contiguous_format
        return x.to(self.device, memory_format=fmt), y.to(self.device)


def find_max_batch(
    runner: Runner, phase: str, image_size: int, max_batch: int, log: Callable = print
) -> tuple[int, list[dict]]:
    """The largest batch of ``AUTO_CANDIDATES`` (<= ``max_batch``) whose step runs and peaks under
    ``AUTO_MEMORY_SHARE`` of the card, probed eagerly (compiled code needs no more memory, usually
    less) without cuDNN autotuning (that would cost seconds per probed shape).

    Returns ``(batch, probes)``. On the CPU nothing is probed: ``min(max_batch, 8)``.
    """
    device = runner.device
    if device.type != "cuda":
        return min(max_batch, 8), []
    candidates = [b for b in AUTO_CANDIDATES if b <= max_batch] or [max_batch]
    total = torch.cuda.get_device_properties(device).total_memory
    probes: list[dict] = []
    old_bench = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        for b in candidates:
            _free(device)
            torch.cuda.reset_peak_memory_stats(device)
            try:
                x, y = runner.synthetic_batch(b, image_size)
                runner.step(phase, x, y, eager=True)  # compiled code would recompile for each size
                del x, y
                _sync(device)
                peak = torch.cuda.max_memory_allocated(device)
            except Exception as err:  # noqa: BLE001 - OOM comes as several exception types
                if not _is_oom(err):
                    raise
                peak = None
            finally:
                runner.scores.clear()
                runner.optimizer.zero_grad(set_to_none=True)
            fits = peak is not None and peak < AUTO_MEMORY_SHARE * total
            probes.append(
                {"batch": b, "fits": fits, "peak_gb": None if peak is None else round(peak / 1e9, 2)}
            )
            log(
                f"  {phase} batch {b}: " + ("out of memory" if peak is None else f"{peak / 1e9:.1f} GB eager")
            )
            if fits:
                return b, probes
        raise RuntimeError("no batch size fits on this device, not even 1")
    finally:
        torch.backends.cudnn.benchmark = old_bench
        _free(device)


# --------------------------------------------------------------------------------------------------
# one case
# --------------------------------------------------------------------------------------------------
@dataclass
class Case:
    variant: str
    phase: str
    mode: str
    input: str = "synthetic"
    loader: str | None = None
    batch: int = RELEASED_BATCH

    @property
    def name(self) -> str:
        src = self.input if self.input == "synthetic" else f"jpeg/{self.loader}"
        return f"{self.variant} {self.phase} {self.mode} {src} batch {self.batch}"


def _timed(run_one: Callable[[], object], steps: int, max_seconds: float | None, device) -> tuple[int, float]:
    """Up to ``steps`` calls (fewer once ``max_seconds`` of host time have passed) between two syncs."""
    _sync(device)
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        run_one()
        done += 1
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    _sync(device)
    return done, time.perf_counter() - t0


def _prefetch_factor(batch: int, image_size: int, workers: int, log: Callable) -> int:
    """2 batches per worker in flight, or 1 if that would fill more than half of /dev/shm (where
    worker processes hand decoded batches to the main process)."""
    need = 2 * workers * batch * 3 * image_size * image_size
    try:
        free = shutil.disk_usage("/dev/shm").free
    except OSError:
        return 2
    if need > free / 2:
        log(f"  /dev/shm has {free / 1e9:.1f} GB free: 1 batch in flight per worker instead of 2")
        return 1
    return 2


def _jpeg_pipeline(
    case: Case, runner: Runner, paths, image_size: int, workers: int, prefetch: bool, seed: int, log
):
    """(DataLoader, DevicePrefetcher) for a jpeg case: the ``gpu`` or ``cpu`` loader."""
    device, train = runner.device, case.phase == "train"
    targets = gpu_data.random_targets(len(paths), runner.num_classes, seed=seed)
    channels_last = runner.settings.channels_last
    if case.loader == "gpu":
        dataset = gpu_data.JpegBytesDataset(paths, targets)
        tf = gpu_data.GpuBatchTransform(
            image_size, train=train, device=device, channels_last=channels_last, seed=seed
        )
        transform = gpu_data.gpu_loader_transform(tf)
        factor = 2
    elif case.loader == "cpu":
        dataset = gpu_data.JpegDecodeDataset(paths, targets, image_size=image_size, train=train)
        transform = gpu_data.cpu_loader_transform(device, channels_last=channels_last)
        factor = _prefetch_factor(case.batch, image_size, workers, log)
    else:
        raise ValueError(f"unknown loader {case.loader!r}; choose from {', '.join(LOADERS)}")
    loader = gpu_data.make_jpeg_loader(
        dataset,
        case.batch,
        workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=factor,
        seed=seed,
    )
    return loader, gpu_data.DevicePrefetcher(loader, transform, device, overlap=prefetch), factor


def run_case(
    runner: Runner,
    case: Case,
    *,
    image_size: int,
    warmup: int = 3,
    steps: int = 20,
    max_seconds: float | None = None,
    paths: Sequence[Path] | None = None,
    workers: int = 4,
    prefetch: bool = True,
    seed: int = 0,
    log: Callable = print,
) -> dict:
    """Measure one case; returns the measured fields (raises on errors, out-of-memory included).

    jpeg cases: after the warm-up on a fixed batch (so compilation does not run while workers fill
    their queues), the pipeline alone is timed (``loader_img_per_s``: its capacity), then the model
    with the pipeline in the loop. Before that window, as many steps run as the workers can have
    queued ahead (2 per worker), so the timed steps cannot feed on a backlog.
    """
    device = runner.device
    rec: dict = {}
    _free(device)
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
    _sync(device)
    rec["warmup_s"] = round(time.perf_counter() - t0, 2)

    if case.input == "synthetic":
        n, secs = _timed(lambda: step(x, y), steps, max_seconds, device)
    elif case.input == "jpeg":
        if not paths:
            raise ValueError("jpeg input needs image paths")
        del x, y
        loader, prefetcher, factor = _jpeg_pipeline(
            case, runner, paths, image_size, workers, prefetch, seed, log
        )
        it = iter(prefetcher)
        try:
            for _ in range(max(2, workers)):  # worker start-up: the first round arrives all at once
                next(it)
            ln, lsecs = _timed(lambda: next(it), max(steps, 2 * workers), max_seconds, device)
            drain = max(warmup, factor * workers) if case.loader == "cpu" else max(warmup, 2)
            for _ in range(drain):
                step(*next(it))
            n, secs = _timed(lambda: step(*next(it)), steps, max_seconds, device)
        finally:
            del it, prefetcher, loader
            gc.collect()
        rec.update(
            loader_img_per_s=round(ln * case.batch / lsecs, 1),
            workers=workers,
            loader_warmup_steps=drain,
            prefetch=prefetch and device.type == "cuda",
        )
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
    runner.scores.clear()
    return rec


# --------------------------------------------------------------------------------------------------
# results: JSON file and table
# --------------------------------------------------------------------------------------------------
def load_results(path: str | os.PathLike) -> dict:
    """``{"schema", "env", "results": [...]}`` from a JSON file written by ``append_result``."""
    p = Path(path)
    if not p.is_file():
        return {"schema": SCHEMA, "env": None, "results": []}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{p}: not valid JSON ({err}); pass a file that `bench --json` wrote") from None
    if not isinstance(data, dict) or not isinstance(data.setdefault("results", []), list):
        raise ValueError(
            f"{p}: not a bench results file (a JSON object with a 'results' list); pass one "
            "that `python -m dbdgcn_lib bench --json` wrote"
        )
    return data


def append_result(path: str | os.PathLike, record: dict, env: dict) -> None:
    """Append one record; the file is replaced atomically, so a killed run leaves it whole."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = load_results(p)
    data["schema"] = SCHEMA
    data["env"] = data.get("env") or env
    data["results"].append(record)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, p)


_SAME = ("phase", "mode", "input", "batch", "image_size", "backbone", "compile", "device", "torch")


def add_head_share(results: list[dict]) -> list[dict]:
    """Set ``head_share`` = 1 - rate(variant) / rate(resnet) for each synthetic-input record that has
    a ``resnet`` record with the same settings (the latest one): the head's share of a step."""
    ok = [r for r in results if r.get("status") == "ok"]
    for r in ok:
        if r.get("variant") == "resnet" or r.get("input") != "synthetic":
            continue
        base = [b for b in ok if b.get("variant") == "resnet" and all(b.get(k) == r.get(k) for k in _SAME)]
        if base:
            r["head_share"] = round(1.0 - r["img_per_s"] / base[-1]["img_per_s"], 3)
    return results


def _cell(v, width: int, spec: str = "") -> str:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return "-".rjust(width)
    if spec == "rate":  # img/s: no decimals, except for the small numbers of CPU runs
        spec = ",.0f" if abs(v) >= 100 else ".1f"
    return format(v, f">{width}{spec}")


def _share(r: dict) -> str:
    if "head_share" not in r:
        return "-"
    share = 100 * r["head_share"]
    return f"{share:.0f}%" if -100 < share < 100 else "noise"  # CPU runs of 2 steps


def format_table(results: Iterable[dict], env: dict | None = None, *, header: bool = True) -> str:
    """The results as a fixed-width table (head shares filled in); ``env`` gives the first line."""
    rows = add_head_share([dict(r) for r in results])
    lines = []
    if env is None and rows:
        env = {
            "device_name": rows[0].get("device"),
            **{k: rows[0].get(k) for k in ("torch", "torchvision", "cuda")},
        }
    if header and env:
        lines.append(
            f"device: {env.get('device_name')} | torch {env.get('torch')} | "
            f"torchvision {env.get('torchvision')} | CUDA {env.get('cuda') or '-'} | "
            f"{env.get('cpu_count') or os.cpu_count()} CPUs"
        )
    if header:
        head = (
            f"{'variant':<9}{'phase':<6}{'mode':<9}{'input':<10}{'batch':>6}{'comp':>5}{'img/s':>9}"
            f"{'step ms':>9}{'peak GB':>9}{'head':>7}{'loader/s':>10}{'warmup s':>10}  status"
        )
        lines += [head, "-" * len(head)]
    for r in rows:
        src = f"jpeg/{r.get('loader')}" if r.get("input") == "jpeg" else str(r.get("input", "?"))
        status = str(r.get("status", "?")) + (f" [{r['label']}]" if r.get("label") else "")
        lines.append(
            f"{r.get('variant', '?'):<9}{r.get('phase', '?'):<6}{r.get('mode', '?'):<9}{src:<10}"
            f"{_cell(r.get('batch'), 6)}{('y' if r.get('compile') else 'n'):>5}"
            f"{_cell(r.get('img_per_s'), 9, 'rate')}"
            f"{_cell(r.get('step_ms'), 9, '.1f')}{_cell(r.get('peak_mem_gb'), 9, '.2f')}{_share(r):>7}"
            f"{_cell(r.get('loader_img_per_s'), 10, 'rate')}{_cell(r.get('warmup_s'), 10, '.1f')}  {status}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# the matrix
# --------------------------------------------------------------------------------------------------
def _choices(value, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip())
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"bad {what}: {', '.join(bad) or 'none given'}; choose from {', '.join(allowed)}")
    return items


def default_workers() -> int:
    """CPU loader workers: all cores but one (for the training loop), at most 15 (SPEC's measurement)."""
    return max(1, min(15, (os.cpu_count() or 2) - 1))


def _record(case: Case, settings: ModeSettings, env: dict, **extra) -> dict:
    return {
        "variant": case.variant,
        "phase": case.phase,
        "mode": case.mode,
        "input": case.input,
        "loader": case.loader,
        "batch": case.batch,
        **extra,
        "device": env.get("device_name"),
        "torch": env.get("torch"),
        "torchvision": env.get("torchvision"),
        "cuda": env.get("cuda"),
        "amp": "bf16" if settings.amp else "float32",
        "channels_last": settings.channels_last,
        "compile": settings.compile,
        "cudnn_benchmark": settings.cudnn_benchmark and env.get("cuda") is not None,
        "tf32": settings.tf32 and env.get("cuda") is not None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _measure(runner: Runner, case: Case, rec: dict, log: Callable, **kw) -> dict:
    """``run_case`` into ``rec`` with a status; a compiler failure is recorded and retried eagerly."""
    try:
        rec.update(run_case(runner, case, log=log, **kw))
        rec["status"] = "ok" if rec["finite"] else "non-finite"
        return rec
    except Exception as err:  # noqa: BLE001 - one broken case must not end the run
        _free(runner.device)
        if _is_oom(err):
            rec["status"] = "oom"
            return rec
        message = f"{type(err).__name__}: {str(err)[:300]}"
        traceback.print_exc(file=sys.stderr)
        if not (runner.compiled and _is_compiler_error(err)):
            rec["status"] = f"error: {message}"
            return rec
        log(f"  {case.name}: torch.compile failed ({message}); measuring eagerly instead")
        runner.uncompile()
        rec.update(compile=False, compile_error=message)
    try:
        rec.update(run_case(runner, case, log=log, **kw))
        rec["status"] = "ok" if rec["finite"] else "non-finite"
    except Exception as err:  # noqa: BLE001
        _free(runner.device)
        rec["status"] = "oom" if _is_oom(err) else f"error: {type(err).__name__}: {str(err)[:300]}"
    return rec


def run_bench(
    *,
    variants: Sequence[str] | str = ("db_dgcn", "add_gcn", "resnet"),
    phases: Sequence[str] | str = PHASES,
    modes: Sequence[str] | str = MODES,
    inputs: Sequence[str] | str = ("synthetic",),
    loaders: Sequence[str] | str = ("gpu",),
    batch: int | str | None = None,
    eval_batch: int | str | None = None,
    released_batch: int = RELEASED_BATCH,
    max_batch: int = 256,
    image_size: int = 448,
    backbone: str = "resnet101",
    num_classes: int = 80,
    embed_dim: int | None = None,
    device: str | torch.device = "auto",
    warmup: int = 3,
    steps: int = 20,
    max_seconds: float | None = None,
    compile: bool | None = None,
    compile_scope: str = "parts",
    workers: int | None = None,
    gpu_loader_workers: int = 4,
    data: str | os.PathLike | None = None,
    jpeg_dir: str | os.PathLike | None = None,
    jpeg_count: int = 1024,
    prefetch: bool = True,
    label: str = "",
    seed: int = 0,
    json_path: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Measure every (variant, mode, phase, input, loader) case, in that nesting order; return the
    records, each also appended to ``json_path`` as soon as it is measured.

    ``batch``: the fast mode's batch (``eval_batch``: for evaluation, if different), an int or
    ``"auto"`` (the largest that fits, probed once per phase with the first variant and then used
    for all, so variants compare at one batch; an out-of-memory case steps down to the next size),
    or None (``auto`` on CUDA, 2 on the CPU).
    ``released`` uses ``released_batch`` (18). ``compile=False`` runs the fast mode eagerly.
    ``workers``: CPU-loader workers (default ``default_workers()``); the GPU loader's workers only
    read files (``gpu_loader_workers``). ``data``: a folder of JPEGs (COCO's ``val2014/``); without
    it, ``jpeg_count`` photo-like JPEGs are written to ``jpeg_dir`` (default ``.bench/jpeg_N``).
    Errors are recorded and the run goes on; a compiler failure is retried eagerly.
    """
    from dbdgcn_lib.utils import get_device

    variants = _choices(variants, VARIANTS, "variants")
    phases = _choices(phases, PHASES, "phases")
    modes = _choices(modes, MODES, "modes")
    inputs = _choices(inputs, INPUTS, "inputs")
    loaders = _choices(loaders, LOADERS, "loaders")
    dev = get_device(device) if isinstance(device, str) else torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    env = environment(dev)
    workers = default_workers() if workers is None else workers
    if batch is None:
        batch = "auto" if dev.type == "cuda" else 2
    phase_batch = {"train": batch, "eval": batch if eval_batch is None else eval_batch}
    phase_batch = {k: v if v == "auto" else int(v) for k, v in phase_batch.items()}

    paths = None
    if "jpeg" in inputs:
        if data is not None:
            paths = gpu_data.list_jpegs(data, limit=jpeg_count or None)
            log(f"jpeg input: {len(paths)} files from {data}")
        else:
            folder = Path(jpeg_dir) if jpeg_dir else Path(".bench") / f"jpeg_{jpeg_count}"
            t0 = time.perf_counter()
            paths = make_jpeg_folder(folder, jpeg_count)
            kb = sum(p.stat().st_size for p in paths) / len(paths) / 1e3
            secs = time.perf_counter() - t0
            log(f"jpeg input: {len(paths)} photo-like JPEGs in {folder}, {kb:.0f} KB mean ({secs:.1f} s)")

    log(format_table([], env))
    results: list[dict] = []
    auto: dict[str, int] = {}  # phase -> batch found by the first variant
    probes: dict[str, list[dict]] = {}
    common = {"image_size": image_size, "backbone": backbone, "num_classes": num_classes, "label": label}
    if embed_dim:
        common["embed_dim"] = embed_dim
    timing = {"image_size": image_size, "warmup": warmup, "steps": steps, "max_seconds": max_seconds}
    timing.update(paths=paths, prefetch=prefetch, seed=seed)

    def keep(rec: dict) -> None:
        results.append(rec)
        if json_path:
            append_result(json_path, rec, env)
        log(format_table([rec], env, header=False))

    def measure(runner: Runner, case: Case) -> dict:
        extra = {"batch_auto": case.mode == "fast" and phase_batch[case.phase] == "auto", **common}
        if extra["batch_auto"] and probes.get(case.phase):
            extra["auto_probes"] = probes[case.phase]
        if runner.settings.compile:
            extra["compile_scope"] = compile_scope
        if case.phase == "train":
            extra["fused_sgd"] = runner.fused
        n_workers = gpu_loader_workers if case.loader == "gpu" else workers
        return _measure(
            runner, case, _record(case, runner.settings, env, **extra), log, workers=n_workers, **timing
        )

    for variant in variants:
        for mode in modes:
            settings = mode_settings(mode, compile=compile)
            runner = None
            with backend_flags(settings, dev):
                try:
                    runner = Runner(
                        variant, settings, dev, backbone=backbone, num_classes=num_classes,
                        embed_dim=embed_dim, compile_scope=compile_scope,
                    )  # fmt: skip
                    for phase in phases:
                        if mode == "fast" and phase_batch[phase] == "auto" and phase not in auto:
                            auto[phase], probes[phase] = find_max_batch(
                                runner, phase, image_size, max_batch, log
                            )
                        for inp, loader in [
                            (i, ld) for i in inputs for ld in (loaders if i == "jpeg" else (None,))
                        ]:
                            b = released_batch if mode == "released" else auto.get(phase, phase_batch[phase])
                            rec = measure(runner, Case(variant, phase, mode, inp, loader, b))
                            smaller = [c for c in AUTO_CANDIDATES if c < b]
                            if rec["status"] == "oom" and rec["batch_auto"] and smaller:
                                keep(rec)  # compiled code needed more than the eager probe: one size down
                                auto[phase] = smaller[0]
                                log(f"  out of memory at batch {b}: batch {smaller[0]} from now on")
                                rec = measure(runner, Case(variant, phase, mode, inp, loader, smaller[0]))
                            keep(rec)
                except Exception as err:  # noqa: BLE001 - a variant that fails to build must not end the run
                    traceback.print_exc(file=sys.stderr)
                    rec = _record(Case(variant, "-", mode), settings, env, **common)
                    rec["status"] = f"error: {type(err).__name__}: {str(err)[:300]}"
                    keep(rec)
                finally:
                    del runner
                    _free(dev)
    return results


def check_targets(
    results: Iterable[dict], *, image_size: int = 448, backbone: str = "resnet101"
) -> list[dict]:
    """Issue 6's targets against measured records (``value`` None: not measured by these results).

    The 3x comparison takes ADD-GCN's ``released`` rate on synthetic input, i.e. its model alone
    without any loader: an upper bound for the released code, so the ratio is a conservative one.
    """
    ok = [
        r
        for r in results
        if r.get("status") == "ok" and r.get("image_size") == image_size and r.get("backbone") == backbone
    ]

    def best(pred, key="img_per_s", pick=max):
        rows = [r for r in ok if pred(r) and r.get(key) is not None]
        return pick(rows, key=lambda r: r[key]) if rows else None

    def row(name, rec, value, target, passed, how=""):
        where = ""
        if rec is not None:
            src = f"jpeg/{rec.get('loader')}" if rec.get("input") == "jpeg" else rec.get("input")
            comp = "compiled" if rec.get("compile") else "eager"
            where = f"{rec['variant']} {rec['phase']} {rec['mode']} {src} batch {rec['batch']} {comp}"
        return {"target": name, "value": value, "goal": target, "passed": passed, "from": where + how}

    out = []
    train_jpeg = best(lambda r: r["variant"] == "db_dgcn" and r["phase"] == "train" and r["input"] == "jpeg")
    v = train_jpeg["img_per_s"] if train_jpeg else None
    out.append(
        row(
            "db_dgcn train img/s, real JPEG pipeline",
            train_jpeg,
            v,
            ">= 1,000",
            None if v is None else v >= 1000,
        )
    )
    released = best(
        lambda r: r["variant"] == "add_gcn" and r["phase"] == "train" and r["mode"] == "released"
        and r["input"] == "synthetic"
    )  # fmt: skip
    ratio = round(v / released["img_per_s"], 2) if v and released else None
    how = f" vs add_gcn released {released['img_per_s']:,.0f} img/s" if released else ""
    out.append(
        row(
            "  ... over add_gcn as released",
            train_jpeg,
            ratio,
            ">= 3x",
            None if ratio is None else ratio >= 3,
            how,
        )
    )
    for inp in ("synthetic", "jpeg"):
        ev = best(
            lambda r, i=inp: (
                r["variant"] == "db_dgcn" and r["phase"] == "eval" and r["mode"] == "fast" and r["input"] == i
            )
        )
        v = ev["img_per_s"] if ev else None
        out.append(
            row(f"db_dgcn eval img/s ({inp} input)", ev, v, ">= 2,500", None if v is None else v >= 2500)
        )
    mem = best(
        lambda r: r["variant"] == "db_dgcn" and r["phase"] == "train" and r.get("amp") == "bf16"
        and r["batch"] == 18 and r.get("peak_mem_gb") is not None,
        key="peak_mem_gb", pick=min,
    )  # fmt: skip
    v = mem["peak_mem_gb"] if mem else None
    out.append(row("db_dgcn train batch 18 bf16 peak GB", mem, v, "< 8", None if v is None else v < 8))
    return out


def format_targets(rows: list[dict]) -> str:
    lines = ["targets (issue 6):"]
    for r in rows:
        verdict = "not measured" if r["passed"] is None else ("PASS" if r["passed"] else "FAIL")
        value = "-" if r["value"] is None else f"{r['value']:,}"
        lines.append(f"  {r['target']:<42}{value:>10}  goal {r['goal']:<9} {verdict:<13} {r['from']}")
    return "\n".join(lines)


COCO_TRAIN_IMAGES = 82_081  # train2014 images with at least one label
COCO_VAL_IMAGES = 40_137  # val2014 images with at least one label


def paper_run_hours(train_img_per_s: float, eval_img_per_s: float, *, epochs: int = 50) -> float:
    """Hours for ``epochs`` epochs of COCO 2014 at these rates: each epoch trains on 82,081 images and
    evaluates 40,137."""
    return epochs * (COCO_TRAIN_IMAGES / train_img_per_s + COCO_VAL_IMAGES / eval_img_per_s) / 3600


def paper_run_estimates(results: Iterable[dict], *, epochs: int = 50) -> list[dict]:
    """Hours for ``epochs`` epochs of COCO 2014 (train on 82,081 images + evaluate 40,137 each epoch).

    One row per (mode, batch, compile, input) setting of db_dgcn at 448 that has both a train and an
    eval rate, taking each setting's best train and eval rows.
    """
    ok = [r for r in results if r.get("status") == "ok" and r.get("variant") == "db_dgcn"]
    ok = [r for r in ok if r.get("image_size") == 448 and r.get("backbone") == "resnet101"]
    rates: dict[tuple, dict[str, float]] = {}
    for r in ok:
        src = f"jpeg/{r.get('loader')}" if r.get("input") == "jpeg" else r.get("input")
        key = (r.get("mode"), r.get("batch"), bool(r.get("compile")), src)
        phase = rates.setdefault(key, {})
        phase[r["phase"]] = max(phase.get(r["phase"], 0.0), r["img_per_s"])
    rows = []
    for (mode, batch, compiled, src), phase in sorted(rates.items(), key=str):
        if "train" in phase and "eval" in phase:
            rows.append(
                {
                    "setting": f"{mode} batch {batch} {'compiled' if compiled else 'eager'} {src}",
                    "train_img_per_s": phase["train"],
                    "eval_img_per_s": phase["eval"],
                    "hours": paper_run_hours(phase["train"], phase["eval"], epochs=epochs),
                }
            )
    return rows


def format_estimates(rows: list[dict], *, epochs: int = 50) -> str:
    lines = [
        f"a {epochs}-epoch run on COCO 2014 (db_dgcn, 448; "
        f"train {COCO_TRAIN_IMAGES:,} + eval {COCO_VAL_IMAGES:,} per epoch):"
    ]
    if not rows:
        lines.append("  not measured (needs db_dgcn train and eval rows at 448 with resnet101)")
    for r in rows:
        lines.append(
            f"  {r['setting']:<42} train {r['train_img_per_s']:>7,.0f}  "
            f"eval {r['eval_img_per_s']:>7,.0f} img/s  -> {r['hours']:5.2f} h"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------
def _batch_arg(value: str):
    if value == "auto":
        return value
    try:
        b = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch must be an integer or 'auto', got {value!r}") from None
    if b < 1:
        raise argparse.ArgumentTypeError("batch must be >= 1")
    return b


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="train / eval img/s, peak memory and the head's share, released vs fast mode",
        description="Throughput benchmark: " + __doc__.split("\n\n")[1].split(":", 1)[0].strip() + ".",
        epilog="Example (the GPU check): python -m dbdgcn_lib bench --modes fast --input synthetic,jpeg "
        "--loader gpu,cpu --batch auto --json bench.json",
    )
    p.add_argument("--variants", default="db_dgcn,add_gcn,resnet", help="comma list (default %(default)s)")
    p.add_argument("--phases", default="train,eval", help="comma list of train, eval (default %(default)s)")
    p.add_argument(
        "--modes", default="released,fast", help="comma list of released, fast (default %(default)s)"
    )
    p.add_argument("--input", default="synthetic", help="comma list of synthetic, jpeg (default %(default)s)")
    p.add_argument(
        "--loader", default="gpu", help="jpeg pipeline(s): gpu (nvJPEG), cpu (workers) (default gpu)"
    )
    p.add_argument("--workers", type=int, default=None, help="CPU-loader workers (default: CPUs - 1, max 15)")
    p.add_argument("--gpu-loader-workers", type=int, default=4, help="file-reading workers of the GPU loader")
    p.add_argument(
        "--data", default=None, help="a folder of JPEGs, e.g. data/coco/val2014 (default: generated)"
    )
    p.add_argument("--jpeg-dir", default=None, help="where generated JPEGs go (default .bench/jpeg_N)")
    p.add_argument("--jpeg-count", type=int, default=1024, help="JPEGs to generate, or to read from --data")
    p.add_argument("--image-size", type=int, default=448)
    p.add_argument(
        "--batch", type=_batch_arg, default=None, help="fast-mode batch: N or auto (default auto on CUDA)"
    )
    p.add_argument(
        "--eval-batch", type=_batch_arg, default=None, help="fast-mode eval batch (default: --batch)"
    )
    p.add_argument("--released-batch", type=int, default=RELEASED_BATCH, help="default %(default)s")
    p.add_argument(
        "--max-batch", type=int, default=256, help="largest batch --batch auto tries (default 256)"
    )
    p.add_argument("--backbone", default="resnet101", help="resnet18/34/50/101, or tiny for CPU runs")
    p.add_argument("--num-classes", type=int, default=80)
    p.add_argument("--embed-dim", type=int, default=None, help="D of the graph head (default: the variant's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first; compilation happens here")
    p.add_argument("--steps", type=int, default=20, help="timed steps per case (default 20)")
    p.add_argument("--max-seconds", type=float, default=None, help="end a case's timed window after this")
    p.add_argument(
        "--no-compile", dest="compile", action="store_false", default=None, help="fast mode, eager"
    )
    p.add_argument("--compile-scope", choices=("parts", "model"), default="parts", help="see compile_model()")
    p.add_argument("--no-prefetch", dest="prefetch", action="store_false", help="no side-stream staging")
    p.add_argument("--label", default="", help="a tag stored with each result (shown in the table)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="append each result to this JSON file")
    p.add_argument("--show", metavar="JSON", default=None, help="print the table of a results file and exit")
    p.add_argument("--targets", action="store_true", help="with --show: also check issue 6's targets")
    p.set_defaults(func=run_bench_command)


def run_bench_command(args: argparse.Namespace) -> int:
    if args.show:
        if not Path(args.show).is_file():
            raise CommandError(f"no results file {args.show}")
        try:
            data = load_results(args.show)
        except ValueError as err:
            raise CommandError(str(err)) from None
        print(format_table(data["results"], data.get("env")))
        if args.targets:
            print()
            print(format_targets(check_targets(data["results"])))
            print()
            print(format_estimates(paper_run_estimates(data["results"])))
        return 0
    if args.data is not None and not Path(args.data).is_dir():
        raise CommandError(f"--data {args.data}: no such folder")
    try:
        results = run_bench(
            variants=args.variants,
            phases=args.phases,
            modes=args.modes,
            inputs=args.input,
            loaders=args.loader,
            batch=args.batch,
            eval_batch=args.eval_batch,
            released_batch=args.released_batch,
            max_batch=args.max_batch,
            image_size=args.image_size,
            backbone=args.backbone,
            num_classes=args.num_classes,
            embed_dim=args.embed_dim,
            device=args.device,
            warmup=args.warmup,
            steps=args.steps,
            max_seconds=args.max_seconds,
            compile=args.compile,
            compile_scope=args.compile_scope,
            workers=args.workers,
            gpu_loader_workers=args.gpu_loader_workers,
            data=args.data,
            jpeg_dir=args.jpeg_dir,
            jpeg_count=args.jpeg_count,
            prefetch=args.prefetch,
            label=args.label,
            seed=args.seed,
            json_path=args.json,
            log=lambda s: print(s, flush=True),
        )
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from err
    print()
    print(format_table(results))
    if args.json:
        print(f"results appended to {args.json}")
    return 0 if any(r.get("status") == "ok" for r in results) else 1


__all__ = [
    "AUTO_CANDIDATES",
    "Case",
    "ModeSettings",
    "Runner",
    "add_head_share",
    "check_targets",
    "format_targets",
    "format_estimates",
    "paper_run_estimates",
    "append_result",
    "compile_model",
    "default_workers",
    "environment",
    "find_max_batch",
    "format_table",
    "load_results",
    "make_jpeg_folder",
    "mode_settings",
    "register",
    "run_bench",
    "run_case",
]
