"""How much of a difference between two models is noise: the bootstrap over evaluation images, and a
verdict that combines it with the seed-to-seed gap.

The bootstrap draws the N evaluation images with replacement (R times, as an (R, N) index array) and
evaluates a metric on each draw; its spread is the uncertainty due to the choice of images alone. For a
comparison, both models use the same draws (a paired bootstrap) and the spread of the per-draw
difference is what counts. The verdict's rule of thumb: a difference is within noise when
``|difference| < 2 * hypot(seed_gap, paired_sd)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dbdgcn_lib.checks import SEED, integer, number

VERDICTS = ("within noise", "better beyond noise", "worse beyond noise")


def resample_indices(n_rows: int, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """(resamples, n_rows) int64: each row draws ``n_rows`` row indices with replacement."""
    integer(1).check("n_rows", n_rows)
    integer(1, 1_000_000).check("resamples", resamples)
    SEED.check("seed", seed)
    return np.random.default_rng(seed).integers(0, n_rows, size=(resamples, n_rows))


def bootstrap(metric: Callable, *arrays, resamples: np.ndarray):
    """``metric(*(a[i] for a in arrays))`` for each row ``i`` of ``resamples`` (R, N).

    ``arrays`` share their first dimension N (numpy or torch). ``metric`` returns a number, an array or
    a dict of numbers; the result stacks over the resamples: (R,), (R, ...), or a dict of (R,) arrays.
    """
    resamples = np.asarray(resamples)
    if resamples.ndim != 2 or not np.issubdtype(resamples.dtype, np.integer):
        raise ValueError(
            f"resamples must be an (R, N) integer index array, got {resamples.dtype} {resamples.shape}"
        )
    if not arrays:
        raise ValueError("bootstrap needs at least one array to resample")
    n_rows = len(arrays[0])
    if any(len(array) != n_rows for array in arrays):
        raise ValueError(f"arrays must share their first dimension: {[len(array) for array in arrays]}")
    if resamples.size and (resamples.min() < 0 or resamples.max() >= n_rows):
        raise ValueError(
            f"resamples index rows outside 0..{n_rows - 1}: draw them with resample_indices({n_rows})"
        )
    values = [metric(*(array[index] for array in arrays)) for index in resamples]
    if isinstance(values[0], dict):
        return {key: np.array([value[key] for value in values], dtype=np.float64) for key in values[0]}
    return np.array(values, dtype=np.float64)


def paired_bootstrap(metric: Callable, candidate: tuple, reference: tuple, resamples: np.ndarray):
    """Per-resample ``metric(candidate) - metric(reference)``, both on the same draws of rows.

    ``candidate`` and ``reference`` are tuples of arrays for ``metric`` (e.g. ``(probabilities, targets)``
    of two models on the same images). Returns (R,) (or a dict of (R,) arrays, as ``bootstrap``).
    """
    a = bootstrap(metric, *candidate, resamples=resamples)
    b = bootstrap(metric, *reference, resamples=resamples)
    if isinstance(a, dict):
        return {key: a[key] - b[key] for key in a}
    return a - b


def noise_verdict(difference: float, seed_gap: float, paired_sd: float) -> str:
    """ "within noise" when ``|difference| < 2 * hypot(seed_gap, paired_sd)`` (or the difference is 0:
    nothing changed), else "better beyond noise" (difference > 0) or "worse beyond noise".

    difference: candidate minus reference (e.g. mAP points); seed_gap: how far two seeds of one model
    lie apart; paired_sd: the standard deviation of the paired bootstrap's differences.
    """
    number().check("difference", difference)
    number(0).check("seed_gap", seed_gap)
    number(0).check("paired_sd", paired_sd)
    if difference == 0 or abs(difference) < 2 * np.hypot(seed_gap, paired_sd):
        return VERDICTS[0]
    return VERDICTS[1] if difference > 0 else VERDICTS[2]
