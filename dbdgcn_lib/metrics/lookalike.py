"""What context is worth to look-alikes: classes drawn alike that never share an image (the embedded
data's mouse and stone).

A detector that sees only the shared shape finds "a grey blob" and cannot tell which class it is. Its
best ranking for either class puts every image holding the blob first, all tied, and the rest after,
so its AP for class a is P(a | blob): the share of the blob images that hold a. That *context-free
level* is the reference a model's look-alike AP must beat before one can say it used context; it is
far above the class's prevalence (``context_free_ap``).

``lookalike_auc`` measures the use of context directly: among the images that hold exactly one class
of the pair, how often does the model score the right one higher? 50 is the context-free level (a
shape detector cannot tell them apart), 100 a model that always names the right one.
"""

from __future__ import annotations

import numpy as np

from dbdgcn_lib.metrics.metrics import _average_precision, _check, _require_probabilities


def context_free_ap(targets, group) -> np.ndarray:
    """AP (percent) of the context-free detector for each class of ``group`` (column indices of
    classes drawn alike): it scores 1 on every image holding any class of the group and 0 elsewhere,
    ties grouped as in ``average_precision``. (len(group),) float64; NaN for a class without images.
    """
    targets = _check(targets, targets)[1] > 0.5  # validates the 0/1 matrix
    group = _columns(group, targets.shape[1])
    shape_seen = targets[:, group].any(axis=1)
    scores = np.repeat(shape_seen[:, None].astype(np.float64), len(group), axis=1)
    return 100.0 * _average_precision(scores, targets[:, group])


def lookalike_auc(probabilities, targets, pair) -> dict:
    """How well a model tells two look-alikes apart, on the images that hold exactly one of them.

    pair: the column indices ``(a, b)``. Score of an image: ``p_a - p_b``; the AUC (percent) is the
    share of (a-image, b-image) couples where the a-image scores higher, ties counting half.
    Returns ``{"auc", "images_a", "images_b"}``; ``auc`` is NaN when either kind has no image.
    """
    probabilities, targets = _check(probabilities, targets)
    _require_probabilities(probabilities)
    a, b = _columns(pair, targets.shape[1])
    holds_a, holds_b = targets[:, a] > 0.5, targets[:, b] > 0.5
    only_a, only_b = holds_a & ~holds_b, holds_b & ~holds_a
    difference = probabilities[:, a] - probabilities[:, b]
    auc = float("nan")
    if only_a.any() and only_b.any():
        higher = difference[only_a][:, None] - difference[only_b][None, :]
        auc = 100.0 * float(((higher > 0) + 0.5 * (higher == 0)).mean())
    return {"auc": auc, "images_a": int(only_a.sum()), "images_b": int(only_b.sum())}


def _columns(columns, n_classes: int) -> list[int]:
    columns = [int(c) for c in columns]
    if len(columns) < 2 or len(set(columns)) != len(columns):
        raise ValueError(f"give two or more distinct class columns, got {columns}")
    if min(columns) < 0 or max(columns) >= n_classes:
        raise ValueError(f"class columns {columns} must lie in 0..{n_classes - 1}")
    return columns
