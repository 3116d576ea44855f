"""Pilot measurements for the robustness experiment: seed noise, what a bigger rare split removes, and
the size of the interventions' effects, at notebook 09's quick-run settings.

    python benchmarks/robustness_pilot.py                         # every group, 5 + 3 seeds
    python benchmarks/robustness_pilot.py --groups baseline --seeds 6
    python benchmarks/robustness_pilot.py --image-size 64 --epochs 8   # smaller settings

Runs go through ``quick_train_many`` (one worker process per core) and the run cache
(``<runs>/quick``), so a second call only evaluates. Groups (each at the same settings):

- ``baseline``: db_dgcn and db_dgcn without the auxiliary branch, ``--seeds`` seeds each;
- ``swap``: db_dgcn trained on the background-swapped train splits (``--shares``, kind "scene"),
  ``--intervention-seeds`` seeds each;
- ``split``: db_dgcn with the feature split (``quick_train(feature_split=True)``), same seeds;
- ``alpha0``: db_dgcn trained with alpha = 0 (its final score is the maps' s_m), same seeds.

Every run is evaluated on val, plain, the default rare split (300 images) and a larger rare split
(``--rare`` images, generated in ``<data>/synthetic-rare<N>``; its first 300 images are the default
ones). The script prints per group the mean and seed SD of each measure, the paired bootstrap SD of
each contrast's seed-mean difference (200 draws of the evaluation images), and the detectable
difference of a stand-in rule: 2.8 x sqrt(sd_a^2 / n_a + sd_b^2 / n_b + paired_sd^2) (a two-sided 5 %
test with 80 % power, normal approximation). The CPU seconds of one run are measured in this process
(one thread) with ``--time-one``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from dbdgcn_lib.data import (
    BackgroundSwap,
    CocoMultiLabel,
    SyntheticSize,
    ensure_synthetic,
    out_of_scene_mask,
)
from dbdgcn_lib.metrics import out_of_scene_metrics, paired_bootstrap, resample_indices
from dbdgcn_lib.paths import default_data_root
from dbdgcn_lib.training.quick import quick_train, quick_train_many, split_tensors
from dbdgcn_lib.training.robustness import embedded_robustness

MEASURES = (
    "val mAP",
    "plain mAP",
    "val recall",
    "val absent",
    "look-alike AUC val",
    "look-alike AUC plain",
    "oos recall",
    "in recall",
    "absent rare",
    "oos mAP",
    "in mAP",
    "oos recall 1k",
    "oos mAP 1k",
    "in mAP 1k",
)


def measures(run, rare_big) -> dict:
    """The pilot's measures of one run (percent)."""
    probabilities, targets = {}, {}
    for split in ("val", "plain", "rare"):
        probabilities[split] = run.predict(split)["logits"].sigmoid().numpy()
        targets[split] = run.tensors(split).targets.numpy()
    dataset = run.tensors("rare").dataset
    report = embedded_robustness(probabilities, targets, out_of_scene_mask(dataset), dataset.categories)
    big = run.predict(rare_big["images"])["logits"].sigmoid().numpy()
    large = out_of_scene_metrics(big, rare_big["targets"], rare_big["mask"])
    return {
        "val mAP": report["val"]["mAP"],
        "plain mAP": report["plain"]["mAP"],
        "val recall": report["val"]["recall"],
        "val absent": report["val"]["absent_predicted"],
        "look-alike AUC val": report["val"]["lookalike_auc"]["mouse / stone"]["auc"],
        "look-alike AUC plain": report["plain"]["lookalike_auc"]["mouse / stone"]["auc"],
        "oos recall": report["rare"]["out_of_scene_recall"],
        "in recall": report["rare"]["in_scene_recall"],
        "absent rare": report["rare"]["absent_predicted"],
        "oos mAP": report["rare"]["out_of_scene_mAP"],
        "in mAP": report["rare"]["in_scene_mAP"],
        "oos recall 1k": large["out_of_scene_recall"],
        "oos mAP 1k": large["out_of_scene_mAP"],
        "in mAP 1k": large["in_scene_mAP"],
        "_rare300": probabilities["rare"],
        "_rare1k": big,
    }


