"""Pilot measurements for the robustness experiment: seed noise, what the larger rare split removes, and
the size of the interventions' effects, at notebook 09's quick-run settings.

    python benchmarks/robustness_pilot.py                              # every group, 5 + 3 seeds
    python benchmarks/robustness_pilot.py --groups baseline --seeds 6
    python benchmarks/robustness_pilot.py --groups baseline swap --image-size 64 --epochs 8

Runs go through ``quick_train_many`` (one worker process per core) and the run cache
(``<runs>/quick``), so a second call only evaluates. Groups (each at the same settings):

- ``baseline``: db_dgcn and db_dgcn without the auxiliary branch, ``--seeds`` seeds each;
- ``swap``: db_dgcn trained on the background-swapped train splits (``--shares``, kind "scene"),
  ``--intervention-seeds`` seeds each;
- ``split``: db_dgcn with the feature split (``quick_train(feature_split=True)``), same seeds;
- ``alpha0``: db_dgcn trained with alpha = 0 (its final score is the maps' s_m), same seeds.

Every run is evaluated on val, plain and the rare split: all of it ("1k", 1,000 images) and its first
300 images (the rare split before it grew; every image has its own random stream, so they are the same
images). The script prints per group the mean and seed SD of each measure, then for each group against
db_dgcn (its first n seeds) the difference of the seed means, the paired bootstrap SD of that
difference (``--bootstrap`` draws of the evaluation images), and the detectable difference of a
stand-in rule: 2.8 x sqrt(sd_a^2 / n_a + sd_b^2 / n_b + paired_sd^2) (a two-sided 5 % test with 80 %
power, normal approximation). ``--time-one`` first measures the CPU seconds of one uncached db_dgcn run
in this process (one thread).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from dbdgcn_lib.data import BackgroundSwap, ensure_synthetic, out_of_scene_mask
from dbdgcn_lib.metrics import out_of_scene_metrics, paired_bootstrap, resample_indices
from dbdgcn_lib.training.quick import quick_train, quick_train_many
from dbdgcn_lib.training.robustness import embedded_robustness

OLD_RARE = 300  # the rare split's size before it grew to 1,000
MEASURES = (
    "val mAP",
    "plain mAP",
    "val recall",
    "val absent",
    "look-alike AUC val",
    "look-alike AUC plain",
    "oos recall 300",
    "in recall 300",
    "absent rare 300",
    "oos mAP 300",
    "in mAP 300",
    "oos recall 1k",
    "in recall 1k",
    "absent rare 1k",
    "oos mAP 1k",
    "in mAP 1k",
)
CONTRASTS = [(f"{kind} {size}", size, key) for kind, key in (
    ("oos mAP", "out_of_scene_mAP"), ("in mAP", "in_scene_mAP"), ("oos recall", "out_of_scene_recall")
) for size in ("300", "1k")]  # fmt: skip


def measures(run) -> dict:
    """The pilot's measures of one run (percent), and its rare probabilities (``_rare``)."""
    probabilities, targets = {}, {}
    for split in ("val", "plain", "rare"):
        probabilities[split] = run.predict(split)["logits"].sigmoid().numpy()
        targets[split] = run.tensors(split).targets.numpy()
    rare = run.tensors("rare").dataset
    mask = out_of_scene_mask(rare)
    report = embedded_robustness(probabilities, targets, mask, rare.categories)
    first = out_of_scene_metrics(
        probabilities["rare"][:OLD_RARE], targets["rare"][:OLD_RARE], mask[:OLD_RARE]
    )
    values = {
        "val mAP": report["val"]["mAP"],
        "plain mAP": report["plain"]["mAP"],
        "val recall": report["val"]["recall"],
        "val absent": report["val"]["absent_predicted"],
        "look-alike AUC val": report["val"]["lookalike_auc"]["mouse / stone"]["auc"],
        "look-alike AUC plain": report["plain"]["lookalike_auc"]["mouse / stone"]["auc"],
        "_rare": probabilities["rare"],
    }
    for size, m in (("300", first), ("1k", report["rare"])):
        values[f"oos recall {size}"] = m["out_of_scene_recall"]
        values[f"in recall {size}"] = m["in_scene_recall"]
        values[f"absent rare {size}"] = m["absent_predicted"]
        values[f"oos mAP {size}"] = m["out_of_scene_mAP"]
        values[f"in mAP {size}"] = m["in_scene_mAP"]
    return values


