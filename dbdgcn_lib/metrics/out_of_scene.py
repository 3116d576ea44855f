"""Metrics of the out-of-scene labels (objects outside their usual scene, the ``rare`` split's intruders)
beside the in-scene labels of the same images: does a model still see an object that its context says
should not be there?

Inputs: probabilities (N, C) in [0, 1], targets (N, C) 0/1 and ``out_of_scene`` (N, C) bool, a subset
of the positives (``dbdgcn_lib.data.out_of_scene_mask`` gives it for a synthetic split). Only the images
that hold at least one out-of-scene label are measured (every image of the ``rare`` split). On them the
positives fall into two disjoint kinds:

- out-of-scene labels: the entries of ``out_of_scene``;
- in-scene labels: the other positives of the same images.

Recall of a kind: the share of its labels whose probability is >= ``threshold`` (labels pooled over
images and classes).

AP of a kind for class c: rank the measured images by their score for c; positives are the images where
c is a label of that kind, negatives the images without c; an image where c is a label of the *other*
kind is neither (left out of the ranking). With ties grouped as in ``average_precision``:
AP_c = mean over the positives of (positives scoring >= s) / (ranked images scoring >= s), s being that
positive's score. The kind's mAP is the mean of AP_c over the classes with at least one label of the kind.

Recalls and mAPs are in percent; NaN where a kind has no label.
"""

from __future__ import annotations

import numpy as np

from dbdgcn_lib.checks import PROBABILITY
from dbdgcn_lib.metrics.metrics import _average_precision, _check, _mean_percent, _require_probabilities

OUT_OF_SCENE_KEYS = (
    "out_of_scene_recall",
    "in_scene_recall",
    "out_of_scene_mAP",
    "in_scene_mAP",
    "out_of_scene_labels",
    "in_scene_labels",
    "out_of_scene_classes",
    "in_scene_classes",
    "images",
)


def out_of_scene_metrics(probabilities, targets, out_of_scene, threshold: float = 0.5) -> dict:
    """Recall at ``threshold`` and mAP of the out-of-scene labels and of the in-scene labels of the same
    images, with their counts (see the module docstring for the definitions).

    probabilities, targets: (N, C), numpy or torch; out_of_scene: (N, C) bool, True only where targets is 1.
    Returns a dict with ``OUT_OF_SCENE_KEYS``: ``out_of_scene_recall``, ``in_scene_recall``,
    ``out_of_scene_mAP``, ``in_scene_mAP`` (percent); ``out_of_scene_labels``, ``in_scene_labels``
    (label counts), ``out_of_scene_classes``, ``in_scene_classes`` (classes that entered each mAP) and
    ``images`` (images measured).
    """
    PROBABILITY.check("threshold", threshold)
    probabilities, targets = _check(probabilities, targets)
    _require_probabilities(probabilities)
    outside = _as_mask(out_of_scene, probabilities.shape)
    positive = targets > 0.5
    if (outside & ~positive).any():
        raise ValueError(
            "out_of_scene marks labels that are not in targets: it must be a subset of the positives"
        )
    measured = outside.any(axis=1)
    if not measured.any():
        raise ValueError(
            "out_of_scene marks no label: measure a split with out-of-scene objects (the synthetic 'rare')"
        )
    scores, outside = probabilities[measured], outside[measured]
    inside = positive[measured] & ~outside
    predicted = scores >= threshold
    ap_outside = _average_precision(np.where(inside, -np.inf, scores), outside)
    ap_inside = _average_precision(np.where(outside, -np.inf, scores), inside)
    return {
        "out_of_scene_recall": _percent_of(predicted[outside]),
        "in_scene_recall": _percent_of(predicted[inside]),
        "out_of_scene_mAP": _mean_percent(ap_outside),
        "in_scene_mAP": _mean_percent(ap_inside),
        "out_of_scene_labels": int(outside.sum()),
        "in_scene_labels": int(inside.sum()),
        "out_of_scene_classes": int(np.isfinite(ap_outside).sum()),
        "in_scene_classes": int(np.isfinite(ap_inside).sum()),
        "images": int(measured.sum()),
    }


def _as_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 1:
        mask = mask[:, None]
    if mask.shape != shape:
        raise ValueError(f"out_of_scene has shape {mask.shape}, the scores {shape}: they must match")
    if mask.dtype != bool and not ((mask == 0) | (mask == 1)).all():
        raise ValueError("out_of_scene must be a bool (or 0/1) mask")
    return mask.astype(bool)


def _percent_of(hits: np.ndarray) -> float:
    """The share of True in ``hits`` in percent; NaN when empty."""
    return 100.0 * float(hits.mean()) if hits.size else float("nan")
