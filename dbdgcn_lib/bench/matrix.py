"""The benchmark matrix: every (variant, mode, phase, input, pipeline) case of a ``BenchConfig``.

``run_bench(config)`` measures the cases on one device in that nesting order (``runner.measure``),
prints each row as it comes and appends it to ``config.json_path`` at once (``results``), so a run
killed half-way keeps what it measured. A case that fails is recorded with its error and the run
goes on.

- variants ``db_dgcn``, ``add_gcn``, ``resnet``: ``resnet`` is the backbone alone plus a global max
  pool and one linear layer, so a variant's rate against ``resnet``'s at the same settings gives the
  graph head's share of a step;
- modes ``released`` (float32, NCHW, eager, batch 18) and ``fast`` (bf16, channels_last, compiled,
  fused SGD, cuDNN autotuning, TF32; the batch given, or ``auto``: the largest that fits);
- inputs ``synthetic`` (a fixed batch on the device: the model alone) and ``jpeg`` (the trainer's
  input ``pipelines``, ``pil`` / ``uint8`` / ``nvjpeg``, in the loop).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from dbdgcn_lib.bench.results import append_result, bench_record, environment, format_table
from dbdgcn_lib.bench.runner import (
    AUTO_CANDIDATES,
    COMPILE_SCOPES,
    INPUTS,
    MODES,
    PHASES,
    RELEASED_BATCH,
    Case,
    Runner,
    backend,
    find_max_batch,
    free_memory,
    measure,
    mode_settings,
)
from dbdgcn_lib.checks import (
    BATCH_SIZE,
    EMBED_DIM,
    IMAGE_SIZE,
    NUM_CLASSES,
    SEED,
    THREADS,
    WORKERS,
    Rule,
    boolean,
    choice,
    integer,
    number,
)
from dbdgcn_lib.data import ImageFiles, make_jpeg_folder
from dbdgcn_lib.models import BACKBONES, VARIANTS
from dbdgcn_lib.training.config import INPUT_PIPELINES
from dbdgcn_lib.utils import get_device


def option(default, help: str, **metadata):
    """A ``BenchConfig`` field with its help text; ``flags`` in ``metadata``: its command-line names
    (default ``--field-name``)."""
    return field(default=default, metadata={"help": help, **metadata})


def default_workers() -> int:
    """Input workers: all cores but one (for the loop itself), at most 15."""
    return max(1, min(15, (os.cpu_count() or 2) - 1))


@dataclass
class BenchConfig:
    """What one ``run_bench`` measures and how; lists may be given as comma-separated text."""

    variants: tuple[str, ...] = option(("db_dgcn", "add_gcn", "resnet"), f"models: {', '.join(VARIANTS)}")
    phases: tuple[str, ...] = option(PHASES, "train (the trainer's step) and/or eval (forward + sigmoid)")
    modes: tuple[str, ...] = option(
        MODES, "released (float32, NCHW, eager) and/or fast (bf16, channels_last, compiled)"
    )
    inputs: tuple[str, ...] = option(
        ("synthetic",),
        "synthetic (a fixed batch on the device) and/or jpeg (an input pipeline in the loop)",
        flags=("--inputs", "--input"),
    )
    pipelines: tuple[str, ...] = option(
        ("uint8",),
        f"input pipelines of jpeg cases: {', '.join(INPUT_PIPELINES)} (see dbdgcn_lib.training.inputs)",
        flags=("--pipelines", "--pipeline"),
    )
    batch: int | str | None = option(
        None, "fast-mode batch: N, or auto = the largest that fits (default: auto on CUDA, 2 elsewhere)"
    )
    eval_batch: int | str | None = option(None, "fast-mode evaluation batch: N or auto (default: batch)")
    released_batch: int = option(RELEASED_BATCH, "the released mode's batch")
    max_batch: int = option(256, "the largest batch auto tries")
    image_size: int = option(448, "input side in pixels")
    backbone: str = option("resnet101", f"one of {', '.join(BACKBONES)} (tiny: CPU runs)")
    num_classes: int = option(80, "classes")
    embed_dim: int | None = option(None, "D of the graph head (none: the variant's)")
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    warmup: int = option(3, "untimed steps first (compilation happens here)")
    steps: int = option(20, "timed steps per case")
    max_seconds: float | None = option(None, "end a case's timed window after this many seconds")
    compile: bool = option(True, "the fast mode compiles (false: fast and eager)")
    compile_scope: str = option(
        "parts", "parts: backbone and head as two graphs; model: one graph, as the trainer trains"
    )
    workers: int | None = option(None, "workers of the pil and uint8 pipelines (none: CPUs - 1, at most 15)")
    nvjpeg_workers: int = option(
        4, "file-reading workers of the nvjpeg pipeline", flags=("--nvjpeg-workers", "--gpu-loader-workers")
    )
    data: str | None = option(
        None, "a folder of JPEGs, e.g. data/coco/val2014 (none: generated photo-like ones)"
    )
    jpeg_dir: str | None = option(None, "where generated JPEGs go (none: .bench/jpeg_N)")
    jpeg_count: int = option(1024, "JPEGs to generate, or to read from data")
    threads: int | None = option(
        None, "CPU threads for tensor maths (none: torch's default; 1 on a busy CPU)"
    )
    label: str = option("", "a tag stored with each result (shown in the table)")
    seed: int = option(0, "seed of the models, the batches and the pipelines")
    json_path: str | None = option(None, "append each result to this results file", flags=("--json",))

    def __post_init__(self):
        for name, allowed in (
            ("variants", VARIANTS),
            ("phases", PHASES),
            ("modes", MODES),
            ("inputs", INPUTS),
            ("pipelines", INPUT_PIPELINES),
        ):
            setattr(self, name, _choices(getattr(self, name), allowed, name))
        batch = Rule(lambda v: v == "auto" or BATCH_SIZE.ok(v), f"{BATCH_SIZE.hint} or auto").or_none()
        rules = {
            "batch": batch,
            "eval_batch": batch,
            "released_batch": BATCH_SIZE,
            "max_batch": BATCH_SIZE,
            "image_size": IMAGE_SIZE,
            "backbone": choice(BACKBONES),
            "num_classes": NUM_CLASSES,
            "embed_dim": EMBED_DIM.or_none(),
            "warmup": integer(0, 10_000),
            "steps": integer(1, 100_000),
            "max_seconds": number(0, open_low=True, optional=True),
            "compile": boolean(),
            "compile_scope": choice(COMPILE_SCOPES),
            "workers": WORKERS.or_none(),
            "nvjpeg_workers": WORKERS,
            "jpeg_count": integer(1, 1_000_000),
            "threads": THREADS.or_none(),
            "seed": SEED,
        }
        for name, rule in rules.items():
            rule.check(name, getattr(self, name))

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _choices(value, allowed, what: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip())
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"bad {what}: {', '.join(bad) or 'none given'}; choose from {', '.join(allowed)}")
    return items


def _jpeg_files(config: BenchConfig, log: Callable) -> ImageFiles:
    """``config.data``'s JPEGs, or ``jpeg_count`` photo-like ones written (once) to ``jpeg_dir``."""
    if config.data is not None:
        files = ImageFiles.from_folder(
            config.data, limit=config.jpeg_count, num_classes=config.num_classes, seed=config.seed
        )
        log(f"jpeg input: {len(files.image_paths)} files from {config.data}")
        return files
    folder = Path(config.jpeg_dir) if config.jpeg_dir else Path(".bench") / f"jpeg_{config.jpeg_count}"
    t0 = time.perf_counter()
    make_jpeg_folder(folder, config.jpeg_count)
    files = ImageFiles.from_folder(
        folder, limit=config.jpeg_count, num_classes=config.num_classes, seed=config.seed
    )
    kb = sum(p.stat().st_size for p in files.image_paths) / len(files.image_paths) / 1e3
    log(
        f"jpeg input: {len(files.image_paths)} photo-like JPEGs in {folder}, {kb:.0f} KB mean "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    return files


def run_bench(config: BenchConfig, log: Callable[[str], None] = print) -> list[dict]:
    """Measure every case of ``config``; return the records (see ``results``).

    ``batch="auto"`` is probed once per phase with the first variant and then used for all, so
    variants compare at one batch; a compiled case that still runs out of memory steps down one
    size. The ``released`` mode always uses ``released_batch``. ``threads`` holds while it runs.
    """
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _run_cases(config, log)
    finally:
        torch.set_num_threads(threads)


def _run_cases(config: BenchConfig, log: Callable[[str], None]) -> list[dict]:
    dev = get_device(config.device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    env = environment(dev)
    workers = default_workers() if config.workers is None else config.workers
    batch = config.batch if config.batch is not None else ("auto" if dev.type == "cuda" else 2)
    phase_batch = {"train": batch, "eval": batch if config.eval_batch is None else config.eval_batch}
    files = _jpeg_files(config, log) if "jpeg" in config.inputs else None
    sources = [(i, p) for i in config.inputs for p in (config.pipelines if i == "jpeg" else (None,))]
    timing = dict(
        image_size=config.image_size,
        warmup=config.warmup,
        steps=config.steps,
        max_seconds=config.max_seconds,
        files=files,
        seed=config.seed,
    )
    common = {
        "image_size": config.image_size,
        "backbone": config.backbone,
        "num_classes": config.num_classes,
        "label": config.label,
    }
    if config.embed_dim:
        common["embed_dim"] = config.embed_dim

    log(format_table([], env))
    results: list[dict] = []
    auto: dict[str, int] = {}  # phase -> the batch found with the first variant
    probes: dict[str, list[dict]] = {}

    def keep(rec: dict) -> None:
        results.append(rec)
        if config.json_path:
            append_result(config.json_path, rec, env)
        log(format_table([rec], env, header=False))

    def case_record(runner: Runner, case: Case) -> dict:
        rec = bench_record(
            variant=case.variant,
            phase=case.phase,
            mode=case.mode,
            input=case.input,
            pipeline=case.pipeline,
            batch=case.batch,
            settings=runner.settings,
            env=env,
        )
        rec.update(common, batch_auto=case.mode == "fast" and phase_batch[case.phase] == "auto")
        if rec["batch_auto"] and probes.get(case.phase):
            rec["auto_probes"] = probes[case.phase]
        if runner.settings.compile:
            rec["compile_scope"] = config.compile_scope
        if case.phase == "train":
            rec["fused_sgd"] = runner.fused
        return rec

    def run(runner: Runner, case: Case) -> dict:
        n_workers = config.nvjpeg_workers if case.pipeline == "nvjpeg" else workers
        return measure(runner, case, case_record(runner, case), log, workers=n_workers, **timing)

    for variant in config.variants:
        for mode in config.modes:
            settings = mode_settings(mode, compile=config.compile)
            runner = None
            with backend(settings, dev):
                try:
                    runner = Runner(
                        variant,
                        settings,
                        dev,
                        backbone=config.backbone,
                        num_classes=config.num_classes,
                        embed_dim=config.embed_dim,
                        compile_scope=config.compile_scope,
                        seed=config.seed,
                    )
                    for phase in config.phases:
                        if mode == "fast" and phase_batch[phase] == "auto" and phase not in auto:
                            auto[phase], probes[phase] = find_max_batch(
                                runner, phase, config.image_size, config.max_batch, log
                            )
                        for inp, pipeline in sources:
                            b = (
                                config.released_batch
                                if mode == "released"
                                else auto.get(phase, phase_batch[phase])
                            )
                            rec = run(runner, Case(variant, phase, mode, inp, pipeline, b))
                            smaller = [c for c in AUTO_CANDIDATES if c < b]
                            if rec["status"] == "oom" and rec["batch_auto"] and smaller:
                                keep(rec)  # compiled code needed more than the eager probe: one size down
                                auto[phase] = smaller[0]
                                log(f"  out of memory at batch {b}: batch {smaller[0]} from now on")
                                rec = run(runner, Case(variant, phase, mode, inp, pipeline, smaller[0]))
                            keep(rec)
                except Exception as err:  # noqa: BLE001 - a variant that fails to build must not end the run
                    traceback.print_exc()
                    rec = bench_record(
                        variant=variant,
                        phase="-",
                        mode=mode,
                        input="-",
                        pipeline=None,
                        batch=None,
                        settings=settings,
                        env=env,
                    )
                    rec.update(common, status=f"error: {type(err).__name__}: {str(err)[:300]}")
                    keep(rec)
                finally:
                    del runner
                    free_memory(dev)
    return results
