"""How a model copes without its usual context: one report from its probabilities, for the embedded
data and for COCO. ``python -m dbdgcn_lib evaluate --robustness`` prints it; notebooks call the same
functions on a quick run's outputs.

- Embedded data (``embedded_robustness``): on ``val`` and ``plain`` (the same objects with and without
  their scene's pixels) the mAP, the recall at the threshold beside the share of absent labels
  predicted at it, and the look-alikes' AP beside their context-free level with the AUC that tells
  them apart; on ``rare`` the out-of-scene metrics (``metrics.out_of_scene_metrics``).
- COCO (``coco_robustness``): AP on the exclusive against the co-occur images of biased (object,
  context) pairs, the pairs chosen from COCO 2014 train's shipped label statistics
  (``coco_context_pairs``).
"""

from __future__ import annotations

import numpy as np

from dbdgcn_lib.data import LOOKALIKES, ContextPair, biased_pairs, coco_label_statistics, pairs_for
from dbdgcn_lib.metrics import (
    average_precision,
    context_free_ap,
    exclusive_cooccur_metrics,
    label_recall,
    lookalike_auc,
    out_of_scene_metrics,
)

ROBUSTNESS_SPLITS = ("val", "plain", "rare")


def embedded_robustness(
    probabilities: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    out_of_scene: np.ndarray,
    class_names: list[str],
    threshold: float = 0.5,
) -> dict:
    """The report of one score on the embedded data's ``ROBUSTNESS_SPLITS``.

    probabilities, targets: split -> (N, C); out_of_scene: the rare split's (N, C) mask
    (``data.out_of_scene_mask``). Returns, for ``val`` and ``plain``: ``mAP``, ``recall``,
    ``absent_predicted`` (percent), ``lookalikes`` (per look-alike class: ``AP`` and
    ``context_free_AP``) and ``lookalike_auc`` (per pair "mouse / stone": ``metrics.lookalike_auc``);
    for ``rare``: ``out_of_scene_metrics``.
    """
    report = {}
    for split in ("val", "plain"):
        p, t = probabilities[split], targets[split]
        ap = average_precision(p, t)
        shares = label_recall(p, t, threshold)
        row = {
            "mAP": 100.0 * float(np.nanmean(ap)),
            "recall": shares["recall"],
            "absent_predicted": shares["absent_predicted"],
            "lookalikes": {},
            "lookalike_auc": {},
        }
        for pair in LOOKALIKES:
            columns = [class_names.index(name) for name in pair]
            reference = context_free_ap(t, columns)
            for name, column, level in zip(pair, columns, reference):
                row["lookalikes"][name] = {"AP": 100.0 * float(ap[column]), "context_free_AP": float(level)}
            row["lookalike_auc"][" / ".join(pair)] = lookalike_auc(p, t, columns)
        report[split] = row
    report["rare"] = out_of_scene_metrics(probabilities["rare"], targets["rare"], out_of_scene, threshold)
    return report


def coco_context_pairs(
    class_names: list[str], *, top: int = 20, min_exclusive: int = 100
) -> list[ContextPair]:
    """The biased pairs of COCO 2014 train's shipped statistics (``data.biased_pairs``: highest P(c |
    b), at least ``min_exclusive`` train images of b without c, the ``top`` first), with their columns
    in ``class_names``. Pairs whose classes the dataset lacks are left out."""
    stats = coco_label_statistics()
    pairs = biased_pairs(stats.nums, stats.counts, stats.names, top=top, min_exclusive=min_exclusive)
    known = set(class_names)
    return pairs_for([p for p in pairs if p.object in known and p.context in known], class_names)


def coco_robustness(probabilities: np.ndarray, targets: np.ndarray, pairs: list[ContextPair]) -> dict:
    """``metrics.exclusive_cooccur_metrics`` of one score with each pair's names and its P(c | b) in
    the statistics it was chosen from."""
    result = exclusive_cooccur_metrics(probabilities, targets, pairs)
    for pair, row in zip(pairs, result["pairs"]):
        row.update(object=pair.object, context=pair.context, probability=pair.probability)
    return result
