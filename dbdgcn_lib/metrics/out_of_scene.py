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
images and classes). Beside it, the share of the *absent* labels (targets 0) of the same images that
reach the threshold: a score that says yes to everything finds every label, so a recall means little
without it. ``label_recall`` gives the same pair for any split (val, plain).

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
    "absent_predicted",
    "out_of_scene_mAP",
    "in_scene_mAP",
    "out_of_scene_labels",
    "in_scene_labels",
    "out_of_scene_classes",
    "in_scene_classes",
    "absent_labels",
    "images",
)
LABEL_RECALL_KEYS = ("recall", "absent_predicted", "labels", "absent_labels")


def label_recall(probabilities, targets, threshold: float = 0.5, labels=None) -> dict:
    """Recall at ``threshold`` beside the share of absent labels predicted at it, on the same images.

    probabilities, targets: (N, C); labels: (N, C) bool, the positives whose recall is measured
    (default: every positive). Returns ``LABEL_RECALL_KEYS``: ``recall`` (percent of ``labels`` with
    probability >= threshold), ``absent_predicted`` (percent of the entries with target 0 at or above
    it), and the counts ``labels`` and ``absent_labels``. NaN where a count is 0.
    """
    probabilities, targets = _check(probabilities, targets)
    _require_probabilities(probabilities)
    positive = targets > 0.5
    chosen = positive if labels is None else _as_mask(labels, probabilities.shape, "labels")
    if (chosen & ~positive).any():
        raise ValueError("labels marks entries that are not positives in targets: it must be a subset")
    return _recall_and_absent(probabilities >= threshold, chosen, ~positive)


def _recall_and_absent(predicted: np.ndarray, chosen: np.ndarray, absent: np.ndarray) -> dict:
    return {
        "recall": _percent_of(predicted[chosen]),
        "absent_predicted": _percent_of(predicted[absent]),
        "labels": int(chosen.sum()),
        "absent_labels": int(absent.sum()),
    }


def out_of_scene_metrics(probabilities, targets, out_of_scene, threshold: float = 0.5) -> dict:
    """Recall at ``threshold`` and mAP of the out-of-scene labels and of the in-scene labels of the same
    images, with their counts (see the module docstring for the definitions).

    probabilities, targets: (N, C), numpy or torch; out_of_scene: (N, C) bool, True only where targets is 1.
    Returns a dict with ``OUT_OF_SCENE_KEYS``: ``out_of_scene_recall``, ``in_scene_recall``,
    ``absent_predicted`` (percent of the measured images' absent labels at or above ``threshold``),
    ``out_of_scene_mAP``, ``in_scene_mAP`` (percent); ``out_of_scene_labels``, ``in_scene_labels``
    (label counts), ``out_of_scene_classes``, ``in_scene_classes`` (classes that entered each mAP),
    ``absent_labels`` and ``images`` (images measured).
    """
    PROBABILITY.check("threshold", threshold)
    probabilities, targets = _check(probabilities, targets)
    _require_probabilities(probabilities)
    outside = _as_mask(out_of_scene, probabilities.shape, "out_of_scene")
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
    shares = _recall_and_absent(predicted, outside, ~positive[measured])
    ap_outside = _average_precision(np.where(inside, -np.inf, scores), outside)
    ap_inside = _average_precision(np.where(outside, -np.inf, scores), inside)
    return {
        "out_of_scene_recall": shares["recall"],
        "in_scene_recall": _percent_of(predicted[inside]),
        "absent_predicted": shares["absent_predicted"],
        "out_of_scene_mAP": _mean_percent(ap_outside),
        "in_scene_mAP": _mean_percent(ap_inside),
        "out_of_scene_labels": int(outside.sum()),
        "in_scene_labels": int(inside.sum()),
        "out_of_scene_classes": int(np.isfinite(ap_outside).sum()),
        "in_scene_classes": int(np.isfinite(ap_inside).sum()),
        "absent_labels": shares["absent_labels"],
        "images": int(measured.sum()),
    }


def _as_mask(mask, shape: tuple[int, int], name: str) -> np.ndarray:
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 1:
        mask = mask[:, None]
    if mask.shape != shape:
        raise ValueError(f"{name} has shape {mask.shape}, the scores {shape}: they must match")
    if mask.dtype != bool and not ((mask == 0) | (mask == 1)).all():
        raise ValueError(f"{name} must be a bool (or 0/1) mask")
    return mask.astype(bool)


def _percent_of(hits: np.ndarray) -> float:
    """The share of True in ``hits`` in percent; NaN when empty."""
    return 100.0 * float(hits.mean()) if hits.size else float("nan")
