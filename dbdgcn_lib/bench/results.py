"""Benchmark results: one record format for the bench loop and the trainer, one JSON file, one table.

A results file is ``{"schema": 2, "env": {...}, "results": [record, ...]}``: ``env`` describes the
machine once (``environment``), and each record one measured case. Every record has ``source``
(``"bench"``: the bench loop, ``"trainer"``: a ``Trainer`` timing run), ``variant``, ``phase``
(``train`` / ``eval``), ``mode`` (the bench's ``released`` / ``fast``, or the trainer's preset),
``input`` (``synthetic`` / ``jpeg``), ``pipeline`` (for ``jpeg``: ``pil``, ``uint8``, ``nvjpeg``),
``batch``, ``image_size``, ``backbone``, ``compile``, ``img_per_s`` (steady images per second),
``status`` (``ok``, ``oom``, ``non-finite``, ``skipped: ...`` or the error) and the versions.

``append_result`` adds one record atomically, so a run killed half-way keeps what it measured.
``load_results`` also reads the files of schema 1 (records with ``loader`` ``cpu`` / ``gpu``,
which name the ``uint8`` / ``nvjpeg`` pipelines). ``format_table`` prints records of both sources;
``run_estimates`` turns them into the cost of a 50-epoch COCO run (``training.estimate``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from dbdgcn_lib.data import COCO_TRAIN_IMAGES, COCO_VAL_IMAGES
from dbdgcn_lib.training.estimate import coco_run_hours
from dbdgcn_lib.training.steps import resolve_amp
from dbdgcn_lib.utils import write_text_atomic

SCHEMA = 2
#: Schema 1 named the pipelines by where they decode: CPU workers (``uint8``) or nvJPEG on the GPU.
OLD_LOADERS = {"cpu": "uint8", "gpu": "nvjpeg"}


def environment(device: torch.device) -> dict:
    """Versions and hardware: stored once per results file, and the table's first line."""
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


