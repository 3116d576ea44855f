"""Is the large-batch recipe (`paper_large`) the paper's recipe in fewer steps? Both, CPU-sized, on the
embedded data, for the same epochs and seeds, through the real Trainer.

    python benchmarks/large_batch.py                    # 2 seeds x 2 recipes, 12 epochs at 96 px
    python benchmarks/large_batch.py --epochs 2 --seeds 0 --image-size 64   # a quick look

Each run keeps the recipe's optimisation settings (learning rates, weight decay, momentum, clipping,
batch, warm-up) and only shrinks the machine: the tiny backbone from random initialisation, float32 on
the CPU, one thread, and the milestones at the paper's share of the run (after 60% and 80% of the
epochs, as 30 and 40 of 50). Runs go to one worker process per core. Prints one row per run, the mean
final val mAP per recipe and the verdict: the difference of the means against the seed-to-seed range.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from dbdgcn_lib.data import ensure_synthetic
from dbdgcn_lib.training import Trainer, get_preset, parse_assignments
from dbdgcn_lib.training.quick import default_workers


def cpu_sized(recipe: str, *, epochs: int, image_size: int, seed: int, root: str, **changes):
    """The recipe with the machine shrunk to the CPU and the embedded data (see the module); ``changes``
    override recipe settings (to try another learning rate or warm-up)."""
    milestones = tuple(sorted({max(1, round(epochs * 0.6)), max(1, round(epochs * 0.8))}))
    return get_preset(
        recipe,
        dataset="synthetic",
        data=root,
        train_split="train",
        val_split="val",
        image_size=image_size,
        backbone="tiny",
        pretrained=None,
        switches={"embed_dim": 64},
        epochs=epochs,
        milestones=milestones if epochs > 2 else (),
        device="cpu",
        amp="none",
        channels_last=False,
        workers=0,
        threads=1,
        seed=seed,
        **changes,
    )


def run_one(job: tuple[str, int, int, int, str, dict]) -> dict:
    recipe, seed, epochs, image_size, root, changes = job
    start = time.perf_counter()
    config = cpu_sized(recipe, epochs=epochs, image_size=image_size, seed=seed, root=root, **changes)
    history = Trainer(config, progress=False, verbose=False).fit()
    return {
        "recipe": recipe,
        "seed": seed,
        "batch": config.batch_size,
        "lr_head": config.lr_head,
        "final_mAP": history[-1]["val_mAP"],
        "best_mAP": max(r["val_mAP"] for r in history),
        "final_loss": history[-1]["train_loss"],
        "minutes": (time.perf_counter() - start) / 60,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--seeds", default="0,1", help="comma list (default 0,1)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: the cores available)")
    parser.add_argument("--recipes", default="paper,paper_large", help="comma list (default %(default)s)")
    parser.add_argument(
        "--large", action="append", default=[], metavar="KEY=VALUE",
        help="change a setting of paper_large, e.g. --large warmup_epochs=5 --large lr_head=1.41",
    )  # fmt: skip
    parser.add_argument(
        "--paper", action="append", default=[], metavar="KEY=VALUE",
        help="change a setting of paper, e.g. --paper batch_size=4 --paper lr_head=0.111",
    )  # fmt: skip
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    recipes = args.recipes.split(",")
    changes = {"paper": parse_assignments(args.paper), "paper_large": parse_assignments(args.large)}
    root = str(ensure_synthetic())
    jobs = [
        (recipe, seed, args.epochs, args.image_size, root, changes.get(recipe, {}))
        for recipe in recipes
        for seed in seeds
    ]
    workers = args.workers or default_workers()
    print(f"{len(jobs)} runs of {args.epochs} epochs at {args.image_size} px, {workers} worker process(es)")
    for recipe, changed in changes.items():
        if changed and recipe in recipes:
            print(f"{recipe} with " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    start = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
        rows = list(pool.map(run_one, jobs))
    head = ("recipe", "seed", "batch", "lr head", "final mAP", "best mAP", "loss", "min")
    print("".join(f"{h:{w}}" for h, w in zip(head, ("<12", ">5", ">6", ">8", ">11", ">10", ">8", ">6"))))
    for r in rows:
        print(
            f"{r['recipe']:<12}{r['seed']:>5}{r['batch']:>6}{r['lr_head']:>8g}{r['final_mAP']:>11.2f}"
            f"{r['best_mAP']:>10.2f}{r['final_loss']:>8.4f}{r['minutes']:>6.1f}"
        )
    final = {recipe: np.array([r["final_mAP"] for r in rows if r["recipe"] == recipe]) for recipe in recipes}
    means = ", ".join(f"{recipe} {values.mean():.2f}" for recipe, values in final.items())
    spread = max(v.max() - v.min() for v in final.values())
    print(f"mean final val mAP: {means}; largest seed-to-seed range {spread:.2f}")
    if len(recipes) == 2 and len(seeds) > 1:
        diff = final[recipes[1]].mean() - final[recipes[0]].mean()
        verdict = "within seed noise" if abs(diff) <= spread else "beyond seed noise"
        print(f"difference {diff:+.2f}: {verdict} (against the largest seed-to-seed range of one recipe)")
    print(f"{(time.perf_counter() - start) / 60:.1f} minutes in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
