"""The noise rule (dbdgcn_lib.metrics.noise) and the chance level (dbdgcn_lib.metrics.chance).

The noise rule's promise: when both arms come from the same training procedure, it calls them
different in at most 5 % of experiments, in every use the course makes. The simulations below draw
such experiments (seeded, normal seed noise of SD 1) and count the verdicts the library gives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dbdgcn_lib.metrics import (
    NO_SEED_NOISE,
    VERDICTS,
    ChanceLevel,
    SeedSpread,
    average_precision,
    chance_level,
    detectable_difference,
    detectable_phrase,
    noise_comparison,
    noise_verdict,
    out_of_scene_metrics,
    seed_spread,
)
from dbdgcn_lib.metrics.noise import t_quantile

TRIALS = 1500  # per design: the share of false alarms has a standard error of 0.6 points at 5 %
ALLOWED = 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / TRIALS)  # 5 % and the simulation's own error


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7, 12, 30, 101, 1000])
def test_t_quantile_equals_scipy(dof, level):
    assert t_quantile(level, dof) == pytest.approx(stats.t.ppf((1 + level) / 2, dof), rel=1e-10)
    assert t_quantile(level, math.inf) == pytest.approx(stats.norm.ppf((1 + level) / 2), rel=1e-12)


def test_seed_spread_pools_within_model_variance_by_hand():
    # squared deviations from each model's own mean: (1 + 1) + (4 + 0 + 4) + nothing (one seed)
    spread = seed_spread([10, 12], [1, 3, 5], [7])
    assert (spread.variance, spread.dof) == (pytest.approx(10 / 3), 3)
    assert str(spread) == "seed sd 1.83 (3 degrees of freedom)"
    assert seed_spread([4.0], [5.0]).dof == 0
    with pytest.raises(ValueError, match="finite"):
        seed_spread([1.0, float("nan")])


def test_the_rule_by_hand():
    # two seeds per arm, spread from both arms: squares 2 + 0 over 2 dof -> v = 1; the seed SD of the
    # difference sqrt(v (1/2 + 1/2)) = 1 times t(2 dof) = 4.3027, the paired sd 0.75 times z = 1.96
    c = noise_comparison([10, 12], [9, 9], 0.75)
    assert c.difference == 2.0 and c.spread == SeedSpread(1.0, 2)
    assert c.detectable == pytest.approx(math.hypot(stats.t.ppf(0.975, 2) * 1, stats.norm.ppf(0.975) * 0.75))
    assert c.verdict == "within noise"
    # the same seeds pooled with five more models (7 dof): t(7 dof) = 2.3646
    pooled = SeedSpread(1.0, 7)
    c = noise_comparison([10, 12], [7, 7], [0.0, 1.5], spread=pooled)  # a paired sd from its draws: 1.0607
    assert c.detectable == pytest.approx(
        math.hypot(stats.t.ppf(0.975, 7), stats.norm.ppf(0.975) * 1.5 / 2**0.5)
    )
    assert c.verdict == "better beyond noise" and noise_verdict([10, 12], [7, 7], spread=pooled) == c.verdict
    # paired seeds: differences (1, 3): v = 2 over 1 dof; seed part v / 2 = 1; t(1 dof) = 12.706
    c = noise_comparison([11, 13], [10, 10], paired_seeds=True)
    assert c.detectable == pytest.approx(stats.t.ppf(0.975, 1))
    assert str(c) == (
        "+2.0 points, within noise: this comparison can only see differences larger than 12.7 points"
    )
    assert c.row()["dof"] == 1 and set(c.row()) >= {"difference", "detectable", "verdict", "paired sd"}


def test_smaller_is_better_turns_the_words_round():
    pooled = SeedSpread(0.25, 10)
    assert noise_verdict([5.0], [1.0], spread=pooled) == "better beyond noise"
    assert noise_verdict([5.0], [1.0], spread=pooled, higher_is_better=False) == "worse beyond noise"
    assert noise_verdict([1.0], [5.0], spread=pooled, higher_is_better=False) == "better beyond noise"
    assert noise_verdict([1.0], [1.0], spread=pooled, higher_is_better=False) == "within noise"


def test_a_test_time_change_of_one_model_has_only_image_noise():
    # the same trained weights with another prior: no seed noise, a known paired sd: z = 1.96
    c = noise_comparison(10.0, 9.0, 0.5, spread=NO_SEED_NOISE)
    assert c.detectable == pytest.approx(stats.norm.ppf(0.975) * 0.5) and c.verdict == "better beyond noise"
    assert noise_verdict(10.0, 10.0, 0.0, spread=NO_SEED_NOISE) == "within noise"  # nothing changed
    assert noise_verdict(10.0, 9.99, 0.0, spread=NO_SEED_NOISE) == "better beyond noise"


def test_bad_designs_are_refused_in_one_line():
    with pytest.raises(ValueError, match="no second seed"):
        noise_comparison(1.2, 1.7, 0.6)  # the old rule's (difference, seed_gap, paired_sd) is refused
    with pytest.raises(ValueError, match="no second seed"):
        noise_comparison(1.2, 1.7, spread=seed_spread([1.2], [1.7]))
    with pytest.raises(ValueError, match="two or more finite differences"):
        noise_comparison([1, 2], [1, 3], [0.5])
    with pytest.raises(ValueError, match="2 candidate and 3 reference"):
        noise_comparison([1, 2], [1, 2, 3], paired_seeds=True)
    with pytest.raises(ValueError, match="candidate must be"):
        noise_comparison([float("nan")], [1.0], spread=SeedSpread(1, 3))
    with pytest.raises(ValueError, match="paired_sd"):
        detectable_difference(SeedSpread(1, 3), 2, -0.1)
    with pytest.raises(ValueError, match=">= 0"):
        SeedSpread(-1.0, 3)


@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize(
    ("seeds", "spread", "paired_seeds", "paired_sd"),
    [
        ((1, 1), SeedSpread(2.25, 1), False, 0.4),  # one pair of seeds
        ((2, 3), None, False, 0.0),  # several seeds per arm
        ((2, 2), SeedSpread(0.8, 7), False, 0.3),  # pooled over seven models
        ((3, 3), None, True, 1.1),  # per-seed paired differences
        ((1, 1), NO_SEED_NOISE, False, 0.5),  # a test-time change of one model
    ],
)
def test_detectable_difference_is_where_the_verdict_turns(
    seeds, spread, paired_seeds, paired_sd, higher_is_better
):
    reference = np.array([3.0, 4.5, 5.0][: seeds[1]])
    base = np.array([3.5, 2.0, 4.0][: seeds[0]])  # its mean moved to the reference's below
    base += reference.mean() - base.mean()
    options = dict(spread=spread, paired_seeds=paired_seeds, higher_is_better=higher_is_better)
    estimated = spread or (seed_spread(base - reference) if paired_seeds else seed_spread(base, reference))
    size = detectable_difference(
        estimated, seeds if not paired_seeds else seeds[0], paired_sd, paired_seeds=paired_seeds
    )
    assert 0 < size < math.inf
    up, down = VERDICTS[1:] if higher_is_better else VERDICTS[:0:-1]  # the words for a rise and a fall
    for sign, word in ((1, up), (-1, down)):
        assert noise_verdict(base + sign * size * (1 + 1e-6), reference, paired_sd, **options) == word
        assert noise_verdict(base + sign * size * (1 - 1e-6), reference, paired_sd, **options) == VERDICTS[0]
    assert (
        detectable_phrase(size) == f"this comparison can only see differences larger than {size:.1f} points"
    )


def test_detectable_difference_shrinks_with_seeds_and_says_when_it_cannot_see():
    sd = SeedSpread(1.0, 7)
    sizes = [detectable_difference(sd, n) for n in (1, 2, 5, 20)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] == pytest.approx(stats.t.ppf(0.975, 7) * math.sqrt(2))
    assert detectable_difference(SeedSpread(0.0, 0), 1) == math.inf
    assert "cannot see any difference" in detectable_phrase(math.inf)
    assert detectable_phrase(0.56, "recall points") == (
        "this comparison can only see differences larger than 0.6 recall points"
    )


# --- the promise, by simulation: identical models are called different in at most 5 % ----------
# Each design draws one experiment: per-seed values of seed SD 1 and, when the paired bootstrap's SD
# is ``image_sd``, a shift of the candidate by as much as another draw of images would move it (the
# harder null: without the shift the rule is more cautious still).


def _one_pair(rng, image_sd):
    """09 in smoke mode: one seed per row; a second seed of the reference gives the spread (1 dof)."""
    a0, b0, b1 = rng.normal(size=3)
    return noise_comparison(a0 + image_sd * rng.normal(), b0, image_sd, spread=seed_spread([b0, b1]))


def _several_seeds(rng, image_sd):
    """Three seeds per arm, the spread from the two arms (4 dof)."""
    a, b = rng.normal(size=(2, 3))
    return noise_comparison(a + image_sd * rng.normal(), b, image_sd)


def _pooled(rng, image_sd):
    """09 in full mode: 7 trained models x 2 seeds, each model once in the pooled spread (7 dof)."""
    models = rng.normal(size=(7, 2))
    spread = seed_spread(*models)
    return noise_comparison(models[1] + image_sd * rng.normal(), models[0], image_sd, spread=spread)


def _within_model(rng, image_sd):
    """s_m against s of the same 3 runs: correlated readings whose seed noise differs (s_m's is larger)."""
    run = rng.normal(size=3)
    s, s_m = run + 0.3 * rng.normal(size=3), 0.5 * run + 1.5 * rng.normal(size=3)
    return noise_comparison(s_m + image_sd * rng.normal(), s, image_sd, paired_seeds=True)


def _smaller_is_better(rng, image_sd):
    """val - plain mAP (smaller = less reliance on the background), pooled over 7 models."""
    models = rng.normal(size=(7, 2))
    spread = seed_spread(*models)
    shifted = models[3] + image_sd * rng.normal()
    return noise_comparison(shifted, models[0], image_sd, spread=spread, higher_is_better=False)


@pytest.mark.parametrize("design", [_one_pair, _several_seeds, _pooled, _within_model, _smaller_is_better])
def test_identical_models_are_called_different_at_most_5_percent_of_the_time(design):
    rng = np.random.default_rng(0)
    for image_sd in (0.0, 0.3, 1.0, 3.0):  # in units of one run's seed SD
        verdicts = [design(rng, image_sd).verdict for _ in range(TRIALS)]
        rate = 1 - verdicts.count("within noise") / TRIALS
        assert rate <= ALLOWED, f"{design.__doc__}: paired sd {image_sd}: {rate:.3f} called beyond noise"
        if image_sd == 0.0:  # close to 5 %: calibrated, not a rule that never fires
            assert rate >= 0.03, (design.__doc__, rate)


def test_a_real_difference_is_seen_when_the_design_can_see_it():
    rng = np.random.default_rng(1)
    size = detectable_difference(SeedSpread(1.0, 7), 2)  # about 2.4 seed SDs
    seen = [
        noise_comparison(models[1] + 1.5 * size, models[0], spread=seed_spread(*models)).verdict
        for models in rng.normal(size=(500, 7, 2))
    ]
    assert seen.count("better beyond noise") / len(seen) > 0.8


# --- the chance level ------------------------------------------------------------------------------


def test_chance_level_of_ap_is_the_distribution_over_random_rankings():
    # one class, 2 positives among 4 images: the 6 equally likely rankings give AP
    # 1 (++--), 5/6 (+-+-), 3/4 (+--+), 7/12 (-++-), 1/2 (-+-+), 5/12 (--++)
    targets = np.array([[1], [1], [0], [0]])
    support = [1, 5 / 6, 3 / 4, 7 / 12, 1 / 2, 5 / 12]
    chance = chance_level(targets, draws=3000, seed=0)
    assert isinstance(chance, ChanceLevel) and chance.draws.shape == (3000,)
    assert np.isin(np.round(chance.draws, 9), np.round(100 * np.array(support), 9)).all()
    exact_mean, exact_sd = 100 * np.mean(support), 100 * np.std(support)
    assert chance.mean == pytest.approx(exact_mean, abs=4 * exact_sd / math.sqrt(3000))
    assert chance.sd == pytest.approx(exact_sd, rel=0.05)
    assert (chance.low, chance.high) == (pytest.approx(100 * 5 / 12), 100.0)
    assert chance.share_at_or_below(100 * 5 / 12) == pytest.approx(1 / 6, abs=0.03)
    assert str(chance).startswith(f"random scores {chance.mean:.1f} (sd {chance.sd:.1f}; 95% of 3000 draws")


def test_chance_level_is_seeded_and_takes_any_metric():
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 5)) < 0.3).astype(np.float32)
    first, again = chance_level(targets, draws=20, seed=3), chance_level(targets, draws=20, seed=3)
    np.testing.assert_array_equal(first.draws, again.draws)
    assert not np.array_equal(first.draws, chance_level(targets, draws=20, seed=4).draws)
    # the default metric is the mAP of each draw: replay the draws by hand
    replay = np.random.default_rng(3)
    by_hand = [100 * np.nanmean(average_precision(replay.random(targets.shape), targets)) for _ in range(20)]
    np.testing.assert_allclose(first.draws, by_hand, rtol=0, atol=1e-12)
    recall = chance_level(targets, metric=lambda s, t: 100 * (s[t > 0] >= 0.5).mean(), draws=200)
    assert recall.mean == pytest.approx(50, abs=1.5)  # uniform scores: half above 0.5
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        chance_level(targets[:, 0])


def test_chance_level_of_the_out_of_scene_metrics_is_one_distribution_per_key():
    targets = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
    mask = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0]], dtype=bool)
    chance = chance_level(targets, mask, metric=out_of_scene_metrics, draws=50, seed=0)
    assert {"out_of_scene_mAP", "in_scene_mAP", "out_of_scene_recall"} <= set(chance)
    assert chance["out_of_scene_labels"].sd == 0.0 and chance["out_of_scene_labels"].mean == 3
    assert 0 < chance["out_of_scene_mAP"].low < chance["out_of_scene_mAP"].high <= 100


def test_random_baseline_map_is_the_mean_of_the_chance_level():
    from dbdgcn_lib.training import random_baseline_map

    targets = (np.random.default_rng(1).random((40, 4)) < 0.4).astype(np.float32)
    assert random_baseline_map(targets, seed=2) == chance_level(targets, draws=100, seed=2).mean
