"""The paper's metrics (ML-GCN's definitions), vectorised over images and classes.

Scores are probabilities (sigmoid of the logits); a label is predicted when its score is >= ``threshold``.
Per class c: Ng = ground-truth positives, Np = predicted positives, Nc = correct positives.

- ``CP = mean_c Nc/Np``, ``CR = mean_c Nc/Ng``, ``CF1 = 2 CP CR / (CP + CR)``;
- ``OP = sum Nc / sum Np``, ``OR = sum Nc / sum Ng``, ``OF1 = 2 OP OR / (OP + OR)``;
- AP per class: non-interpolated average precision over the ranking, tied scores grouped into one
  threshold exactly as scikit-learn's ``average_precision_score``; mAP = mean AP.

Choices where the definitions divide by zero:

- a class with no positive (Ng = 0) has no AP (NaN) and no recall; it is left out of mAP, CP and CR
  (one class set for all three) with a ``RuntimeWarning``; its false positives still count in OP;
- a class with positives but no prediction (Np = 0) has precision 0, as in ML-GCN's code
  (``Np[Np == 0] = 1``), so a model cannot raise CP by staying silent; OP is 0 when nothing is predicted;
- an F1 whose precision and recall are both 0 is 0.

Everything is in percent. All results are float64 numpy; torch tensors (any device) are accepted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from dbdgcn_lib.checks import PROBABILITY, integer

METRIC_KEYS = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")


def _as_numpy(array, name: str) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, possibly on the GPU or in bf16
        array = array.detach().float().cpu().numpy()
    array = np.asarray(array)
    if array.dtype not in (np.float32, np.float64):  # float32 stays: sorting it is faster and exact
        array = array.astype(np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be (N, C) or (N,), got shape {array.shape}")
    return array


def _check(scores, targets) -> tuple[np.ndarray, np.ndarray]:
    scores = _as_numpy(scores, "scores")
    targets = _as_numpy(targets, "targets")
    if scores.shape != targets.shape:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} differ in shape")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    if not ((targets == 0) | (targets == 1)).all():
        raise ValueError("targets must be 0/1")
    return scores, targets


def _check_names(class_names, num_classes: int, argument: str = "class_names") -> list[str] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, Sequence | np.ndarray):
        raise ValueError(f"bad {argument}: a list of {num_classes} class names")
    names = [str(name) for name in class_names]
    if len(names) != num_classes:
        raise ValueError(f"bad {argument}: {len(names)} names for {num_classes} classes")
    return names


def _class_list(indices, names: list[str] | None) -> str:
    """Classes by name (by column number only where no names were given), the first ten."""
    labels = [names[i] for i in indices] if names is not None else [f"column {i}" for i in indices]
    return ", ".join(labels[:10]) + (f" and {len(labels) - 10} more" if len(labels) > 10 else "")


def _warn_no_positive(mask: np.ndarray, names: list[str] | None = None) -> None:
    missing = np.flatnonzero(mask)
    if missing.size:
        warnings.warn(
            f"{missing.size} class(es) have no positive example ({_class_list(missing, names)}): "
            "left out of mAP, CP and CR",
            RuntimeWarning,
            stacklevel=4,
        )


def average_precision(scores, targets) -> np.ndarray:
    """Per-class average precision, (C,) float64 in [0, 1]; NaN for a class without positives.

    AP = sum over thresholds of (R_k - R_{k-1}) P_k, one threshold per distinct score (ties grouped),
    which is the same as averaging, over the positives, the precision at each one's score:
    (positives scoring >= s) / (images scoring >= s), s being that positive's score.
    """
    return _average_precision(*_check(scores, targets))


def mean_average_precision(scores, targets) -> float:
    """mAP in percent over the classes with a positive, without a warning for the others (a resample
    or a small split may miss a rare class); NaN when no class has one."""
    return _mean_percent(average_precision(scores, targets))


def _mean_percent(ap: np.ndarray) -> float:
    """Mean of the finite per-class APs, in percent; NaN when none is finite."""
    finite = ap[np.isfinite(ap)]
    return 100.0 * float(finite.mean()) if finite.size else float("nan")


def _class_major(array: np.ndarray, block: int = 256) -> np.ndarray:
    """(N, C) -> contiguous (C, N), copied a block of rows at a time (several times faster than one
    strided copy once the array outgrows the cache)."""
    out = np.empty(array.shape[::-1], dtype=array.dtype)
    for start in range(0, array.shape[0], block):
        out[:, start : start + block] = array[start : start + block].T
    return out


def _average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """One sort per class (all classes at once), then binary searches for the positives' scores."""
    n_images, n_classes = scores.shape
    by_class = _class_major(scores)
    positive_index = np.flatnonzero(_class_major(targets > 0.5))  # into by_class.ravel(), class by class
    positive_scores = by_class.ravel()[positive_index]
    bounds = np.searchsorted(positive_index, np.arange(n_classes + 1) * n_images)
    by_class.sort(axis=1)
    ap = np.full(n_classes, np.nan)
    for c in range(n_classes):
        positives = np.sort(positive_scores[bounds[c] : bounds[c + 1]])
        if positives.size == 0:
            continue
        # "left": the first index holding the score, so that a group of tied scores counts whole.
        images_at_or_above = n_images - np.searchsorted(by_class[c], positives, side="left")
        positives_at_or_above = positives.size - _first_of_tie(positives)
        ap[c] = np.mean(positives_at_or_above / images_at_or_above)
    return ap


