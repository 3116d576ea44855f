"""The real ``Trainer`` on a GPU: its CUDA paths first, then its speed at 448.

    python benchmarks/trainer_check.py [--out DIR] [--workers N] [--only data,smoke,speed] [--dry]

0. ``data``: writes the datasets the other parts read (kept for the next call, so ``--only data``
   can run in the background while something else uses the GPU).

1. ``smoke``: the smoke preset (the embedded synthetic set, tiny backbone, 112 px) on CUDA with bf16
   autocast, channels_last, fused SGD and pinned memory, once per input pipeline (pil, uint8,
   nvjpeg). PASS when training finishes (a non-finite loss stops it), the final val mAP beats
   random scores by 10 points, and ``evaluate`` on the saved checkpoint gives the trainer's mAP
   again (within 0.5).
2. ``speed``: the paper preset (ResNet-101, random initialisation, 448; ADD-GCN's smaller learning
   rates, so that no run stops on a diverging loss) on a COCO-format folder of photo-like 640 x 480
   JPEGs with random labels (``data.gpu.make_coco_like``): the paper's batch of 18 eager and
   compiled and batch 128 compiled with the uint8 pipeline, batch 128 compiled with nvjpeg; two
   epochs each (the first one compiles and autotunes cuDNN), evaluation at batch 128. Rates come
   from the trainer's own log: training img/s of each epoch, the last epoch's steady rate (without
   the wait for the loader's first batch, which a COCO epoch of 82,081 images hides but a short
   timing epoch does not), and evaluation img/s from the epoch's time minus its training time
   (metrics and all; a lower bound, as each worker builds a whole batch and a short split is a few
   rounds of them). ``--runs`` picks runs by name.

Each finished run is appended to ``DIR/trainer.json`` at once (a timeout keeps what was measured);
the table and a 50-epoch COCO estimate per setting are printed at the end. ``--dry`` runs the same
steps on the CPU at toy sizes: a check of this script, not of a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dbdgcn_lib.cli import main as cli_main  # noqa: E402
from dbdgcn_lib.data import ensure_synthetic, make_synthetic  # noqa: E402
from dbdgcn_lib.data.gpu import make_coco_like  # noqa: E402
from dbdgcn_lib.training import Trainer, get_preset  # noqa: E402
from dbdgcn_lib.training.bench import COCO_TRAIN_IMAGES, COCO_VAL_IMAGES, paper_run_hours  # noqa: E402
from dbdgcn_lib.training.config import INPUT_PIPELINES  # noqa: E402
from dbdgcn_lib.training.trainer import random_baseline_map  # noqa: E402

FAILURES: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
    if not ok:
        FAILURES.append(name)


def record(path: Path, row: dict) -> None:
    rows = json.loads(path.read_text()) if path.is_file() else []
    rows.append(row)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(rows, indent=1))
    os.replace(tmp, path)


def run(config, out: Path) -> tuple[Trainer, dict]:
    """Train ``config`` into ``out``; returns the trainer and the run's summary row."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    torch._dynamo.reset()
    trainer = Trainer(config, out, progress=False, verbose=False)
    start = time.perf_counter()
    history = trainer.fit()
    last = history[-1]
    eval_s = last["time_s"] - last["train_time_s"]
    images = round(last["img_per_s"] * last["train_time_s"])
    row = {
        "pipeline": trainer.train_loader.pipeline,
        "batch": config.batch_size,
        "compile": config.compile,
        "workers": config.workers,
        "image_size": config.image_size,
        "epochs": config.epochs,
        "train_img_per_s": [round(r["img_per_s"], 1) for r in history],
        "first_batch_s": [round(r["first_batch_s"], 2) for r in history],
        # the last epoch after its first batch came (that batch's images left out: a lower bound)
        "steady_img_per_s": round(
            (images - config.batch_size) / (last["train_time_s"] - last["first_batch_s"]), 1
        ),
        "eval_img_per_s": round(len(trainer.val_set) / eval_s, 1),
        "train_loss": [round(r["train_loss"], 4) for r in history],
        "val_mAP": round(last["val_mAP"], 2),
        "wall_s": round(time.perf_counter() - start, 1),
    }
    if torch.cuda.is_available():
        row["peak_mem_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    return trainer, row


def free_memory() -> None:
    """After the caller dropped its trainer: stop its worker processes, free its GPU memory."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def synthetic_data(args) -> Path:
    return make_synthetic(args.out / "synthetic-tiny", size="tiny") if args.dry else ensure_synthetic()


def coco_like_data(args) -> Path:
    if args.dry:
        return make_coco_like(args.out / "coco-like-toy", {"train": 32, "val": 16}, size=(96, 72), workers=1)
    return make_coco_like(args.out / "coco-like", {"train": args.train_images, "val": args.val_images})


def data(args, results: Path) -> None:
    start = time.perf_counter()
    paths = f"{synthetic_data(args)}, {coco_like_data(args)}"
    print(f"data: {paths} ({time.perf_counter() - start:.0f} s)", flush=True)


def smoke(args, results: Path) -> None:
    data = synthetic_data(args)
    toy = dict(image_size=64, batch_size=8, switches={"embed_dim": 16}) if args.dry else {}
    for pipeline in INPUT_PIPELINES:
        name = f"smoke {pipeline}"
        config = get_preset(
            "smoke",
            data=str(data),
            device=args.device,
            amp="auto",
            channels_last=args.device != "cpu",
            threads=None,
            workers=min(args.workers, 4),
            pipeline=pipeline,
            epochs=args.smoke_epochs,
            **toy,
        )
        out = args.out / "runs" / name.replace(" ", "-")
        trainer = None
        try:
            trainer, row = run(config, out)
            baseline = random_baseline_map(trainer.val_set.labels)
            check(  # a non-finite loss has already stopped fit() with NonFiniteLossError (a FAIL below)
                f"{name}: learns",
                row["val_mAP"] > baseline + 10,
                f"losses {row['train_loss']}, val mAP {row['val_mAP']} vs random {baseline:.2f}",
            )
            report = out / "evaluate.json"
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli_main(
                    [
                        "evaluate",
                        "--checkpoint",
                        str(out / "last.pt"),
                        "--pipeline",
                        pipeline,
                        "--json",
                        str(report),
                    ]
                    + ["--workers", "0", "--device", args.device]
                )
            again = json.loads(report.read_text())["s"]["table1"]["mAP"] if code == 0 else float("nan")
            check(
                f"{name}: evaluate gives the trainer's mAP", abs(again - row["val_mAP"]) < 0.5, f"{again:.2f}"
            )
            record(results, {"name": name, **row})
        except Exception:  # noqa: BLE001 - report and go on to the next pipeline
            traceback.print_exc()
            check(f"{name}: runs", False)
        finally:
            trainer = None
            free_memory()


def speed(args, results: Path) -> None:
    data = coco_like_data(args)
    if args.dry:
        size = dict(image_size=64, backbone="tiny", switches={"embed_dim": 16}, eval_batch_size=8)
        runs = [("b4 eager uint8", 4, False, "uint8", 2), ("b8 eager nvjpeg", 8, False, "nvjpeg", 2)]
    else:
        size = dict(eval_batch_size=128)
        runs = [  # most telling first: a timeout keeps the runs already finished
            ("b18 eager uint8", 18, False, "uint8", 2),
            ("b128 compiled uint8", 128, True, "uint8", 2),
            ("b18 compiled uint8", 18, True, "uint8", 2),
            ("b128 compiled nvjpeg", 128, True, "nvjpeg", 2),
        ]
    unknown = set(args.runs) - {r[0] for r in runs} if args.runs else set()
    if unknown:
        raise SystemExit(f"--runs: unknown run(s) {sorted(unknown)}; choose from {[r[0] for r in runs]}")
    for name, batch, compiled, pipeline, epochs in runs:
        if args.runs and name not in args.runs:
            continue
        config = get_preset(
            "paper",
            # ADD-GCN's learning rates: the paper's 0.5 / 0.05 can diverge from a random initialisation,
            # and a non-finite loss would stop the run before it is timed (the rate does not depend on them)
            lr_head=0.05,
            lr_backbone=0.005,
            data=str(data),
            train_split="train",
            val_split="val",
            pretrained=None,
            device=args.device,
            batch_size=batch,
            compile=compiled,
            pipeline=pipeline,
            workers=args.workers,
            epochs=epochs,
            log_every=10,
            **size,
        )
        try:  # a failure, a non-finite loss (NonFiniteLossError) included, is reported as a FAIL
            row = run(config, args.out / "runs" / name.replace(" ", "-"))[1]  # the trainer is dropped
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            check(f"speed {name}: runs", False)
        else:
            check(f"speed {name}: runs", True, json.dumps(row))
            record(results, {"name": f"speed {name}", **row})
        finally:
            free_memory()


def report(results: Path, epochs: int = 50) -> str:
    rows = json.loads(results.read_text()) if results.is_file() else []
    lines = [
        f"{'run':<27}{'batch':>6}{'compiled':>9}{'train img/s (per epoch)':>26}{'steady':>8}"
        f"{'eval img/s':>11}{'peak GB':>8}{'mAP':>7}"
    ]
    for r in rows:
        rates = ", ".join(f"{v:,.0f}" for v in r["train_img_per_s"])
        lines.append(
            f"{r['name']:<27}{r['batch']:>6}{'y' if r['compile'] else 'n':>9}{rates:>26}"
            f"{r['steady_img_per_s']:>8,.0f}{r['eval_img_per_s']:>11,.0f}"
            f"{r.get('peak_mem_gb', float('nan')):>8.2f}{r['val_mAP']:>7.2f}"
        )
    speed_rows = [r for r in rows if r["name"].startswith("speed") and r["image_size"] == 448]
    if speed_rows:
        lines.append(
            f"\na {epochs}-epoch run on COCO 2014 at these rates (steady train {COCO_TRAIN_IMAGES:,} + eval "
            f"{COCO_VAL_IMAGES:,} images per epoch):"
        )
    for r in speed_rows:
        hours = paper_run_hours(r["steady_img_per_s"], r["eval_img_per_s"], epochs=epochs)
        lines.append(f"  {r['name']:<27} {hours:5.2f} h")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".bench/trainer_check"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--only", default="data,smoke,speed", help="comma-separated: data, smoke, speed")
    parser.add_argument("--smoke-epochs", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=4096)
    parser.add_argument("--val-images", type=int, default=4096)
    parser.add_argument(
        "--runs", type=lambda text: text.split(","), default=None, help="speed runs by name (default: all)"
    )
    parser.add_argument("--dry", action="store_true", help="CPU, toy sizes: checks this script only")
    args = parser.parse_args()
    # small validation splits lack a class or two; the metrics say so once per evaluation
    warnings.filterwarnings("ignore", message=".*no positive example", category=RuntimeWarning)
    if args.dry:
        args.device, args.workers, args.smoke_epochs = "cpu", 1, 2
    elif not torch.cuda.is_available():
        print("no CUDA device: run on a GPU machine, or use --dry for a CPU check of this script")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "trainer.json"
    results.unlink(missing_ok=True)
    parts = {"data": data, "smoke": smoke, "speed": speed}
    for part in args.only.split(","):
        if part not in parts:
            parser.error(f"--only: unknown part {part!r}; choose from {', '.join(parts)}")
        parts[part](args, results)
    print()
    print(report(results))
    print(f"\n{len(FAILURES)} check(s) failed: {', '.join(FAILURES)}" if FAILURES else "\nall checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