def _machine_fields(env: dict) -> dict:
    return {
        "device": env.get("device_name"),
        "torch": env.get("torch"),
        "torchvision": env.get("torchvision"),
        "cuda": env.get("cuda"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


# --------------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------------
def bench_record(
    *, variant: str, phase: str, mode: str, input: str, pipeline: str | None, batch: int, settings, env: dict
) -> dict:
    """The fields every bench record starts with; ``settings``: the mode's ``ModeSettings``."""
    on_cuda = env.get("cuda") is not None
    return {
        "source": "bench",
        "variant": variant,
        "phase": phase,
        "mode": mode,
        "input": input,
        "pipeline": pipeline,
        "batch": batch,
        **_machine_fields(env),
        "amp": "bf16" if settings.amp else "float32",
        "channels_last": settings.channels_last,
        "compile": settings.compile,
        "cudnn_benchmark": settings.cudnn_benchmark and on_cuda,
        "tf32": settings.tf32 and on_cuda,
    }


def trainer_records(
    trainer, env: dict, *, run: str, mode: str, peak_mem_gb: float | None = None
) -> list[dict]:
    """A ``Trainer``'s last epoch as two records (``train`` and ``eval``) that share ``run``.

    ``train``: ``img_per_s`` is the epoch's steady rate (``steady_img_per_s``), ``epoch_img_per_s``
    the whole epoch's (compilation and the loader's first batch included). ``eval``: the steady
    evaluation rate (``eval_img_per_s``) at the evaluation batch, over ``images`` images. ``mode``
    names the preset the run comes from.
    """
    cfg, row = trainer.config, trainer.history[-1]
    val_batch = trainer.val_loader.batch_size
    val_steps = min(len(trainer.val_loader), cfg.limit_val_batches or len(trainer.val_loader))
    base = {
        "source": "trainer",
        "run": run,
        "variant": cfg.variant,
        "mode": mode,
        "input": "jpeg",
        "pipeline": trainer.train_loader.pipeline,
        "image_size": cfg.image_size,
        "backbone": cfg.backbone,
        "num_classes": len(trainer.class_names),
        **_machine_fields(env),
        "amp": {torch.bfloat16: "bf16", torch.float16: "fp16", None: "float32"}[
            resolve_amp(cfg.amp, trainer.device)
        ],
        "channels_last": cfg.channels_last,
        "compile": bool(cfg.compile or trainer.cuda_graphs),
        "cuda_graphs": bool(trainer.cuda_graphs),
        "workers": cfg.workers,
        "lr_head": cfg.lr_head,
        "lr_backbone": cfg.lr_backbone,
        "peak_mem_gb": peak_mem_gb,
    }
    finite = math.isfinite(row["train_loss"])
    train = {
        **base,
        "phase": "train",
        "batch": cfg.batch_size,
        "steps": trainer.steps_per_epoch,
        "img_per_s": round(row["steady_img_per_s"], 1),
        "epoch_img_per_s": round(row["img_per_s"], 1),
        "step_ms": round(1000 * cfg.batch_size / row["steady_img_per_s"], 2),
        "train_time_s": round(row["train_time_s"], 2),
        "first_batch_s": round(row["first_batch_s"], 2),
        "train_loss": row["train_loss"],
        "status": "ok" if finite else "non-finite",
    }
    records = [train]
    if row.get("eval_img_per_s"):
        records.append(
            {
                **base,
                "phase": "eval",
                "batch": val_batch,
                "steps": val_steps,
                "images": min(val_steps * val_batch, len(trainer.val_set)),
                "img_per_s": round(row["eval_img_per_s"], 1),
                "step_ms": round(1000 * val_batch / row["eval_img_per_s"], 2),
                "val_mAP": row["val_mAP"],
                "status": "ok",
            }
        )
    return records


def unmeasured_record(env: dict, status: str, **fields) -> dict:
    """A record of a case that was not measured: ``fields`` (``source``, ``run`` ...) and ``status``
    (``skipped: why`` or ``error: what``)."""
    return {**fields, **_machine_fields(env), "status": status}


# --------------------------------------------------------------------------------------------------
# the file
# --------------------------------------------------------------------------------------------------
def _upgrade(record: dict) -> dict:
    """A schema-1 record with the fields of schema 2 added (``source``, ``pipeline``)."""
    record.setdefault("source", "bench")
    if "pipeline" not in record:
        record["pipeline"] = OLD_LOADERS.get(record.get("loader"), record.get("loader"))
    return record


def load_results(path: str | os.PathLike) -> dict:
    """``{"schema", "env", "results": [...]}`` from a results file (empty results if it does not exist);
    records of schema 1 are read as schema 2. ``ValueError`` names a file that is not one."""
    p = Path(path)
    if not p.is_file():
        return {"schema": SCHEMA, "env": None, "results": []}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{p}: not valid JSON ({err}); pass a results file that `bench --json` wrote"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.setdefault("results", []), list):
        raise ValueError(
            f"{p}: not a bench results file (a JSON object with a 'results' list); pass one that "
            "`python -m dbdgcn_lib bench --json` or benchmarks/trainer_speed.py wrote"
        )
    data["results"] = [_upgrade(r) for r in data["results"]]
    data["schema"] = SCHEMA
    data.setdefault("env", None)
    return data


def append_result(path: str | os.PathLike, record: dict, env: dict) -> None:
    """Append one record; the file is replaced atomically, so a killed run leaves it whole. The
    file's ``env`` is the first run's."""
    data = load_results(path)
    data["env"] = data.get("env") or env
    data["results"].append(record)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n", durable=False)


# --------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------
_SAME = ("source", "phase", "mode", "input", "batch", "image_size", "backbone", "compile", "device", "torch")


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


def input_name(record: dict) -> str:
    """``synthetic``, or ``jpeg/<pipeline>``."""
    if record.get("input") == "jpeg":
        return f"jpeg/{record.get('pipeline')}"
    return str(record.get("input", "-"))


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


def _compiled(r: dict) -> str:
    """y: compiled, g: compiled and replayed as CUDA graphs, n: eager."""
    return "g" if r.get("cuda_graphs") else ("y" if r.get("compile") else "n")


def format_table(results: Iterable[dict], env: dict | None = None, *, header: bool = True) -> str:
    """The records as a fixed-width table (head shares filled in); ``env`` gives the first line."""
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
            f"{'source':<8}{'variant':<11}{'phase':<6}{'mode':<12}{'input':<12}{'batch':>6}{'comp':>5}"
            f"{'img/s':>9}{'step ms':>9}{'peak GB':>9}{'head':>7}{'loader/s':>10}{'warmup s':>10}  status"
        )
        lines += [head, "-" * len(head)]
    for r in rows:
        status = str(r.get("status", "?")) + (f" [{r['label']}]" if r.get("label") else "")
        if r.get("run"):
            status += f" ({r['run']})"
        lines.append(
            f"{r.get('source', 'bench'):<8}{r.get('variant', '-'):<11}{r.get('phase', '-'):<6}"
            f"{r.get('mode', '-'):<12}{input_name(r):<12}{_cell(r.get('batch'), 6)}{_compiled(r):>5}"
            f"{_cell(r.get('img_per_s'), 9, 'rate')}{_cell(r.get('step_ms'), 9, '.1f')}"
            f"{_cell(r.get('peak_mem_gb'), 9, '.2f')}{_share(r):>7}"
            f"{_cell(r.get('loader_img_per_s'), 10, 'rate')}{_cell(r.get('warmup_s'), 10, '.1f')}  {status}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# the cost of a COCO run
# --------------------------------------------------------------------------------------------------
def _setting(r: dict) -> str:
    if r.get("run"):
        return f"{r.get('source')} {r['run']}"
    compiled = {"g": "CUDA graphs", "y": "compiled", "n": "eager"}[_compiled(r)]
    return f"{r.get('mode')} batch {r.get('batch')} {compiled} {input_name(r)}"


def run_estimates(results: Iterable[dict], *, epochs: int = 50) -> list[dict]:
    """Hours for ``epochs`` epochs of COCO 2014 (``training.estimate.coco_run_hours``) per setting of
    db_dgcn at 448 px with ResNet-101 that has both a training and an evaluation rate.

    A setting is a trainer run (its two records share ``run``), or for the bench loop a (mode, batch,
    compilation, input) combination, whose best training and evaluation rates are taken.
    """
    rates: dict[str, dict[str, float]] = {}
    for r in results:
        if r.get("status") != "ok" or r.get("variant") != "db_dgcn" or not r.get("img_per_s"):
            continue
        if (r.get("image_size"), r.get("backbone")) != (448, "resnet101"):
            continue
        phase = rates.setdefault(_setting(r), {})
        phase[r["phase"]] = max(phase.get(r["phase"], 0.0), r["img_per_s"])
    return [
        {
            "setting": setting,
            "train_img_per_s": phase["train"],
            "eval_img_per_s": phase["eval"],
            "hours": coco_run_hours(phase["train"], phase["eval"], epochs=epochs),
        }
        for setting, phase in sorted(rates.items())
        if "train" in phase and "eval" in phase
    ]


def format_estimates(rows: list[dict], *, epochs: int = 50) -> str:
    """``run_estimates`` as text, one line per setting."""
    lines = [
        f"a {epochs}-epoch run on COCO 2014 (db_dgcn, 448; "
        f"train {COCO_TRAIN_IMAGES:,} + evaluate {COCO_VAL_IMAGES:,} images per epoch):"
    ]
    if not rows:
        lines.append("  not measured (needs db_dgcn training and evaluation rates at 448 with resnet101)")
    for r in rows:
        lines.append(
            f"  {r['setting']:<46} train {r['train_img_per_s']:>7,.0f}  "
            f"eval {r['eval_img_per_s']:>7,.0f} img/s  -> {r['hours']:5.2f} h"
        )
    return "\n".join(lines)
