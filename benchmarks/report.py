"""Benchmark records and what is read from them: the machine, the trainer's records, the table, the
targets and the 50-epoch COCO estimates (``dbdgcn_lib.bench`` reads and writes the files).

Every target reads db_dgcn records at 448 px with ResNet-101, on one H100 or H200:

- the bench loop (the model's own step): training >= 1,000 img/s with a real JPEG pipeline, >= 3x
  ADD-GCN as released (its model alone, without any loader: the ratio is conservative), evaluation
  >= 2,500 img/s, batch 18 in bf16 under 8 GB;
- the trainer (its own log): the ``paper`` preset at batch 18 >= 550 img/s steady, evaluation >= 2,500
  img/s over 4,096 or more images, at a batch of 128 or more within 5% of the bench loop at the same
  batch and pipeline on the same card, and 50 COCO epochs under 2 h (batch 18) and 1.2 h (large batch).
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Iterable

import torch

from dbdgcn_lib.data import COCO_TRAIN_IMAGES, COCO_VAL_IMAGES
from dbdgcn_lib.training import coco_run_hours, resolve_amp


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


def machine_fields(env: dict) -> dict:
    """The fields of ``env`` every record repeats, and the time."""
    return {
        "device": env.get("device_name"),
        "torch": env.get("torch"),
        "torchvision": env.get("torchvision"),
        "cuda": env.get("cuda"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
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
    amp = resolve_amp(cfg.amp, trainer.device)
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
        **machine_fields(env),
        "amp": {torch.bfloat16: "bf16", torch.float16: "fp16", None: "float32"}[amp],
        "channels_last": cfg.channels_last,
        "compile": bool(cfg.compile or trainer.cuda_graphs),
        "cuda_graphs": bool(trainer.cuda_graphs),
        "workers": cfg.workers,
        "peak_mem_gb": peak_mem_gb,
    }
    train = {
        **base,
        "phase": "train",
        "batch": cfg.batch_size,
        "steps": trainer.steps_per_epoch,
        "img_per_s": round(row["steady_img_per_s"], 1),
        "epoch_img_per_s": round(row["img_per_s"], 1),
        "step_ms": round(1000 * cfg.batch_size / row["steady_img_per_s"], 2),
        "first_batch_s": round(row["first_batch_s"], 2),
        "train_loss": row["train_loss"],
        "status": "ok" if math.isfinite(row["train_loss"]) else "non-finite",
    }
    if not row.get("eval_img_per_s"):
        return [train]
    evaluation = {
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
    return [train, evaluation]


# --------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------
_SAME = ("source", "phase", "mode", "input", "batch", "image_size", "backbone", "compile", "device", "torch")


def add_head_share(records: list[dict]) -> list[dict]:
    """Set ``head_share`` = 1 - rate(variant) / rate(resnet) for each synthetic-input record that has
    a ``resnet`` record with the same settings (the latest one): the head's share of a step."""
    ok = [r for r in records if r.get("status") == "ok"]
    for r in ok:
        if r.get("variant") == "resnet" or r.get("input") != "synthetic":
            continue
        base = [b for b in ok if b.get("variant") == "resnet" and all(b.get(k) == r.get(k) for k in _SAME)]
        if base:
            r["head_share"] = round(1.0 - r["img_per_s"] / base[-1]["img_per_s"], 3)
    return records


def input_name(record: dict) -> str:
    """``synthetic``, or ``jpeg/<pipeline>``."""
    return (
        f"jpeg/{record.get('pipeline')}" if record.get("input") == "jpeg" else str(record.get("input", "-"))
    )


def compiled(record: dict) -> str:
    """``CUDA graphs``, ``compiled`` or ``eager``."""
    return "CUDA graphs" if record.get("cuda_graphs") else ("compiled" if record.get("compile") else "eager")


_COMP = {"CUDA graphs": "g", "compiled": "y", "eager": "n"}


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


