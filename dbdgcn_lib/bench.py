"""The benchmark's results files: what ``benchmarks/gpu_check.py`` measured, for the notebooks to quote.

A results file is ``{"schema": 2, "env": {...}, "results": [record, ...]}``: ``env`` describes the
machine once, and each record one measured case. Every record has ``source`` (``"bench"``: the bench
loop, ``"trainer"``: a ``Trainer`` timing run), ``variant``, ``phase`` (``train`` / ``eval``), ``mode``
(the bench's ``released`` / ``fast``, or the trainer's preset), ``input`` (``synthetic``: a fixed batch
on the device, or ``jpeg``), ``pipeline`` (``pil``, ``uint8``, ``nvjpeg``; None for ``synthetic``),
``batch``, ``image_size``, ``backbone``, ``compile``, ``img_per_s`` (steady images per second),
``status`` (``ok``, ``oom``, ``non-finite``, ``skipped: ...`` or the error), the device and the versions.

The measured files live in ``docs/results/``; yours go to ``benchmarks/results/``. The benchmark
itself (the bench loop, the checks, the targets) sits outside the package, in ``benchmarks/``.

What a head costs where nothing was measured on a GPU: ``forward_flops`` (a model's forward FLOPs,
counted on the meta device), ``recorded_rates`` (the best compiled rate per variant and phase of a
results file) and ``cpu_ms_per_image`` (the quick runs' CPU cost per image).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from dbdgcn_lib.models import build_model
from dbdgcn_lib.training.steps import forward_scores, train_step
from dbdgcn_lib.utils import write_text_atomic

SCHEMA = 2
#: Schema 1 named the pipelines by where they decode: CPU workers (``uint8``) or nvJPEG on the GPU.
OLD_LOADERS = {"cpu": "uint8", "gpu": "nvjpeg"}


def load_results(path: str | os.PathLike) -> dict:
    """``{"schema", "env", "results": [...]}`` from a results file (empty results if it does not exist).

    Records of schema 1 are read as schema 2 (``source`` and ``pipeline`` added; their ``loader``
    stays). ``ValueError`` names a file that is not a results file."""
    p = Path(path)
    if not p.is_file():
        return {"schema": SCHEMA, "env": None, "results": []}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{p}: not valid JSON ({err}); pass a results file that gpu_check.py wrote"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.setdefault("results", []), list):
        raise ValueError(
            f"{p}: not a results file (a JSON object with a 'results' list); pass one that "
            "benchmarks/gpu_check.py wrote"
        )
    for record in data["results"]:
        record.setdefault("source", "bench")
        if "pipeline" not in record:
            record["pipeline"] = OLD_LOADERS.get(record.get("loader"), record.get("loader"))
    data["schema"] = SCHEMA
    data.setdefault("env", None)
    return data


def append_result(path: str | os.PathLike, record: dict, env: dict) -> None:
    """Append one record; the file is replaced atomically, so a run killed half-way keeps what it
    measured. The file's ``env`` is its first run's."""
    data = load_results(path)
    data["env"] = data.get("env") or env
    data["results"].append(record)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n", durable=False)


def recorded_rates(path: str | os.PathLike, image_size: int = 448) -> dict[tuple[str, str], float]:
    """(variant, phase) -> img/s: the best steady rate of the fast, compiled, synthetic-input bench
    records at ``image_size`` in a results file (the bench's best case for each variant)."""
    rates: dict[tuple[str, str], float] = {}
    for r in load_results(path)["results"]:
        if r.get("status") != "ok" or r.get("mode") != "fast" or r.get("input") != "synthetic":
            continue
        if not r.get("compile") or r.get("image_size", 448) != image_size:
            continue
        key = (r["variant"], r["phase"])
        rates[key] = max(rates.get(key, 0.0), r["img_per_s"])
    return rates


def forward_flops(
    variant: str, num_classes: int = 80, backbone: str = "resnet101", image_size: int = 448, **switches
) -> tuple[int, int]:
    """(backbone, head) forward FLOPs of one image (2 per multiply-add; ``torch.utils.flop_counter``),
    counted on the meta device: shapes only, so ResNet-101 at 448 px takes a fraction of a second."""
    with torch.device("meta"):
        model = build_model(variant, num_classes, backbone, **switches).eval()
        with FlopCounterMode(display=False) as counter:
            x3, x4 = model.forward_features(torch.empty(1, 3, image_size, image_size))
        trunk = counter.get_total_flops()
        with FlopCounterMode(display=False) as counter:
            model.forward_head(x3, x4)
    return trunk, counter.get_total_flops()


def cpu_ms_per_image(
    variants: Sequence[str],
    *,
    repeats: int = 5,
    batch: int = 32,
    image_size: int = 96,
    num_classes: int = 20,
    embed_dim: int = 64,
) -> dict[str, tuple[float, float]]:
    """variant -> (forward, training step) CPU milliseconds per image, the median of ``repeats``, for
    the tiny backbone at the quick runs' size, on the calling thread settings (``quick_train`` uses
    one thread). The forward is the evaluation one (no gradients, intermediates as ``predict``); the
    step is Adam on BCE. The variants take turns in each round, so that a busy spell of a shared CPU
    falls on all of them alike; a first round warms up and is not timed."""
    x = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    y = (torch.rand(batch, num_classes, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    models, optimizers = {}, {}
    for variant in variants:
        torch.manual_seed(0)
        models[variant] = build_model(variant, num_classes, "tiny", embed_dim=embed_dim)
        optimizers[variant] = torch.optim.Adam(models[variant].parameters(), lr=1e-3)
    times: dict[str, tuple[list, list]] = {v: ([], []) for v in variants}
    for _ in range(repeats + 1):
        for variant, model in models.items():
            model.eval()
            start = time.perf_counter()
            with torch.no_grad():
                forward_scores(model, x, amp="none", intermediates=True)
            middle = time.perf_counter()
            model.train()
            train_step(model, (x, y), optimizers[variant], amp="none", grad_clip=None)
            times[variant][0].append(middle - start)
            times[variant][1].append(time.perf_counter() - middle)
    return {
        v: (1e3 * statistics.median(f[1:]) / batch, 1e3 * statistics.median(t[1:]) / batch)
        for v, (f, t) in times.items()
    }
