"""The real ``Trainer`` on a GPU: does every CUDA path train, save and evaluate correctly?

    python benchmarks/trainer_check.py [--out DIR] [--workers N] [--only data,smoke] [--dry]

1. ``data``: writes the embedded synthetic set the runs read (kept, so that ``--only data`` can run
   in the background while something else uses the GPU).
2. ``smoke``: the smoke preset (the embedded set, tiny backbone, 112 px) on CUDA with bf16 autocast,
   channels_last, fused SGD and pinned memory, once per input pipeline (pil, uint8, nvjpeg). PASS
   when training finishes (a non-finite loss stops it), the final val mAP beats random scores by 10
   points, and ``evaluate`` on the saved checkpoint gives the trainer's mAP again (within 0.5).

Each run's records go to ``DIR/trainer.json`` at once (the shared results format of
``dbdgcn_lib.bench``: ``python -m dbdgcn_lib bench --show DIR/trainer.json``), and the table is
printed at the end. The trainer's speed is measured by ``trainer_speed.py``. ``--dry`` runs the same
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
import traceback
import warnings
from pathlib import Path

import torch
from _checks import Checks

from dbdgcn_lib.bench import append_result, environment, format_table, load_results, trainer_records
from dbdgcn_lib.cli import main as cli_main
from dbdgcn_lib.data import ensure_synthetic, make_synthetic
from dbdgcn_lib.training import INPUT_PIPELINES, Trainer, get_preset, random_baseline_map


def synthetic_data(args) -> Path:
    return make_synthetic(args.out / "synthetic-tiny", size="tiny") if args.dry else ensure_synthetic()


def data(args, results: Path, checks: Checks) -> None:
    print(f"data: {synthetic_data(args)}", flush=True)


def smoke(args, results: Path, checks: Checks) -> None:
    root = synthetic_data(args)
    toy = dict(image_size=64, batch_size=8, switches={"embed_dim": 16}) if args.dry else {}
    device = torch.device(args.device)
    env = environment(device)
    for pipeline in INPUT_PIPELINES:
        name = f"smoke {pipeline}"
        config = get_preset(
            "smoke",
            data=str(root),
            device=args.device,
            amp="auto",
            channels_last=args.device != "cpu",
            threads=1 if args.dry else None,
            workers=min(args.workers, 4),
            pipeline=pipeline,
            epochs=args.smoke_epochs,
            **toy,
        )
        out = args.out / "runs" / name.replace(" ", "-")
        trainer = None
        try:
            trainer = Trainer(config, out, overwrite=True, progress=False, verbose=False)
            history = trainer.fit()
            val_map = history[-1]["val_mAP"]
            baseline = random_baseline_map(trainer.val_set.labels)
            losses = [round(r["train_loss"], 4) for r in history]
            detail = f"losses {losses}, val mAP {val_map:.2f} vs random {baseline:.2f}"
            checks(f"{name}: learns", val_map > baseline + 10, detail)
            report = out / "evaluate.json"
            argv = [
                "evaluate",
                "--checkpoint",
                str(out / "last.pt"),
                "--pipeline",
                pipeline,
                "--json",
                str(report),
            ]
            said = io.StringIO()  # the command's output, shown only when it fails
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                code = cli_main([*argv, "--workers", "0", "--device", args.device])
            if code != 0:
                print(said.getvalue()[-2000:])
            again = json.loads(report.read_text())["s"]["table1"]["mAP"] if code == 0 else float("nan")
            checks(f"{name}: evaluate gives the trainer's mAP", abs(again - val_map) < 0.5, f"{again:.2f}")
            peak = round(torch.cuda.max_memory_allocated() / 1e9, 2) if device.type == "cuda" else None
            for record in trainer_records(trainer, env, run=name, mode="smoke", peak_mem_gb=peak):
                append_result(results, record, env)
        except Exception:  # noqa: BLE001 - report and go on to the next pipeline (a non-finite loss included)
            traceback.print_exc()
            checks(f"{name}: runs", False)
        finally:
            trainer = None
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".bench/trainer_check"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--only", default="data,smoke", help="comma-separated: data, smoke")
    parser.add_argument("--smoke-epochs", type=int, default=3)
    parser.add_argument("--dry", action="store_true", help="CPU, toy sizes: checks this script only")
    args = parser.parse_args(argv)
    parts = {"data": data, "smoke": smoke}
    chosen = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in parts]
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(unknown)}; choose from {', '.join(parts)}")
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
    checks = Checks()
    for part in chosen:
        parts[part](args, results, checks)
    if results.is_file():
        data_ = load_results(results)
        print("\n" + format_table(data_["results"], data_["env"]))
    print("\n" + checks.summary("trainer check"))
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