def seed_mean(key: str):
    """The metric ``out_of_scene_metrics(...)[key]`` of (N, S, C) probabilities, averaged over the S seeds."""

    def metric(p, t, m):
        return float(np.mean([out_of_scene_metrics(p[:, s], t, m)[key] for s in range(p.shape[1])]))

    return metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", nargs="+", default=["baseline", "swap", "split", "alpha0"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the baseline rows")
    parser.add_argument("--intervention-seeds", type=int, default=3)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--rare", type=int, default=1000, help="images of the larger rare split")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--time-one", action="store_true", help="time one uncached db_dgcn run here")
    args = parser.parse_args()

    run = dict(image_size=args.image_size, epochs=args.epochs, embed_dim=64, cache=True)
    default = ensure_synthetic()
    groups: dict[str, list[dict]] = {}
    if "baseline" in args.groups:
        groups["db_dgcn"] = [{"variant": "db_dgcn", **run, "seed": s} for s in range(args.seeds)]
        groups["aux off"] = [
            {"variant": "db_dgcn", "aux_branch": False, **run, "seed": s} for s in range(args.seeds)
        ]
    seeds = range(args.intervention_seeds)
    if "swap" in args.groups:
        for share in args.shares:
            root = ensure_synthetic(swap=BackgroundSwap(share))
            groups[f"swap {100 * share:g}%"] = [
                {"variant": "db_dgcn", **run, "seed": s, "root": root} for s in seeds
            ]
    if "split" in args.groups:
        groups["feature split"] = [
            {"variant": "db_dgcn", **run, "seed": s, "feature_split": True} for s in seeds
        ]

    if args.time_one:
        start_cpu, start = time.process_time(), time.perf_counter()
        quick_train("db_dgcn", **{**run, "cache": False}, seed=100)
        print(
            f"one db_dgcn run ({args.image_size} px, {args.epochs} epochs, one thread): "
            f"{time.process_time() - start_cpu:.0f} CPU s, {time.perf_counter() - start:.0f} s wall"
        )

    jobs = [job for group in groups.values() for job in group]
    start = time.perf_counter()
    trained = quick_train_many(jobs, workers=args.workers, predict=("val", "plain", "rare"), progress=True)
    print(f"{len(jobs)} runs (trained or loaded from the cache) in {time.perf_counter() - start:.0f} s wall")

    big_root = ensure_synthetic(
        default_data_root() / f"synthetic-rare{args.rare}",
        SyntheticSize(train=0, val=0, rare=args.rare, plain=0),
    )
    big = split_tensors(big_root, "rare", args.image_size)
    rare_big = {
        "images": big.images,
        "targets": big.targets.numpy(),
        "mask": out_of_scene_mask(CocoMultiLabel(big_root, "rare")),
    }
    results, index = {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, group in groups.items():
            results[name] = [measures(trained[index + k], rare_big) for k in range(len(group))]
            index += len(group)

    print(f"\nmean (seed SD) over seeds; rare = 300 images, 1k = {args.rare}")
    print(f"{'':<22}" + "".join(f"{name:>16}" for name in results))
    for measure in MEASURES:
        row = f"{measure:<22}"
        for values in results.values():
            v = np.array([r[measure] for r in values])
            row += f"{v.mean():9.1f} ({v.std(ddof=1) if len(v) > 1 else float('nan'):4.1f})"
        print(row)

    print("\ncontrasts with db_dgcn (its first n seeds): difference of the seed means, its parts, and the")
    print("stand-in detectable difference 2.8 x sqrt(sd_a^2/n_a + sd_b^2/n_b + paired_sd^2)")
    reference = results.get("db_dgcn")
    if reference is None:
        return
    rare = split_tensors(default, "rare", args.image_size)
    evaluation = {
        "300": (rare.targets.numpy(), out_of_scene_mask(rare.dataset), resample_indices(300, args.bootstrap)),
        "1k": (rare_big["targets"], rare_big["mask"], resample_indices(args.rare, args.bootstrap)),
    }
    contrasts = [("oos mAP", "300", "out_of_scene_mAP"), ("oos mAP 1k", "1k", "out_of_scene_mAP")]
    contrasts += [("in mAP", "300", "in_scene_mAP"), ("in mAP 1k", "1k", "in_scene_mAP")]
    contrasts += [
        ("oos recall", "300", "out_of_scene_recall"),
        ("oos recall 1k", "1k", "out_of_scene_recall"),
    ]
    for name, values in results.items():
        if name == "db_dgcn":
            continue
        base = reference[: len(values)]
        for measure, size, key in contrasts:
            a = np.array([r[measure] for r in values])
            b = np.array([r[measure] for r in base])
            t, m, draws = evaluation[size]
            pa = np.stack([r[f"_rare{size}"] for r in values], axis=1)
            pb = np.stack([r[f"_rare{size}"] for r in base], axis=1)
            paired = paired_bootstrap(seed_mean(key), (pa, t, m), (pb, t, m), draws).std()
            sd_a, sd_b = a.std(ddof=1), b.std(ddof=1)
            detect = 2.8 * np.sqrt(sd_a**2 / len(a) + sd_b**2 / len(b) + paired**2)
            print(
                f"{name:<16}{measure:<14} {a.mean() - b.mean():+6.1f}  seed SD {sd_a:4.1f} / {sd_b:4.1f}  "
                f"paired bootstrap SD {paired:4.1f}  detectable ~{detect:4.1f}  (n = {len(a)} / {len(b)})"
            )


if __name__ == "__main__":
    main()