def format_table(records: Iterable[dict], env: dict | None = None) -> str:
    """The records as a fixed-width table (head shares filled in), under a line naming the machine.

    ``comp``: y compiled, g compiled and replayed as CUDA graphs, n eager."""
    rows = add_head_share([dict(r) for r in records])
    env = env or ({"device_name": rows[0].get("device"), **rows[0]} if rows else {})
    head = (
        f"{'source':<8}{'variant':<11}{'phase':<6}{'mode':<12}{'input':<12}{'batch':>6}{'comp':>5}"
        f"{'img/s':>9}{'step ms':>9}{'peak GB':>9}{'head':>7}{'loader/s':>10}{'warmup s':>10}  status"
    )
    lines = [
        f"device: {env.get('device_name')} | torch {env.get('torch')} | torchvision {env.get('torchvision')} "
        f"| CUDA {env.get('cuda') or '-'} | {env.get('cpu_count') or os.cpu_count()} CPUs",
        head,
        "-" * len(head),
    ]
    for r in rows:
        status = str(r.get("status", "?")) + (f" [{r['label']}]" if r.get("label") else "")
        status += f" ({r['run']})" if r.get("run") else ""
        lines.append(
            f"{r.get('source', 'bench'):<8}{r.get('variant', '-'):<11}{r.get('phase', '-'):<6}"
            f"{r.get('mode', '-'):<12}{input_name(r):<12}{_cell(r.get('batch'), 6)}"
            f"{_COMP[compiled(r)]:>5}"
            f"{_cell(r.get('img_per_s'), 9, 'rate')}{_cell(r.get('step_ms'), 9, '.1f')}"
            f"{_cell(r.get('peak_mem_gb'), 9, '.2f')}{_share(r):>7}"
            f"{_cell(r.get('loader_img_per_s'), 10, 'rate')}{_cell(r.get('warmup_s'), 10, '.1f')}  {status}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# the cost of a COCO run
# --------------------------------------------------------------------------------------------------
def _full_size(records: Iterable[dict]) -> list[dict]:
    """The measured records of the model the targets are about: ResNet-101 at 448 px."""
    return [
        r
        for r in records
        if r.get("status") == "ok" and (r.get("image_size"), r.get("backbone")) == (448, "resnet101")
    ]


def run_estimates(records: Iterable[dict], *, epochs: int = 50) -> list[dict]:
    """Hours for ``epochs`` epochs of COCO 2014 (``training.coco_run_hours``) per setting of db_dgcn
    at 448 px with ResNet-101 that has both a training and an evaluation rate.

    A setting is a trainer run (its two records share ``run``), or for the bench loop a (mode, batch,
    compilation, input) combination, whose best training and evaluation rates are taken.
    """
    rates: dict[str, dict[str, float]] = {}
    for r in _full_size(records):
        if r.get("variant") != "db_dgcn" or not r.get("img_per_s"):
            continue
        setting = (
            f"{r['source']} {r['run']}"
            if r.get("run")
            else f"{r.get('mode')} batch {r.get('batch')} {compiled(r)} {input_name(r)}"
        )
        phase = rates.setdefault(setting, {})
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


# --------------------------------------------------------------------------------------------------
# the targets
# --------------------------------------------------------------------------------------------------
def _best(rows: list[dict], where: Callable[[dict], bool], key: str = "img_per_s", pick=max) -> dict | None:
    rows = [r for r in rows if where(r) and r.get(key) is not None]
    return pick(rows, key=lambda r: r[key]) if rows else None


def _target(name: str, goal: str, passed: Callable[[float], bool], rec: dict | None, value, how: str = ""):
    where = ""
    if rec is not None:
        where = f"{rec.get('source')} {rec['variant']} {rec['phase']} {rec['mode']} {input_name(rec)} "
        where += f"b{rec['batch']} {compiled(rec)}{how}"
    verdict = None if value is None else bool(passed(value))
    return {"target": name, "value": value, "goal": goal, "passed": verdict, "from": where}


def check_targets(records: Iterable[dict]) -> list[dict]:
    """One row per target: ``target``, ``value`` (None: not measured by these records), ``goal``,
    ``passed`` (None when not measured) and ``from`` (the record it was read from)."""
    full = _full_size(records)
    db = [r for r in full if r.get("variant") == "db_dgcn"]
    bench = [r for r in db if r.get("source", "bench") == "bench"]
    trainer = [r for r in db if r.get("source") == "trainer"]
    rows = []

    rec = _best(bench, lambda r: r["phase"] == "train" and r["input"] == "jpeg")
    rate = rec and rec["img_per_s"]
    rows.append(_target("bench: train img/s, real JPEG pipeline", ">= 1,000", lambda x: x >= 1000, rec, rate))
    released = _best(
        full,
        lambda r: (
            (r["variant"], r.get("source", "bench"), r["phase"], r["mode"], r["input"])
            == ("add_gcn", "bench", "train", "released", "synthetic")
        ),
    )
    ratio = round(rate / released["img_per_s"], 2) if rate and released else None
    how = f" vs add_gcn released {released['img_per_s']:,.0f} img/s" if released else ""
    rows.append(_target("  ... over add_gcn as released", ">= 3x", lambda x: x >= 3, rec, ratio, how))
    for inp in ("synthetic", "jpeg"):
        rec = _best(bench, lambda r, i=inp: (r["phase"], r["mode"], r["input"]) == ("eval", "fast", i))
        rows.append(
            _target(
                f"bench: eval img/s ({inp} input)",
                ">= 2,500",
                lambda x: x >= 2500,
                rec,
                rec and rec["img_per_s"],
            )
        )
    rec = _best(
        db,
        lambda r: r["phase"] == "train" and r.get("amp") == "bf16" and r["batch"] == 18,
        key="peak_mem_gb",
        pick=min,
    )
    rows.append(
        _target("train batch 18 bf16 peak GB", "< 8", lambda x: x < 8, rec, rec and rec["peak_mem_gb"])
    )

    rec = _best(trainer, lambda r: (r["phase"], r["mode"], r["batch"]) == ("train", "paper", 18))
    rows.append(
        _target(
            "trainer: paper batch 18, steady train img/s",
            ">= 550",
            lambda x: x >= 550,
            rec,
            rec and rec["img_per_s"],
        )
    )
    rec = _best(trainer, lambda r: r["phase"] == "eval" and r.get("images", 0) >= 4096)
    rows.append(
        _target(
            "trainer: eval img/s over >= 4,096 images",
            ">= 2,500",
            lambda x: x >= 2500,
            rec,
            rec and rec["img_per_s"],
        )
    )
    pairs = []  # (trainer / bench loop, trainer record, bench record) at one batch >= 128
    for t in (r for r in trainer if r["phase"] == "train" and r["batch"] >= 128):
        same = _best(
            bench,
            lambda r, t=t: (
                r["phase"] == "train"
                and r["input"] == "jpeg"
                and r.get("compile")
                and (r["batch"], r.get("pipeline"), r.get("device"))
                == (t["batch"], t.get("pipeline"), t.get("device"))
            ),
        )
        if same:
            pairs.append((round(t["img_per_s"] / same["img_per_s"], 3), t, same))
    ratio, rec, same = max(pairs, key=lambda p: p[0]) if pairs else (None, None, None)
    how = f" vs the bench loop's {same['img_per_s']:,.0f} img/s" if same else ""
    rows.append(
        _target("trainer / bench loop, same batch >= 128", ">= 0.95", lambda x: x >= 0.95, rec, ratio, how)
    )
    for name, goal, where in (
        ("paper batch 18", 2.0, lambda r: r["mode"] == "paper" and r["batch"] == 18),
        ("batch >= 128", 1.2, lambda r: r["batch"] >= 128),
    ):
        hours = []
        for t in (r for r in trainer if r["phase"] == "train" and where(r)):
            evals = [r for r in trainer if r.get("run") == t.get("run") and r["phase"] == "eval"]
            if evals:
                hours.append((round(coco_run_hours(t["img_per_s"], evals[-1]["img_per_s"]), 2), t))
        h, rec = min(hours, key=lambda p: p[0]) if hours else (None, None)
        rows.append(
            _target(f"trainer: 50 COCO epochs (h), {name}", f"< {goal}", lambda x, g=goal: x < g, rec, h)
        )
    return rows


def format_targets(rows: list[dict]) -> str:
    lines = ["targets:"]
    for r in rows:
        verdict = "not measured" if r["passed"] is None else ("PASS" if r["passed"] else "FAIL")
        value = "-" if r["value"] is None else f"{r['value']:,}"
        lines.append(
            f"  {r['target']:<44}{value:>10}  goal {r['goal']:<9} {verdict:<13} {r['from']}".rstrip()
        )
    return "\n".join(lines)
