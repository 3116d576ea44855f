"""The chance level of a metric as a distribution: its values when the scores are random.

A model that learned nothing ranks images at random. Drawing uniform scores many times gives the
metric's distribution under that null: its mean is the chance level, its spread says how far one such
"model" can land from it by luck (on a small evaluation set, several points). It depends only on the
targets (how many positives and negatives each class has), so it is the yardstick for mAP, for the
out-of-scene and in-scene mAPs (``out_of_scene_metrics``), and for a recall at a threshold (for
uniform scores, the share above the threshold).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dbdgcn_lib.metrics.bootstrap import stack_values
from dbdgcn_lib.metrics.metrics import mean_average_precision


@dataclass(frozen=True)
class ChanceLevel:
    """A metric's values over ``draws`` (R,) of random scores, with its mean, SD and central range."""

    draws: np.ndarray
    level: float = 0.95

    @property
    def mean(self) -> float:
        return float(self.draws.mean())

    @property
    def sd(self) -> float:
        return float(self.draws.std(ddof=1)) if self.draws.size > 1 else 0.0

    @property
    def low(self) -> float:
        """The lower end of the central ``level`` range of the draws."""
        return float(np.percentile(self.draws, 50 * (1 - self.level)))

    @property
    def high(self) -> float:
        return float(np.percentile(self.draws, 50 * (1 + self.level)))

    def share_at_or_below(self, value: float) -> float:
        """The share of random draws at or below ``value`` (how often luck alone does no better)."""
        return float((self.draws <= value).mean())

    def __str__(self) -> str:
        return (
            f"random scores {self.mean:.1f} (sd {self.sd:.1f}; {100 * self.level:g}% of "
            f"{self.draws.size} draws between {self.low:.1f} and {self.high:.1f})"
        )


def chance_level(
    targets,
    *extra,
    metric: Callable = mean_average_precision,
    draws: int = 200,
    seed: int = 0,
    level: float = 0.95,
):
    """``metric(scores, targets, *extra)`` for ``draws`` draws of uniform random scores, shaped as targets.

    ``metric`` returns a number (default: mAP in percent) or a dict of numbers (e.g.
    ``out_of_scene_metrics`` with the out-of-scene mask as ``extra``); the result is a ``ChanceLevel``,
    or a dict of them. Seeded: the same call gives the same draws.
    """
    targets = np.asarray(targets)
    if targets.ndim != 2:
        raise ValueError(f"targets must be (N, C), got shape {targets.shape}")
    if draws < 2:
        raise ValueError(f"a distribution needs draws >= 2, got {draws}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    values = stack_values([metric(rng.random(targets.shape), targets, *extra) for _ in range(draws)])
    if isinstance(values, dict):
        return {key: ChanceLevel(value, level) for key, value in values.items()}
    return ChanceLevel(values, level)
