"""Contextual bias on (object, context) pairs, as Singh et al. measure it (CVPR 2020, "Don't Judge an
Object by Its Context"): the AP of an object b on the images where it appears without its usual
context c (*exclusive*) against the images where it appears with it (*co-occur*).

For a pair (b, c), over the evaluated images:

- exclusive AP: rank by the score of b the exclusive images (b without c, the positives) and the
  images without b (the negatives); the co-occur images are left out;
- co-occur AP: the same with the co-occur images (b and c) as the positives, the exclusive ones left
  out;
- bias: Singh et al.'s score of a trained model, the mean probability of b on the co-occur images over
  its mean probability on the exclusive ones (1: the context changes nothing).

A model that needs c to find b has a low exclusive AP beside a high co-occur AP. The pairs come from
``dbdgcn_lib.data.context_pairs`` (``biased_pairs``, ``pair_masks``). APs in percent, ties grouped as in
``average_precision``.
"""

from __future__ import annotations

import numpy as np

from dbdgcn_lib.metrics.metrics import _average_precision, _check, _require_probabilities

PAIR_KEYS = ("exclusive_AP", "cooccur_AP", "bias", "exclusive_images", "cooccur_images", "negative_images")


def exclusive_cooccur_metrics(probabilities, targets, pairs) -> dict:
    """Exclusive and co-occur AP of each (object, context) pair, and their means over the pairs.

    probabilities, targets: (N, C); pairs: (object column, context column) tuples, or objects with
    ``object_index`` and ``context_index`` (``data.ContextPair``). Returns ``{"pairs": [one dict per
    pair with PAIR_KEYS], "exclusive_mAP", "cooccur_mAP", "mean_bias"}``; a pair with no exclusive
    (or co-occur) image has NaN there and is left out of that mean.
    """
    probabilities, targets = _check(probabilities, targets)
    _require_probabilities(probabilities)
    columns = [_columns(pair, targets.shape[1]) for pair in pairs]
    if not columns:
        raise ValueError("no pair to measure: give at least one (object, context) pair")
    objects = [b for b, _ in columns]
    holds = targets > 0.5
    with_object, with_context = holds[:, objects], holds[:, [c for _, c in columns]]
    cooccur, exclusive = with_object & with_context, with_object & ~with_context
    scores = probabilities[:, objects]
    ap_exclusive = _average_precision(np.where(cooccur, -np.inf, scores), exclusive)
    ap_cooccur = _average_precision(np.where(exclusive, -np.inf, scores), cooccur)
    rows = []
    for k in range(len(columns)):
        mean_with = scores[cooccur[:, k], k].mean() if cooccur[:, k].any() else np.nan
        mean_without = scores[exclusive[:, k], k].mean() if exclusive[:, k].any() else np.nan
        rows.append(
            {
                "exclusive_AP": 100.0 * ap_exclusive[k],
                "cooccur_AP": 100.0 * ap_cooccur[k],
                "bias": float(mean_with / mean_without) if mean_without > 0 else float("nan"),
                "exclusive_images": int(exclusive[:, k].sum()),
                "cooccur_images": int(cooccur[:, k].sum()),
                "negative_images": int((~with_object[:, k]).sum()),
            }
        )
    return {
        "pairs": rows,
        "exclusive_mAP": _nanmean([r["exclusive_AP"] for r in rows]),
        "cooccur_mAP": _nanmean([r["cooccur_AP"] for r in rows]),
        "mean_bias": _nanmean([r["bias"] for r in rows]),
    }


def _columns(pair, n_classes: int) -> tuple[int, int]:
    if hasattr(pair, "object_index"):
        pair = (pair.object_index, pair.context_index)
    b, c = (int(v) for v in pair)
    if b == c or not (0 <= b < n_classes and 0 <= c < n_classes):
        raise ValueError(f"pair {pair}: object and context must be two columns in 0..{n_classes - 1}")
    return b, c


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
