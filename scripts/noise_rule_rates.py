"""How often the noise rule calls two identical models different, measured end to end.

Every "model" here is a run of one and the same training procedure: on a fixed evaluation set (N
images, C classes) its logits are ``skill * target + noise``, where the skill of each class varies
from seed to seed and the noise from image to image. So every difference between two arms is noise,
and each verdict other than "within noise" is a false alarm. Each experiment measures mAP per run, the
paired bootstrap of the arms' seed means (R resamples, as notebook 09), then asks the old rule
(``|d| >= 2 * hypot(seed gap, paired sd)``) and the library's ``noise_comparison``, in the designs
the course uses:

- one pair: one seed per arm, the reference's second seed gives the seed spread (09 in smoke mode);
- pooled: 7 models with 2 seeds each, the spread pooled over them (09 in full mode);
- within one model: two readings (s and s_m) of the same 3 runs, per-seed paired differences.

    python scripts/noise_rule_rates.py             # 300 experiments per design: about 4 minutes
    python scripts/noise_rule_rates.py --trials 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dbdgcn_lib.metrics import (
    mean_average_precision,
    noise_comparison,
    paired_bootstrap,
    resample_indices,
    seed_spread,
)


def evaluation_set(rng, images: int, classes: int) -> np.ndarray:
    prevalence = rng.uniform(0.05, 0.4, size=classes)
    return (rng.random((images, classes)) < prevalence).astype(np.float32)


def run_scores(rng, targets: np.ndarray) -> dict[str, np.ndarray]:
    """One trained run: probabilities of two readings of it, "s" and "s_m", which share the run's skill
    (so they move together from seed to seed) and are equally good in expectation."""
    skill = 1.5 + 0.25 * rng.standard_normal(targets.shape[1])
    readings = {}
    for name in ("s", "s_m"):
        logits = (skill + 0.1 * rng.standard_normal(skill.shape)) * targets + rng.standard_normal(
            targets.shape
        )
        readings[name] = 1 / (1 + np.exp(-logits))
    return readings


def seed_mean_map(stacked, targets):
    """mAP of each seed (stacked (N, S, C)), averaged over the seeds: the statistic 09 resamples."""
    return np.mean([mean_average_precision(stacked[:, k], targets) for k in range(stacked.shape[1])])


def paired_sd(candidate: list, reference: list, targets, resamples) -> float:
    a, b = np.stack(candidate, axis=1), np.stack(reference, axis=1)
    return float(paired_bootstrap(seed_mean_map, (a, targets), (b, targets), resamples).std())


def one_pair(rng, targets, resamples):
    a0, b0, b1 = (run_scores(rng, targets)["s"] for _ in range(3))
    maps = [mean_average_precision(p, targets) for p in (a0, b0, b1)]
    sd = paired_sd([a0], [b0], targets, resamples)
    old = abs(maps[0] - maps[1]) >= 2 * np.hypot(abs(maps[1] - maps[2]), sd)
    new = noise_comparison(maps[0], maps[1], sd, spread=seed_spread(maps[1:]))
    return old, new


def pooled(rng, targets, resamples):
    runs = [[run_scores(rng, targets)["s"] for _ in range(2)] for _ in range(7)]
    maps = [[mean_average_precision(p, targets) for p in model] for model in runs]
    sd = paired_sd(runs[1], runs[0], targets, resamples)
    gap = np.mean([abs(m[0] - m[1]) for m in maps])
    difference = np.mean(maps[1]) - np.mean(maps[0])
    old = abs(difference) >= 2 * np.hypot(gap, sd)
    new = noise_comparison(maps[1], maps[0], sd, spread=seed_spread(*maps))
    return old, new


def within_model(rng, targets, resamples):
    """s_m against s of the same 3 runs (equally good in expectation), per-seed paired differences."""
    runs = [run_scores(rng, targets) for _ in range(3)]
    s = [mean_average_precision(r["s"], targets) for r in runs]
    s_m = [mean_average_precision(r["s_m"], targets) for r in runs]
    sd = paired_sd([r["s_m"] for r in runs], [r["s"] for r in runs], targets, resamples)
    gap = np.mean([abs(x - y) for x, y in zip(s[:2], s[1:])])  # 09's between-seed gap of the model
    old = abs(np.mean(s_m) - np.mean(s)) >= 2 * np.hypot(gap, sd)
    new = noise_comparison(s_m, s, sd, paired_seeds=True)
    return old, new


DESIGNS = {
    "one pair of seeds": one_pair,
    "7 models x 2 seeds, pooled": pooled,
    "within one model": within_model,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=300, help="experiments per design (default 300)")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=100, help="paired bootstrap draws (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(
        f"{args.trials} experiments per design; {args.images} images x {args.classes} classes, "
        f"{args.resamples} paired resamples; share called beyond noise (all of them false alarms)"
    )
    print(f"{'design':<28} {'old rule':>9} {'new rule':>9} {'+/-':>6} {'median detectable':>18}")
    for name, design in DESIGNS.items():
        rng = np.random.default_rng(args.seed)
        start = time.perf_counter()
        old, detectable, beyond = [], [], []
        for _ in range(args.trials):
            targets = evaluation_set(rng, args.images, args.classes)
            resamples = resample_indices(args.images, args.resamples, seed=int(rng.integers(1 << 31)))
            was_called, comparison = design(rng, targets, resamples)
            old.append(was_called)
            beyond.append(comparison.verdict != "within noise")
            detectable.append(comparison.detectable)
        rate = np.mean(beyond)
        error = 2 * np.sqrt(max(rate, 0.05) * (1 - max(rate, 0.05)) / args.trials)
        print(
            f"{name:<28} {100 * np.mean(old):8.1f}% {100 * rate:8.1f}% {100 * error:5.1f}% "
            f"{np.median(detectable):14.2f} mAP   ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    print("+/-: two standard errors of the simulated share (at least that of a 5 % share)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