def seed_mean(key: str):
    """``out_of_scene_metrics(...)[key]`` of (N, S, C) probabilities, averaged over the S seeds."""

    def metric(p, t, m):
        return float(np.mean([out_of_scene_metrics(p[:, s], t, m)[key] for s in range(p.shape[1])]))

    return metric


def plan(args) -> dict[str, list[dict]]:
    run = dict(image_size=args.image_size, epochs=args.epochs, embed_dim=64, cache=True)
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
    if "alpha0" in args.groups:
        groups["alpha 0"] = [{"variant": "db_dgcn", **run, "seed": s, "alpha": 0.0} for s in seeds]
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", nargs="+", default=["baseline", "swap", "split", "alpha0"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the baseline rows")
    parser.add_argument("--intervention-seeds", type=int, default=3)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--time-one", action="store_true", help="time one uncached db_dgcn run here")
    args = parser.parse_args()

    if args.time_one:
        start_cpu, start = time.process_time(), time.perf_counter()
        quick_train("db_dgcn", image_size=args.image_size, epochs=args.epochs, embed_dim=64, seed=100)
        print(
            f"one db_dgcn run ({args.image_size} px, {args.epochs} epochs, one thread): "
            f"{time.process_time() - start_cpu:.0f} CPU s, {time.perf_counter() - start:.0f} s wall"
        )
    groups = plan(args)
    jobs = [job for group in groups.values() for job in group]
    start = time.perf_counter()
    trained = quick_train_many(jobs, workers=args.workers, predict=("val", "plain", "rare"), progress=True)
    print(f"{len(jobs)} runs (trained or loaded from the cache) in {time.perf_counter() - start:.0f} s wall")

    results, index = {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample may miss a class
        for name, group in groups.items():
            results[name] = [measures(run) for run in trained[index : index + len(group)]]
            index += len(group)

    print(f"\nmean (seed SD) over seeds; 300 = the first {OLD_RARE} rare images, 1k = all 1,000")
    print(f"{'':<22}" + "".join(f"{name:>16}" for name in results))
    for measure in MEASURES:
        row = f"{measure:<22}"
        for values in results.values():
            v = np.array([r[measure] for r in values])
            row += f"{v.mean():9.1f} ({v.std(ddof=1) if len(v) > 1 else float('nan'):4.1f})"
        print(row)

    reference = results.get("db_dgcn")
    if reference is None:
        return
    print(
        "\nagainst db_dgcn (its first n seeds): difference of the seed means, seed SDs, paired bootstrap SD,"
    )
    print("and the stand-in detectable difference 2.8 x sqrt(sd_a^2/n_a + sd_b^2/n_b + paired_sd^2)")
    rare = next(iter(trained)).tensors("rare")
    targets, mask = rare.targets.numpy(), out_of_scene_mask(rare.dataset)
    rows = {"300": slice(0, OLD_RARE), "1k": slice(None)}
    draws = {size: resample_indices(len(targets[rows[size]]), args.bootstrap) for size in rows}
    for name, values in results.items():
        if name == "db_dgcn":
            continue
        base = reference[: len(values)]
        for measure, size, key in CONTRASTS:
            a = np.array([r[measure] for r in values])
            b = np.array([r[measure] for r in base])
            t, m = targets[rows[size]], mask[rows[size]]
            pa = np.stack([r["_rare"][rows[size]] for r in values], axis=1)
            pb = np.stack([r["_rare"][rows[size]] for r in base], axis=1)
            paired = paired_bootstrap(seed_mean(key), (pa, t, m), (pb, t, m), draws[size]).std()
            sd_a, sd_b = a.std(ddof=1), b.std(ddof=1)
            detect = 2.8 * np.sqrt(sd_a**2 / len(a) + sd_b**2 / len(b) + paired**2)
            print(
                f"{name:<16}{measure:<16} {a.mean() - b.mean():+6.1f}  seed SD {sd_a:4.1f} / {sd_b:4.1f}  "
                f"paired bootstrap SD {paired:4.1f}  detectable ~{detect:4.1f}  (n = {len(a)} / {len(b)})"
            )


if __name__ == "__main__":
    main()
