"""The one GPU check: correctness on the GPU, the Trainer on CUDA, the trainer's speed against the bench
loop, and the bench matrix; every check and target printed PASS / FAIL.

    python benchmarks/gpu_check.py [--parts correct,trainer,speed,bench] [--budget 480] [--out DIR] [--dry]
    python benchmarks/gpu_check.py --show RESULTS.json [...]     # a results file's table, targets, estimates

Parts (their steps run in this order while the budget lasts; a step that needs more time than is
left is skipped, and the skip recorded):

- ``correct``: every variant (ResNet-101, random weights) in bf16 + channels_last against its float32
  forward and a bf16 ``train_step``; the metrics on CUDA tensors against numpy; nvJPEG against CPU
  decoding (grey and CMYK files too) and the GPU transforms against the CPU ones; the tests that need
  CUDA (``pytest -k cuda``; not in a dry run);
- ``trainer``: the ``Trainer`` with the ``smoke`` preset on CUDA (bf16, channels_last, fused SGD), once
  per input pipeline: it trains and writes its run folder, ``evaluate`` on its checkpoint gives its mAP
  again, it learns (not in a dry run), and the three pipelines feed it the same labels and nearly the
  same pixels;
- ``speed``: the ``Trainer`` with ``paper`` at batch 18 (compiled, CUDA graphs) and ``paper_large`` at
  batch 144 (compiled), then the bench loop (``bench_loop.py``) at batch 144 on the same files, with the
  ``uint8`` pipeline on photo-like COCO-sized JPEGs (written first, kept under ``.bench/`` for a rerun);
- ``bench``: the bench loop's matrix: every variant at batch 18 as released and fast without
  compilation (the 3x baseline, the memory target, the head's share), then db_dgcn fast and compiled at
  the large batches, alone and with the ``uint8`` and ``nvjpeg`` pipelines, and resnet beside it.

Writes ``DIR/results.json`` (every record as it is measured, in ``dbdgcn_lib.bench``'s format) and
``DIR/summary.txt`` (the table, the checks, the targets of ``report.py``, the trainer's 50-epoch
estimates, each step's time; rewritten after every step, so a killed run keeps what it measured).
Exit status 1 if a check failed or a step crashed. ``--dry``: the same steps on the CPU at toy sizes,
a check of this script, not of a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from bench_loop import Case, free_memory, measure
from report import (
    check_targets,
    environment,
    format_estimates,
    format_table,
    format_targets,
    machine_fields,
    run_estimates,
    trainer_records,
)

from dbdgcn_lib.bench import append_result, load_results
from dbdgcn_lib.cli import main as cli_main
from dbdgcn_lib.data import (
    IMAGENET_STD,
    CocoMultiLabel,
    GpuBatchTransform,
    ImageFiles,
    decode_jpegs,
    ensure_synthetic,
    make_coco_like,
    make_jpeg_folder,
    make_synthetic,
    read_image_file,
)
from dbdgcn_lib.metrics import average_precision, multilabel_metrics
from dbdgcn_lib.models import VARIANTS, build_model
from dbdgcn_lib.training import (
    INPUT_PIPELINES,
    PRESETS,
    Trainer,
    format_estimate,
    get_preset,
    loader_for,
    random_baseline_map,
    train_step,
)
from dbdgcn_lib.utils import write_text_atomic

PARTS = ("correct", "trainer", "speed", "bench")
ADD_GCN = PRESETS["add_gcn"]
GREY_LEVEL = 1.0 / (255 * min(IMAGENET_STD))  # one grey level after normalisation (the widest channel)
#: The smoke preset's val mAP after 2 epochs on the embedded set, seeds 0-4 on the CPU (float32, pil):
#: 60.4 to 64.2 against 18.1 for random scores. "Learns" asks for random + 20: 22 points under the
#: lowest seed, six times the range over seeds.
LEARNS_MARGIN = 20.0


@dataclass(frozen=True)
class Sizes:
    """What the check runs at: a GPU's sizes, or toy ones for a dry run on the CPU."""

    device: str
    model: dict  # TrainConfig overrides for every run: the model and the machine
    image_size: int
    jpeg_size: tuple[int, int]  # (width, height) of the photo-like JPEGs
    train_images: int  # photo-like JPEGs of the speed and bench parts
    val_images: int
    small_batch: int  # the paper's
    large_batch: int  # paper_large's
    eval_batch: int
    small_steps: int  # the trainer's timed steps at the paper's batch
    bench_steps: int
    bench_warmup: int
    workers: int
    compile: bool
    smoke: dict  # overrides of the smoke preset (the trainer part)

    @property
    def backbone(self) -> str:
        return self.model.get("backbone", "resnet101")

    @property
    def embed_dim(self) -> int | None:
        return self.model.get("switches", {}).get("embed_dim")