def _first_of_tie(sorted_values: np.ndarray) -> np.ndarray:
    """For each element of a sorted 1-D array, the index of the first element equal to it."""
    starts = np.empty(sorted_values.size, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return np.maximum.accumulate(np.where(starts, np.arange(sorted_values.size), 0))


def _top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """True where a score is among its image's k highest (a tie at the k-th place is broken arbitrarily)."""
    n, c = scores.shape
    if k >= c:
        return np.ones_like(scores, dtype=bool)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    mask = np.zeros_like(scores, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return mask


def _require_probabilities(scores: np.ndarray) -> None:
    if scores.min(initial=0.0) < 0.0 or scores.max(initial=0.0) > 1.0:
        raise ValueError("scores must be probabilities in [0, 1]: apply a sigmoid to the logits first")


def _check_rule(threshold: float, top_k: int | None = None) -> None:
    """The rule that turns probabilities into predicted labels: a threshold in [0, 1], top_k >= 1."""
    PROBABILITY.check("threshold", threshold)
    integer(1, optional=True).check("top_k", top_k)


def _counts(scores: np.ndarray, targets: np.ndarray, threshold: float, top_k: int | None):
    _require_probabilities(scores)
    predicted = scores >= threshold
    if top_k is not None:
        predicted &= _top_k_mask(scores, int(top_k))
    positive = targets > 0.5
    n_correct = (predicted & positive).sum(axis=0).astype(np.float64)
    n_predicted = predicted.sum(axis=0).astype(np.float64)
    n_ground = positive.sum(axis=0).astype(np.float64)
    return n_correct, n_predicted, n_ground


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def multilabel_metrics(
    scores, targets, threshold: float = 0.5, top_k: int | None = None, *, class_names=None
) -> dict:
    """mAP, CP, CR, CF1, OP, OR, OF1 in percent (Table 1; with ``top_k=3``, Table 2's top-3 rule).

    With ``top_k`` a label counts as predicted only if it is among the image's ``top_k`` highest scores
    *and* >= ``threshold`` (in [0, 1]); mAP does not depend on ``threshold`` or ``top_k``. See the
    module docstring for classes without positives or predictions; ``class_names`` (C names) name them
    in the warning.
    """
    _check_rule(threshold, top_k)
    scores, targets = _check(scores, targets)
    names = _check_names(class_names, scores.shape[1])
    return _metrics(scores, targets, _average_precision(scores, targets), threshold, top_k, names)


def paper_tables(scores, targets, threshold: float = 0.5, top_k: int = 3, *, class_names=None) -> dict:
    """Both of the paper's rows at once, ranking each class once: ``{"table1": ..., "table2": ...}``.

    ``table1`` = ``multilabel_metrics(scores, targets, threshold)``; ``table2`` = the same with
    ``top_k`` (its mAP equals table1's; the paper's Table 2 omits it).
    """
    _check_rule(threshold, top_k)
    scores, targets = _check(scores, targets)
    names = _check_names(class_names, scores.shape[1])
    ap = _average_precision(scores, targets)
    with warnings.catch_warnings():  # warn about classes without positives once, not twice
        table1 = _metrics(scores, targets, ap, threshold, None, names)
        warnings.simplefilter("ignore", RuntimeWarning)
        table2 = _metrics(scores, targets, ap, threshold, top_k, names)
    return {"table1": table1, "table2": table2}


def _metrics(scores, targets, ap, threshold: float, top_k: int | None, names: list[str] | None) -> dict:
    n_correct, n_predicted, n_ground = _counts(scores, targets, threshold, top_k)
    has_positive = n_ground > 0
    _warn_no_positive(~has_positive, names)
    if not has_positive.any():
        return {key: float("nan") for key in METRIC_KEYS}
    nc, npred, ng = n_correct[has_positive], n_predicted[has_positive], n_ground[has_positive]
    cp = float(np.mean(nc / np.maximum(npred, 1)))
    cr = float(np.mean(nc / ng))
    op = float(n_correct.sum() / max(n_predicted.sum(), 1.0))
    orr = float(n_correct.sum() / n_ground.sum())
    result = {
        "mAP": float(np.mean(ap[has_positive])),
        "CP": cp,
        "CR": cr,
        "CF1": _f1(cp, cr),
        "OP": op,
        "OR": orr,
        "OF1": _f1(op, orr),
    }
    return {key: 100.0 * value for key, value in result.items()}


def per_class_table(scores, targets, names: Sequence[str], threshold: float = 0.5) -> list[dict]:
    """One row per class, in class order: name, AP, precision, recall, F1 (percent), positives, predicted.

    AP, recall and F1 are NaN for a class without positives (no warning here: the table shows it).
    ``pandas.DataFrame(rows)`` turns it into a sortable table.
    """
    PROBABILITY.check("threshold", threshold)
    scores, targets = _check(scores, targets)
    names = _check_names(() if names is None else names, scores.shape[1], "names")
    n_correct, n_predicted, n_ground = _counts(scores, targets, threshold, None)
    ap = _average_precision(scores, targets)
    precision = n_correct / np.maximum(n_predicted, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_ground > 0, n_correct / n_ground, np.nan)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    f1 = np.where(np.isnan(recall), np.nan, f1)
    return [
        {
            "name": names[c],
            "AP": 100.0 * ap[c],
            "precision": 100.0 * precision[c],
            "recall": 100.0 * recall[c],
            "F1": 100.0 * f1[c],
            "positives": int(n_ground[c]),
            "predicted": int(n_predicted[c]),
        }
        for c in range(len(names))
    ]


class PRCurve(NamedTuple):
    """Precision and recall at each distinct score, thresholds decreasing; ``ap`` summarises the curve."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    ap: float


def pr_curve(scores, targets, class_index: int, *, class_name: str | None = None) -> PRCurve:
    """The precision-recall curve of one class (ties grouped; the points scikit-learn's
    ``precision_recall_curve`` gives, in decreasing-threshold order, without its final (P=1, R=0));
    ``class_name`` names the class in the warning when it has no positive."""
    scores, targets = _check(scores, targets)
    integer(-scores.shape[1], scores.shape[1] - 1).check("class_index", class_index)
    s = scores[:, [class_index]]
    t = targets[:, [class_index]]
    order = np.argsort(-s[:, 0])
    s_sorted, t_sorted = s[order, 0], t[order, 0]
    # One point per distinct score: at the last rank of each group of tied scores.
    closes = np.append(s_sorted[1:] != s_sorted[:-1], True)
    true_positives = np.cumsum(t_sorted, dtype=np.float64)[closes]
    predicted = np.flatnonzero(closes) + 1.0
    positives = t_sorted.sum()
    if positives == 0:
        warnings.warn(
            f"class {class_name or f'column {class_index}'} has no positive example: recall is undefined",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = true_positives / positives
    precision = true_positives / predicted
    return PRCurve(precision, recall, s_sorted[closes], float(_average_precision(s, t)[0]))
