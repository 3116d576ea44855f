"""Is a difference between two models more than noise? A t-test over training seeds, widened by the
paired bootstrap over evaluation images, and the smallest difference such a comparison can see.

Two sources of noise sit under a measure of a trained model:

- **the seed**: another seed trains another model (initial weights, batch order, flips). Per-seed
  values of a measure estimate its seed variance, with degrees of freedom: two seeds give one degree of
  freedom, a rough estimate that the t-quantile makes honest (12.7 standard errors at 95 %, not 2);
- **the evaluation images**: another draw of images gives other numbers. The paired bootstrap
  (``paired_bootstrap``: both arms on the same resamples) gives the SD of the difference due to the
  choice of images alone.

The rule (``noise_comparison``, ``noise_verdict``): a difference d between the arms' seed means is
*beyond noise* when ``|d| >= hypot(t * seed_sd_of_d, z * paired_sd)``. ``seed_sd_of_d`` is
``sqrt(v * (1/n_candidate + 1/n_reference))``, v the seed variance of one run's value estimated with
``dof`` degrees of freedom, and t the two-sided t-quantile at ``level`` (95 %) with those degrees of
freedom; z is the normal quantile (1.96), as the paired bootstrap's SD comes from many resamples. For
paired seeds (two readings of the same runs, such as a model's fused score s against its own s_r or
s_m) v is the variance of one seed's difference and ``seed_sd_of_d = sqrt(v / n)``.

What it guarantees: if both arms come from the same training procedure and the per-seed values are
normal with the variance of the models the seed spread was pooled over, the rule calls the arms
different in at most ``1 - level`` of experiments (5 %), even when the arms' levels on this evaluation
set differ by as much as another draw of images would move them (the paired bootstrap's part). It is
exactly 5 % when one of the two parts is absent (a t-test over seeds; a z-test over images) and less
when both are present. It is about 4.3 % when the spread comes from the reference's own second seed
while the reference arm holds only its first (09 in smoke mode), and more cautious when models share
their seeds (same initial weights, same batch order: their differences vary less).
``tests/test_statistics.py`` measures the rate by simulation in every use the course makes;
``scripts/noise_rule_rates.py`` end to end, with real mAPs and a real paired bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from dbdgcn_lib.checks import number

VERDICTS = ("within noise", "better beyond noise", "worse beyond noise")
LEVEL = 0.95


@dataclass(frozen=True)
class SeedSpread:
    """How much one run's measure varies from seed to seed: ``variance`` with ``dof`` degrees of freedom.

    Built from per-seed values by ``seed_spread``; for planning a design, from a guessed SD:
    ``SeedSpread(sd**2, dof)``. ``NO_SEED_NOISE`` (variance 0, dof inf) is for a contrast of one trained
    model with itself under a test-time change: no retraining, so only the images are noise.
    """

    variance: float
    dof: float

    def __post_init__(self):
        if not (self.variance >= 0 and math.isfinite(self.variance)):
            raise ValueError(f"the seed variance must be finite and >= 0, got {self.variance}")
        if not self.dof >= 0:
            raise ValueError(f"the degrees of freedom must be >= 0, got {self.dof}")

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)

    def __str__(self) -> str:
        if math.isinf(self.dof):
            return f"seed sd {self.sd:.2f} (known)"
        return f"seed sd {self.sd:.2f} ({self.dof:g} degree{'s' if self.dof != 1 else ''} of freedom)"


NO_SEED_NOISE = SeedSpread(0.0, math.inf)


def seed_spread(*models: Sequence[float]) -> SeedSpread:
    """The pooled seed variance of a measure: each argument is one trained model's values, one per seed.

    ``sum over models of sum (x - model mean)^2 / sum over models of (seeds - 1)``: the t-test's pooled
    variance, which assumes every model's seeds vary alike. A model with one seed adds nothing. Count
    each trained model once: rows that only re-read a model's outputs (its s_r or s_m) are the same
    runs, not more models, and contrasts within one model are paired
    (``noise_comparison(..., paired_seeds=True)``).
    """
    squares, dof = 0.0, 0
    for values in models:
        x = _values(values, "per-seed values")
        squares += float(((x - x.mean()) ** 2).sum())
        dof += x.size - 1
    return SeedSpread(squares / dof if dof else 0.0, dof)


@dataclass(frozen=True)
class NoiseComparison:
    """One comparison of a candidate with a reference: the difference of their seed means, the
    smallest difference the design can call beyond noise (``detectable``), and the verdict."""

    difference: float
    detectable: float
    verdict: str
    spread: SeedSpread
    paired_sd: float
    unit: str = "points"

    def row(self) -> dict:
        """The comparison as a table row (pandas takes a list of these)."""
        return {
            "difference": self.difference,
            "detectable": self.detectable,
            "seed sd": self.spread.sd,
            "dof": self.spread.dof,
            "paired sd": self.paired_sd,
            "verdict": self.verdict,
        }

    def __str__(self) -> str:
        can_see = detectable_phrase(self.detectable, self.unit)
        return f"{self.difference:+.1f} {self.unit}, {self.verdict}: {can_see}"


def noise_comparison(
    candidate,
    reference,
    paired=None,
    *,
    spread: SeedSpread | None = None,
    paired_seeds: bool = False,
    higher_is_better: bool = True,
    level: float = LEVEL,
    unit: str = "points",
) -> NoiseComparison:
    """Is ``mean(candidate) - mean(reference)`` beyond noise? See the module docstring for the rule.

    candidate, reference: the measure of each arm, one value per seed (a number is one seed).
    paired: the paired bootstrap's differences (R,) of the arms' seed means on the same resamples
        (``paired_bootstrap``), or their SD; None: the choice of images is left out of the verdict.
    spread: the seed variance, pooled over several models (``seed_spread``); default: estimated from
        the two arms themselves (or, with ``paired_seeds``, from their per-seed differences), which
        needs a second seed in one of them.
    paired_seeds: candidate[k] and reference[k] are readings of the same run k (s against s_r of one
        model): the seed noise is that of the per-seed differences.
    higher_is_better: False for measures where smaller is better (e.g. ``val - plain mAP``, the
        reliance on the background): a positive difference is then "worse beyond noise".
    """
    a, b = _values(candidate, "candidate"), _values(reference, "reference")
    if paired_seeds:
        if a.size != b.size:
            raise ValueError(
                f"paired seeds need one candidate value per reference value: got {a.size} candidate and "
                f"{b.size} reference values"
            )
        difference = float(np.mean(a - b))
        spread = seed_spread(a - b) if spread is None else spread
    else:
        difference = float(a.mean() - b.mean())
        spread = seed_spread(a, b) if spread is None else spread
    if spread.dof == 0:
        raise ValueError(
            "no second seed to estimate the seed noise from: train one, or pass spread= (seed_spread of "
            "models trained with two or more seeds, or NO_SEED_NOISE for a test-time change of one model)"
        )
    paired_sd = _paired_sd(paired)
    seeds = (a.size, b.size)
    detectable = detectable_difference(spread, seeds, paired_sd, paired_seeds=paired_seeds, level=level)
    if difference == 0 or abs(difference) < detectable:
        verdict = VERDICTS[0]
    else:
        verdict = VERDICTS[1] if (difference > 0) == higher_is_better else VERDICTS[2]
    return NoiseComparison(difference, detectable, verdict, spread, paired_sd, unit)


def noise_verdict(candidate, reference, paired=None, **options) -> str:
    """``noise_comparison(candidate, reference, paired, **options).verdict``: one of ``VERDICTS``."""
    return noise_comparison(candidate, reference, paired, **options).verdict


def detectable_difference(
    spread: SeedSpread,
    seeds: int | tuple[int, int],
    paired_sd: float = 0.0,
    *,
    paired_seeds: bool = False,
    level: float = LEVEL,
) -> float:
    """The smallest |difference| that ``noise_comparison`` calls beyond noise for a design.

    spread: the seed variance and its degrees of freedom (``seed_spread``, or ``SeedSpread(sd**2, dof)``
    when planning); seeds: per arm, one number for both or ``(n_candidate, n_reference)`` (with
    ``paired_seeds``, the number of paired runs); paired_sd: the paired bootstrap's SD.
    ``hypot(t_dof * sqrt(v * (1/n_candidate + 1/n_reference)), z * paired_sd)`` (``v / n`` for paired
    seeds); infinite when the spread has no degree of freedom (one seed per model: nothing can be seen).
    """
    n_candidate, n_reference = (seeds, seeds) if isinstance(seeds, int) else seeds
    if min(n_candidate, n_reference) < 1:
        raise ValueError(f"each arm needs at least one seed, got {seeds}")
    number(0).check("paired_sd", paired_sd)
    number(0, 1, open_low=True, open_high=True).check("level", level)
    if spread.dof == 0:
        return math.inf
    seed_variance = (
        spread.variance / n_candidate
        if paired_seeds
        else spread.variance * (1 / n_candidate + 1 / n_reference)
    )
    seed_part = t_quantile(level, spread.dof) * math.sqrt(seed_variance)
    image_part = t_quantile(level, math.inf) * paired_sd
    return math.hypot(seed_part, image_part)


def detectable_phrase(size: float, unit: str = "points") -> str:
    """The detectable size for students: "this comparison can only see differences larger than 7.7 points"."""
    if math.isinf(size):
        return "this comparison cannot see any difference: it has no second seed to measure the seed noise"
    return f"this comparison can only see differences larger than {size:.1f} {unit}"


@lru_cache(maxsize=256)
def t_quantile(level: float, dof: float) -> float:
    """The two-sided quantile t with P(|T| <= t) = ``level`` for Student's t with ``dof`` degrees of freedom
    (an integer, or inf for the normal). Exact: the finite series of Abramowitz & Stegun 26.7.3-4,
    inverted by bisection."""
    if math.isinf(dof):
        return NormalDist().inv_cdf((1 + level) / 2)
    if dof < 1 or dof != int(dof):
        raise ValueError(f"degrees of freedom must be a whole number >= 1, got {dof}")
    low, high = 0.0, 1.0
    while _t_central_probability(high, int(dof)) < level:
        low, high = high, 2 * high
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_central_probability(middle, int(dof)) < level else (low, middle)
    return high


def _t_central_probability(t: float, dof: int) -> float:
    """P(|T| <= t) for Student's t with ``dof`` degrees of freedom (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(dof))
    cos2 = math.cos(theta) ** 2
    if dof % 2:  # odd: 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term = total = 1.0
        for k in range(1, (dof - 1) // 2):
            term *= 2 * k / (2 * k + 1) * cos2
            total += term
        return 2 / math.pi * (theta + (math.sin(theta) * math.cos(theta) * total if dof > 1 else 0.0))
    term = total = 1.0  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
    for k in range(1, dof // 2):
        term *= (2 * k - 1) / (2 * k) * cos2
        total += term
    return math.sin(theta) * total


def _values(values, name: str) -> np.ndarray:
    x = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"{name} must be one or more finite numbers (one per seed), got {values!r}")
    return x


def _paired_sd(paired) -> float:
    """A number is the SD itself; an array holds the paired bootstrap's differences (two or more)."""
    if paired is None:
        return 0.0
    if np.ndim(paired) == 0:
        return float(paired)
    differences = np.asarray(paired, dtype=np.float64).ravel()
    if differences.size < 2 or not np.isfinite(differences).all():
        raise ValueError(f"paired must hold two or more finite differences (or be their SD), got {paired!r}")
    return float(differences.std(ddof=1))