_WORKERS = max(1, min(15, (os.cpu_count() or 2) - 1))  # input workers: every core but the loop's
GPU = Sizes(
    device="cuda",
    model={},
    image_size=448,
    jpeg_size=(640, 480),
    train_images=6912,  # 48 batches of 144
    val_images=4096,
    small_batch=18,
    large_batch=144,
    eval_batch=256,
    small_steps=300,
    bench_steps=15,
    bench_warmup=3,
    workers=_WORKERS,
    compile=True,
    smoke={"epochs": 2, "workers": min(4, _WORKERS), "channels_last": True, "amp": "auto"},
)
DRY = Sizes(
    device="cpu",
    model={"backbone": "tiny", "switches": {"embed_dim": 16}, "threads": 1},
    image_size=32,
    jpeg_size=(96, 72),
    train_images=16,
    val_images=8,
    small_batch=2,
    large_batch=4,
    eval_batch=4,
    small_steps=3,
    bench_steps=1,
    bench_warmup=1,
    workers=0,
    compile=False,
    smoke={
        "epochs": 1,
        "workers": 0,
        "threads": 1,
        "image_size": 64,
        "batch_size": 8,
        "switches": {"embed_dim": 16},
    },
)


class Checks:
    """``checks(name, ok, detail)`` prints one PASS / FAIL line and keeps it for the summary."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failures: list[str] = []

    def __call__(self, name: str, ok: bool, detail: str = "") -> bool:
        self.lines.append(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}")
        print(self.lines[-1], flush=True)
        if not ok:
            self.failures.append(name)
        return bool(ok)


@dataclass
class Step:
    """One step of a part. ``least_s``: the seconds it needs at least; ``fields``: what its record
    says when it is skipped or fails (a step that measures), or None (a step that checks: a FAIL line)."""

    name: str
    least_s: float
    run: Callable[[], object]
    fields: dict | None = None


@dataclass
class Budget:
    """``seconds`` from ``start``; ``left()`` is what remains."""

    seconds: float
    start: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)


def run_steps(
    steps: list[Step], budget: Budget, failed: Callable[[Step, str], None], after: Callable[[list[str]], None]
) -> list[str]:
    """Run each step that fits in what is left of ``budget``; one line per step (its time, its skip
    or its error). ``failed(step, status)`` hears of each skip and error, and the run goes on;
    ``after(lines)`` follows every step."""
    lines: list[str] = []
    for step in steps:
        left = budget.left()
        if left < step.least_s:
            status = f"skipped: {left:.0f} s of the budget left, needs {step.least_s:.0f}"
            failed(step, status)
            lines.append(f"{step.name}: {status}")
        else:
            print(f"== {step.name} ({left:.0f} s of the budget left)", flush=True)
            start = time.monotonic()
            try:
                step.run()
                outcome = "done"
            except Exception as err:  # noqa: BLE001 - one failed step must not lose the others
                traceback.print_exc()
                outcome = f"error: {type(err).__name__}: {str(err)[:200]}"
                failed(step, outcome)
            lines.append(f"{step.name}: {outcome} in {time.monotonic() - start:.0f} s")
        print(f"== {lines[-1]}", flush=True)
        after(lines)
    return lines


class GpuCheck:
    """The parts' steps on one device; records and the summary go to ``out``."""

    def __init__(self, sizes: Sizes, out: Path, *, budget: float, dry: bool):
        self.sizes, self.out, self.dry = sizes, out, dry
        self.device = torch.device(sizes.device)
        self.results = out / "results.json"
        self.checks = Checks()
        self.budget = Budget(budget)

    @cached_property
    def env(self) -> dict:
        return environment(self.device)

    def keep(self, record: dict) -> None:
        append_result(self.results, record, self.env)

    def least(self, seconds: float) -> float:
        """A step's least time on a GPU (cold compiler caches); a dry run never skips."""
        return 0.0 if self.dry else seconds

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def keep_trainer(self, trainer: Trainer, *, run: str, mode: str) -> None:
        """A trainer's records, with the peak memory since ``reset_peak``."""
        peak = round(torch.cuda.max_memory_allocated() / 1e9, 2) if self.device.type == "cuda" else None
        for record in trainer_records(trainer, self.env, run=run, mode=mode, peak_mem_gb=peak):
            self.keep(record)

    @cached_property
    def coco_like(self) -> Path:
        """Photo-like JPEGs in COCO format with random labels (kept under .bench/ for a rerun)."""
        s = self.sizes
        root = Path(".bench") / f"coco-like-{s.train_images}-{s.val_images}-{s.jpeg_size[0]}"
        start = time.monotonic()
        splits = {"train": s.train_images, "val": s.val_images}
        make_coco_like(root, splits, size=s.jpeg_size, workers=None if s.workers else 1)
        print(f"data: {s.train_images} + {s.val_images} JPEGs in {root} ({time.monotonic() - start:.0f} s)")
        return root

    @cached_property
    def synthetic(self) -> Path:
        """The embedded dataset the trainer part trains on (the tiny one in a dry run)."""
        return make_synthetic(self.out / "synthetic-tiny", size="tiny") if self.dry else ensure_synthetic()

    # -- correct ---------------------------------------------------------------------------------
    def correct(self) -> list[Step]:
        steps = [
            Step("correct: variants in bf16", self.least(30), self.check_variants),
            Step("correct: metrics on the device", 0, self.check_metrics),
            Step("correct: JPEG decoding and transforms", 0, self.check_jpeg),
        ]
        if not self.dry:
            steps.append(Step("correct: the CUDA tests", self.least(30), self.check_cuda_tests))
        return steps

    def check_variants(self) -> None:
        """Each variant in bf16 + channels_last against its float32 NCHW forward; a bf16 train step."""
        s, device = self.sizes, self.device
        torch.manual_seed(0)
        x = torch.randn(4, 3, s.image_size, s.image_size, device=device)
        x_last = x.contiguous(memory_format=torch.channels_last)
        y = (torch.rand(4, 80, device=device) < 0.05).float()
        for variant in VARIANTS:
            model = build_model(variant, 80, s.backbone, pretrained=False, embed_dim=s.embed_dim).to(device)
            with torch.inference_mode():
                reference = model.eval()(x)["logits"].float()
                model = model.to(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    out = model(x_last)
            err = rel_err(out["logits"].float(), reference)
            finite = all(torch.isfinite(out[k].float()).all() for k in ("logits", "s_r", "s_m") if k in out)
            self.checks(
                f"{variant}: bf16 + channels_last forward",
                bool(finite and err < 0.05),
                f"rel. error vs float32 NCHW {err:.2e} (< 5e-2; H100: 2.1e-2 at most)",
            )
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            before = next(model.head.parameters()).detach().clone()
            loss = train_step(model.train(), (x_last, y), optimizer, amp="bf16")
            moved = not torch.equal(before, next(model.head.parameters()).detach())
            self.checks(
                f"{variant}: bf16 train step", bool(torch.isfinite(loss)) and moved, f"loss {loss.item():.4f}"
            )
            del model, optimizer
            free_memory(device)

    def check_metrics(self) -> None:
        rng = np.random.default_rng(0)
        scores = rng.random((2000, 80)).round(2).astype(np.float32)  # rounding makes ties
        targets = (rng.random((2000, 80)) < 0.05).astype(np.float32)
        targets[:, 7] = 0  # a class with no positives
        on_device = [torch.from_numpy(a).to(self.device) for a in (scores, targets)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no positive example", category=RuntimeWarning)
            ap, ap_device = average_precision(scores, targets), average_precision(*on_device)
            same = np.allclose(ap_device, ap, equal_nan=True)
            m, m_device = multilabel_metrics(scores, targets), multilabel_metrics(*on_device)
        same = same and all(abs(float(m[k]) - float(m_device[k])) < 1e-4 for k in m)
        self.checks(
            f"metrics on {self.device.type} tensors == numpy", bool(same), f"mAP {float(m['mAP']):.3f}"
        )

    def check_jpeg(self) -> None:
        from PIL import Image

        size = self.sizes.image_size
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_jpeg_folder(Path(tmp), 6, self.sizes.jpeg_size, workers=1)
            Image.open(paths[0]).convert("L").save(Path(tmp) / "grey.jpg", quality=90)
            Image.open(paths[1]).convert("CMYK").save(Path(tmp) / "cmyk.jpg", quality=90)
            data = [read_image_file(p) for p in [*paths, Path(tmp) / "grey.jpg", Path(tmp) / "cmyk.jpg"]]
        on_device, on_cpu = decode_jpegs(data, self.device), decode_jpegs(data, "cpu")
        shapes = all(a.shape == b.shape and a.shape[0] == 3 for a, b in zip(on_device, on_cpu))
        levels = max(float((a.cpu().float() - b.float()).abs().mean()) for a, b in zip(on_device, on_cpu))
        # nvJPEG and libjpeg-turbo differ in IDCT and chroma upsampling: 3.4 to 4.0 levels (H200, H100)
        self.checks(
            "nvJPEG decode == CPU decode (grey and CMYK included)",
            shapes and levels < 8.0,
            f"mean |diff| per image <= {levels:.2f} grey levels (< 8)",
        )
        for train in (False, True):
            boxes = [(5, 7, size, size)] * len(data) if train else None
            flips = [i % 2 == 0 for i in range(len(data))] if train else None
            a = GpuBatchTransform(size, device=self.device)(data, boxes=boxes, flips=flips)
            b = GpuBatchTransform(size, device="cpu")(data, boxes=boxes, flips=flips)
            err = float((a.cpu() - b).abs().mean())
            self.checks(
                f"GPU {'train' if train else 'eval'} transform == CPU",
                err < 0.07 and a.is_contiguous(memory_format=torch.channels_last),
                f"mean |diff| {err:.4f} (< 0.07 normalised units; H100: 0.025 at most), channels_last",
            )

    def check_cuda_tests(self) -> None:
        tests = ["tests/test_data_images.py", "tests/test_inputs.py", "tests/test_bench.py"]
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda", *tests]
        done = subprocess.run(command, capture_output=True, text=True)
        self.checks("the CUDA tests", done.returncode == 0, (done.stdout.strip().splitlines() or [""])[-1])

    # -- trainer ---------------------------------------------------------------------------------
    def trainer(self) -> list[Step]:
        steps = [
            Step(f"trainer: smoke {p}", self.least(20), lambda p=p: self.smoke_run(p))
            for p in INPUT_PIPELINES
        ]
        return [*steps, Step("trainer: the pipelines' batches", 0, self.check_pipelines_agree)]

    def smoke_config(self, pipeline: str):
        s = self.sizes
        return get_preset("smoke", data=str(self.synthetic), device=s.device, pipeline=pipeline, **s.smoke)

    def smoke_run(self, pipeline: str) -> None:
        """The smoke preset through ``pipeline``: it trains and writes its run folder, ``evaluate``
        reads its checkpoint back to the same mAP, and (full size only) it learns."""
        name, out = f"smoke {pipeline}", self.out / "runs" / f"smoke-{pipeline}"
        self.reset_peak()
        trainer = Trainer(self.smoke_config(pipeline), out, overwrite=True, progress=False, verbose=False)
        history = trainer.fit()  # a non-finite loss stops it with an error
        missing = [f for f in ("config.json", "log.jsonl", "best.pt", "last.pt") if not (out / f).is_file()]
        losses = [round(r["train_loss"], 4) for r in history]
        self.checks(
            f"{name}: trains",
            len(history) == trainer.config.epochs and not missing,
            f"losses {losses}, run folder " + (f"lacks {', '.join(missing)}" if missing else "written"),
        )
        val_map, report = history[-1]["val_mAP"], out / "evaluate.json"
        said = io.StringIO()  # the command's output, shown only when it fails
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            options = f"--pipeline {pipeline} --workers 0 --device {self.sizes.device}".split()
            code = cli_main(
                ["evaluate", "--checkpoint", str(out / "last.pt"), "--json", str(report), *options]
            )
        if code != 0:
            print(said.getvalue()[-2000:])
        again = json.loads(report.read_text())["s"]["table1"]["mAP"] if code == 0 else float("nan")
        self.checks(
            f"{name}: evaluate gives the trainer's mAP",
            abs(again - val_map) < 0.5,
            f"{again:.2f} vs {val_map:.2f} (within 0.5: bf16 at another batch on CUDA)",
        )
        if not self.dry:  # toy sizes learn too little for any margin
            baseline = random_baseline_map(trainer.val_set.labels)
            self.checks(
                f"{name}: learns",
                val_map > baseline + LEARNS_MARGIN,
                f"val mAP {val_map:.2f} vs random {baseline:.2f} + {LEARNS_MARGIN:g} (CPU: 60.4 to 64.2)",
            )
        self.keep_trainer(trainer, run=name, mode="smoke")

    def check_pipelines_agree(self) -> None:
        """The first training batch of each pipeline, as the trainer builds it: the same labels, and
        up to decoding and interpolation the same crops and pixels as ``pil``'s."""
        dataset = CocoMultiLabel(self.synthetic, "train")
        batches = {}
        for pipeline in INPUT_PIPELINES:
            loader = loader_for(
                self.smoke_config(pipeline), dataset, train=True, device=self.device, workers=0
            )
            loader.set_epoch(0)
            batches[pipeline] = next(iter(loader))
        images, labels = batches["pil"]
        # uint8 decodes with libjpeg-turbo as PIL does; nvJPEG differs by 3.4 to 4.0 levels (above)
        for pipeline, tolerance in (("uint8", 1.0), ("nvjpeg", 8.0)):
            x, y = batches[pipeline]
            levels = float((x.float() - images.float()).abs().mean()) / GREY_LEVEL
            same = torch.equal(y, labels)
            self.checks(
                f"{pipeline} feeds the trainer what pil does",
                same and levels < tolerance,
                f"same labels: {same}; mean |diff| {levels:.2f} grey levels (< {tolerance:g})",
            )

    # -- speed -----------------------------------------------------------------------------------
    def speed(self) -> list[Step]:
        s = self.sizes
        common = dict(
            data=str(self.coco_like),
            train_split="train",
            val_split="val",
            pipeline="uint8",
            pretrained=None,
            lr_head=ADD_GCN.lr_head,  # random weights: rates that do not diverge (speed does not mind)
            lr_backbone=ADD_GCN.lr_backbone,
            device=s.device,
            image_size=s.image_size,
            epochs=1,
            workers=s.workers,
            log_every=50,
            eval_batch_size=s.eval_batch,
            compile=s.compile,
            limit_val_batches=s.val_images // s.eval_batch,
            **s.model,
        )
        small = {
            **common,
            "batch_size": s.small_batch,
            "cuda_graphs": True,
            "limit_train_batches": s.small_steps,
        }
        large = {
            **common,
            "batch_size": s.large_batch,
            "limit_train_batches": s.train_images // s.large_batch,
        }
        bench = Case("db_dgcn", "train", "fast", s.large_batch, pipeline="uint8", compile=s.compile)
        trainer, loop = (
            dict(source="trainer", phase="train"),
            dict(source="bench", phase="train", mode="fast"),
        )
        return [
            Step(
                f"speed: paper b{s.small_batch}",
                self.least(200),
                lambda: self.timing_run("paper", small),
                dict(trainer, mode="paper", batch=s.small_batch),
            ),
            Step(
                f"speed: paper_large b{s.large_batch}",
                self.least(150),
                lambda: self.timing_run("paper_large", large),
                dict(trainer, mode="paper_large", batch=s.large_batch),
            ),
            Step(
                f"speed: bench b{s.large_batch}",
                self.least(60),
                lambda: self.bench_cases([bench], "speed"),
                dict(loop, batch=s.large_batch),
            ),
        ]

    def timing_run(self, preset: str, overrides: dict) -> None:
        """A timing run of ``preset`` (it prints its own 50-epoch estimate); its records kept."""
        torch._dynamo.reset()  # the previous run's graphs (and CUDA-graph memory) go
        self.reset_peak()
        trainer = Trainer(get_preset(preset, **overrides), None, progress=False)
        try:
            trainer.fit()
            self.keep_trainer(trainer, run=f"{preset} b{overrides['batch_size']}", mode=preset)
        finally:
            trainer.close()
            del trainer
            free_memory(self.device)

    # -- bench -----------------------------------------------------------------------------------
    def bench(self) -> list[Step]:
        s = self.sizes
        both = ("train", "eval")
        batch = {"train": s.large_batch, "eval": s.eval_batch}
        small = [
            Case(v, phase, mode, s.small_batch, compile=False)
            for v in ("add_gcn", "db_dgcn", "resnet")
            for mode in ("released", "fast")
            for phase in both
        ] + [
            Case(v, phase, "fast", s.small_batch, compile=False)
            for v in ("q2l", "ml_decoder")
            for phase in both
        ]
        fast = [
            Case("db_dgcn", phase, "fast", batch[phase], pipeline, compile=s.compile)
            for phase in both
            for pipeline in (None, "uint8", "nvjpeg")
        ]
        resnet = [Case("resnet", phase, "fast", batch[phase], compile=s.compile) for phase in both]
        return [
            Step(
                f"bench: batch {s.small_batch}, released and fast eager (query heads: fast)",
                self.least(60),
                lambda: self.bench_cases(small, f"batch{s.small_batch}"),
                {},
            ),
            Step("bench: db_dgcn fast compiled", self.least(150), lambda: self.bench_cases(fast, "fast"), {}),
            Step(
                "bench: resnet fast compiled (the head's share)",
                self.least(90),
                lambda: self.bench_cases(resnet, "fast"),
                {},
            ),
        ]

    def bench_cases(self, cases: list[Case], label: str) -> None:
        """Each case through the bench loop; training cases read the train JPEGs, evaluation the val ones."""
        s = self.sizes
        files = {
            phase: ImageFiles.from_folder(self.coco_like / split)
            for phase, split in (("train", "train"), ("eval", "val"))
        }
        sizes = dict(
            image_size=s.image_size,
            backbone=s.backbone,
            embed_dim=s.embed_dim,
            warmup=s.bench_warmup,
            steps=s.bench_steps,
            workers=s.workers,
        )
        for case in cases:
            record = measure(
                case, self.env, device=self.device, files=files[case.phase], label=label, **sizes
            )
            self.keep(record)
            print(format_table([record], self.env).splitlines()[-1], flush=True)

    # -- the run and its summary -----------------------------------------------------------------
    def failed(self, step: Step, status: str) -> None:
        if step.fields is None:
            self.checks(step.name, False, status)
        else:  # a step that measures: its cases go unmeasured
            fields = {
                "variant": "db_dgcn",
                "image_size": self.sizes.image_size,
                "run": step.name,
                **step.fields,
            }
            self.keep({**fields, **machine_fields(self.env), "status": status})

    def summary(self, step_lines: list[str]) -> str:
        records = load_results(self.results)["results"]
        lines = [format_table(records, self.env), "", "checks:", *(f"  {c}" for c in self.checks.lines), ""]
        lines += [
            format_targets(check_targets(records)),
            "",
            "50-epoch COCO estimates, as the trainer printed them:",
        ]
        for train in (r for r in records if r.get("source") == "trainer" and r.get("phase") == "train"):
            evals = [r for r in records if r.get("run") == train["run"] and r.get("phase") == "eval"]
            if train.get("status") == "ok" and evals and train.get("mode") != "smoke":
                what = f"{train['variant']}, {train['backbone']}, {train['image_size']} px, b{train['batch']}"
                estimate = format_estimate(train["img_per_s"], evals[-1]["img_per_s"], what=what)
                lines.append(f"  {train['run']}: {estimate}")
        lines += ["", "steps:", *(f"  {line}" for line in step_lines)]
        lines.append(
            f"total: {self.budget.seconds - self.budget.left():.0f} s of a {self.budget.seconds:.0f} s budget"
        )
        return "\n".join(lines)

    def run(self, parts: list[str]) -> int:
        if {"speed", "bench"} & set(parts):
            _ = self.coco_like  # first: its writer processes fork before CUDA starts
        print(
            f"{self.env['device_name']} | torch {self.env['torch']} | {self.env['cpu_count']} CPUs | "
            f"budget {self.budget.seconds:.0f} s | parts {', '.join(parts)}",
            flush=True,
        )

        def write_summary(lines: list[str]) -> str:
            text = self.summary(lines)
            write_text_atomic(self.out / "summary.txt", text + "\n", durable=False)
            return text

        steps = [step for part in parts for step in getattr(self, part)()]
        lines = run_steps(steps, self.budget, self.failed, write_summary)
        print("\n" + write_summary(lines))
        return 1 if self.checks.failures or any(": error:" in line for line in lines) else 0


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def show(paths: list[str]) -> int:
    """Each file's table, then the targets and the estimates over all their records."""
    records = []
    for path in paths:
        if not Path(path).is_file():
            print(f"error: {path}: no such results file", file=sys.stderr)
            return 2
        try:
            data = load_results(path)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(format_table(data["results"], data.get("env")), end="\n\n")
        records += data["results"]
    print(format_targets(check_targets(records)), end="\n\n")
    print(format_estimates(run_estimates(records)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for every step (default 480)")
    parser.add_argument(
        "--out", type=Path, default=Path(".bench/gpu_check"), help="results.json, summary.txt"
    )
    parser.add_argument("--dry", action="store_true", help="CPU, toy sizes: checks this script only")
    parser.add_argument("--show", nargs="+", metavar="RESULTS.json", help="print results files, and exit")
    args = parser.parse_args(argv)
    if args.show:
        return show(args.show)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        parser.error(f"--parts: unknown {', '.join(unknown) or 'none given'}; choose from {', '.join(PARTS)}")
    if not args.dry and not torch.cuda.is_available():
        print(
            "no CUDA device: run on a GPU machine, or use --dry for a CPU check of this script",
            file=sys.stderr,
        )
        return 2
    warnings.filterwarnings("ignore", message=".*no positive example", category=RuntimeWarning)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").unlink(missing_ok=True)
    threads = torch.get_num_threads()
    if args.dry:
        torch.set_num_threads(1)  # toy sizes: a second thread only waits on a busy CPU
    try:
        return GpuCheck(DRY if args.dry else GPU, args.out, budget=args.budget, dry=args.dry).run(parts)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
