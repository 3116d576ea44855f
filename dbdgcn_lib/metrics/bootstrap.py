"""The bootstrap over evaluation images: how much a measure depends on the choice of images.

The bootstrap draws the N evaluation images with replacement (R times, as an (R, N) index array) and
evaluates a metric on each draw; its spread is the uncertainty due to the choice of images alone. For a
comparison, both models use the same draws (a paired bootstrap) and the spread of the per-draw
difference is what counts; ``noise.py`` combines it with the seed-to-seed noise into a verdict.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dbdgcn_lib.checks import SEED, integer


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
    return stack_values([metric(*(array[index] for array in arrays)) for index in resamples])


def stack_values(values: list):
    """Numbers -> (R,); arrays -> (R, ...); dicts of numbers -> a dict of (R,) arrays (float64)."""
    if isinstance(values[0], dict):
        return {key: np.array([value[key] for value in values], dtype=np.float64) for key in values[0]}
    return np.array(values, dtype=np.float64)


def paired_bootstrap(metric: Callable, candidate: tuple, reference: tuple, resamples: np.ndarray):
    """Per-resample ``metric(candidate) - metric(reference)``, both on the same draws of rows.

    ``candidate`` and ``reference`` are tuples of arrays for ``metric`` (e.g. ``(probabilities, targets)``
    of two models on the same images). Returns (R,) (or a dict of (R,) arrays, as ``bootstrap``).
    """
    n_candidate, n_reference = (len(arrays[0]) if arrays else 0 for arrays in (candidate, reference))
    if n_candidate != n_reference:
        raise ValueError(
            f"paired_bootstrap scores both models on the same images: candidate has {n_candidate} rows, "
            f"reference {n_reference}"
        )
    a = bootstrap(metric, *candidate, resamples=resamples)
    b = bootstrap(metric, *reference, resamples=resamples)
    if isinstance(a, dict):
        return {key: a[key] - b[key] for key in a}
    return a - b
