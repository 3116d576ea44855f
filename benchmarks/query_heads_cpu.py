"""What the label-query heads cost beside the graph heads: parameters, FLOPs, CPU time, quick runs.

    python benchmarks/query_heads_cpu.py                      # parameters, FLOPs, CPU ms per image
    python benchmarks/query_heads_cpu.py --runs --seeds 0,1   # + quick_train runs at notebook 09's size
    python benchmarks/query_heads_cpu.py --only-runs --seeds 0 --lr 1e-3 --variants q2l,ml_decoder

1. Parameter counts at the quick-run size (tiny backbone, 20 classes, D = 64) and at the papers'
   (ResNet-101, 80 classes, each variant's own width).
2. Forward FLOPs at 448 px with ResNet-101 (``torch.utils.flop_counter`` on the meta device: shapes
   only), and what a 50-epoch COCO run would take if a step's time scaled with its FLOPs, from the
   GPU rates recorded for the ``resnet`` variant (GMP + linear: the backbone alone) in ``--rates``.
   The same rule applied to db_dgcn is printed beside db_dgcn's measured rates as a check of it.
3. CPU milliseconds per image at the quick-run size (96 px, batch 32, one thread, as ``quick_train``):
   the evaluation forward and a training step (Adam, BCE), median of ``--repeats``.
4. With ``--runs``: ``quick_train`` of ``--variants`` per seed at notebook 09's full settings (96 px,
   12 epochs, D = 64, every training image; Adam at ``--lr``, quick_train's 3e-3 by default): wall
   and CPU seconds per run (on one thread the CPU time is what the run costs on a quiet core) and
   the val mAP, against db_dgcn's when it is among the variants.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from dbdgcn_lib.bench import cpu_ms_per_image, forward_flops, load_results, recorded_rates
from dbdgcn_lib.models import ABLATION_ROWS, QUERY_ROWS, parameter_table
from dbdgcn_lib.training.estimate import coco_run_hours
from dbdgcn_lib.training.quick import quick_train

VARIANTS = ("resnet", "add_gcn", "db_dgcn", "q2l", "ml_decoder")
RATES = Path(__file__).resolve().parents[1] / "docs/results/gpu_check_h200_2026-11-26.json"


def parameters() -> None:
    for backbone, classes, dim in (("tiny", 20, 64), ("resnet101", 80, None)):
        width = f"D = {dim}" if dim else "D = each variant's own"
        print(f"\nparameters: {backbone}, {classes} classes, {width}")
        print(f"  {'model':<30}{'D':>6}{'head':>14}{'total':>14}")
        for row in parameter_table(backbone, classes, dim, rows=ABLATION_ROWS + QUERY_ROWS):
            print(f"  {row['name']:<30}{row['D'] or '':>6}{row['head']:>14,}{row['total']:>14,}")


def flops_and_estimates(path: Path) -> None:
    flops = {v: forward_flops(v) for v in VARIANTS}
    backbone = flops["resnet"][0]
    print(f"\nforward GFLOPs per 448 px image, ResNet-101, 80 classes: backbone {backbone / 1e9:.1f}")
    for variant, (_, head) in flops.items():
        print(
            f"  {variant:<12} head {head / 1e9:7.2f} GFLOPs = {100 * head / backbone:5.1f}% of the backbone"
        )
    rates = recorded_rates(path)
    if ("resnet", "train") not in rates or ("resnet", "eval") not in rates:
        print(f"no fast compiled resnet rates in {path}: no estimates")
        return
    device = load_results(path)["env"] or {}
    print(
        f"\n50 COCO epochs if time scaled with FLOPs, from the resnet variant's recorded rates "
        f"({device.get('device_name', 'GPU')}, {path.name}: train {rates['resnet', 'train']:,.0f}, "
        f"eval {rates['resnet', 'eval']:,.0f} img/s, batch 256, compiled, bf16):"
    )
    for variant, (_, head) in flops.items():
        scale = backbone / (backbone + head)
        train, evaluate = rates["resnet", "train"] * scale, rates["resnet", "eval"] * scale
        line = (
            f"  {variant:<12} train {train:7,.0f}  eval {evaluate:7,.0f} img/s -> "
            f"{coco_run_hours(train, evaluate):5.2f} h"
        )
        if (variant, "train") in rates and (variant, "eval") in rates and variant != "resnet":
            measured = coco_run_hours(rates[variant, "train"], rates[variant, "eval"])
            line += (
                f"   (measured: train {rates[variant, 'train']:,.0f}, eval {rates[variant, 'eval']:,.0f} "
                f"img/s -> {measured:.2f} h)"
            )
        print(line)


def quick_runs(seeds: list[int], variants: list[str], lr: float) -> None:
    settings = dict(image_size=96, epochs=12, embed_dim=64, lr=lr)
    print(f"\nquick_train at notebook 09's full settings {settings}, one thread, seeds {seeds}:")
    results: dict[str, list[tuple[float, float]]] = {}
    for seed in seeds:
        for variant in variants:
            start, cpu_start = time.perf_counter(), time.process_time()
            run = quick_train(variant, seed=seed, **settings)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            val_map = run.history[-1]["val_mAP"]
            results.setdefault(variant, []).append((cpu, val_map))
            print(
                f"  {variant:<12} seed {seed}: {seconds:6.1f} s wall, {cpu:6.1f} s CPU, "
                f"val mAP {val_map:5.1f}",
                flush=True,
            )
    reference = [m for _, m in results.get("db_dgcn", [])]
    for variant, rows in results.items():
        maps = [m for _, m in rows]
        cpu = statistics.mean(c for c, _ in rows)
        line = f"  {variant:<12} mean {cpu:6.1f} s CPU per run, val mAP {statistics.mean(maps):5.1f}"
        if reference:
            line += "; minus db_dgcn per seed: " + ", ".join(f"{m - r:+.1f}" for m, r in zip(maps, reference))
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per CPU measurement")
    parser.add_argument("--runs", action="store_true", help="also the quick_train runs (minutes)")
    parser.add_argument("--seeds", default="0,1", help="seeds of the quick runs")
    parser.add_argument("--variants", default="db_dgcn,q2l,ml_decoder", help="variants of the quick runs")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's rate in the quick runs")
    parser.add_argument("--only-runs", action="store_true", help="the quick runs alone (skip parts 1-3)")
    parser.add_argument("--rates", type=Path, default=RATES, help="a bench results file with GPU rates")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.only_runs:
        quick_runs([int(s) for s in args.seeds.split(",")], args.variants.split(","), args.lr)
        return 0
    parameters()
    flops_and_estimates(args.rates)
    print(
        f"\nCPU ms per image, tiny backbone, 20 classes, D = 64, 96 px, batch 32, one thread "
        f"(median of {args.repeats}):"
    )
    for variant, (forward, step) in cpu_ms_per_image(VARIANTS, repeats=args.repeats).items():
        print(f"  {variant:<12} forward {forward:6.2f}   training step {step:6.2f}")
    if args.runs:
        quick_runs([int(s) for s in args.seeds.split(",")], args.variants.split(","), args.lr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
