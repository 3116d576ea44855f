"""Biased (object, context) pairs from label statistics, and the images that hold an object with or
without its context.

Singh et al. (CVPR 2020, "Don't Judge an Object by Its Context") measure contextual bias on pairs
(b, c): an object b and the category c it most often appears with. The *co-occur* images hold b and
c, the *exclusive* images hold b without c; a model that leans on c to find b scores b worse on the
exclusive ones. They pick c for each b from a trained model's scores (the category whose absence
lowers b's mean score the most, among those present in more than 10 % of b's images) and keep the 20
most biased pairs. The rule here needs only label statistics, so that it can be applied to COCO 2014
train's shipped statistics before any model exists:

1. for every object b, its context c is the category with the highest P(c | b) = counts[b, c] /
   nums[b] (the lowest index among ties);
2. pairs with fewer than ``min_exclusive`` exclusive images (b without c) or P(c | b) below
   ``min_probability`` are dropped (an AP over a handful of images says little);
3. the rest are ranked by P(c | b), highest first, and the first ``top`` are kept.

On COCO 2014 train (``biased_pairs(stats.nums, stats.counts, stats.names, top=20, min_exclusive=100)``)
the pairs run from sports ball / person (P = 0.96) down to boat / person (0.65): person is the context
of 17 of the 20 (it is in 55 % of the images), the others are fork / dining table, mouse / keyboard and
parking meter / car.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class ContextPair:
    """An object b and its context c: names, column indices, P(c | b) and the image counts (b, b with
    c, b without c) in the statistics they were chosen from."""

    object: str
    context: str
    object_index: int
    context_index: int
    probability: float
    images: int
    cooccur_images: int
    exclusive_images: int


def biased_pairs(
    nums,
    counts,
    names: list[str],
    *,
    top: int | None = 20,
    min_exclusive: int = 1,
    min_probability: float = 0.0,
) -> list[ContextPair]:
    """The biased pairs of a split's label statistics (the module docstring gives the rule).

    nums: (C,) images per class; counts: (C, C) images per pair of classes (``graph.cooccurrence``);
    names: the C class names. ``top=None`` keeps every pair that passes the filters.
    """
    nums = np.asarray(nums, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    if nums.ndim != 1 or counts.shape != (len(nums), len(nums)) or len(names) != len(nums):
        raise ValueError(
            f"nums (C,), counts (C, C) and names (C) must agree: got {nums.shape}, {counts.shape}, "
            f"{len(names)} names"
        )
    if top is not None and top < 1:
        raise ValueError(f"top must be >= 1 or None, got {top}")
    together = counts.astype(np.float64)
    np.fill_diagonal(together, -1.0)  # an object is not its own context
    pairs = []
    for b in np.flatnonzero(nums > 0):
        c = int(np.argmax(together[b]))
        cooccur = int(counts[b, c])
        probability = cooccur / int(nums[b])
        exclusive = int(nums[b]) - cooccur
        if exclusive >= min_exclusive and probability >= min_probability:
            pairs.append(
                ContextPair(names[b], names[c], int(b), c, probability, int(nums[b]), cooccur, exclusive)
            )
    pairs.sort(key=lambda pair: (-pair.probability, pair.object_index))
    return pairs if top is None else pairs[:top]


def pair_masks(labels, pairs: list[ContextPair]) -> tuple[np.ndarray, np.ndarray]:
    """Which images hold each pair's object with and without its context.

    labels: (N, C) 0/1 with the columns the pairs index. Returns ``(cooccur, exclusive)``, each (N, P)
    bool: ``cooccur[n, p]`` when image n holds pair p's object and its context, ``exclusive[n, p]`` when
    it holds the object without the context.
    """
    labels = np.asarray(labels) > 0.5
    if labels.ndim != 2:
        raise ValueError(f"labels must be (N, C), got shape {labels.shape}")
    too_big = [p for p in pairs if max(p.object_index, p.context_index) >= labels.shape[1]]
    if too_big:
        raise ValueError(f"pair {too_big[0]} indexes a column beyond the labels' {labels.shape[1]}")
    objects = labels[:, [p.object_index for p in pairs]]
    contexts = labels[:, [p.context_index for p in pairs]]
    return objects & contexts, objects & ~contexts


def pairs_for(pairs: list[ContextPair], names: list[str]) -> list[ContextPair]:
    """The same pairs with their column indices looked up in ``names`` (another dataset's class order);
    a name that is not among ``names`` is an error naming it."""
    column = {name: k for k, name in enumerate(names)}
    missing = sorted({n for p in pairs for n in (p.object, p.context) if n not in column})
    if missing:
        raise ValueError(f"the classes {missing} are not among the dataset's categories")
    return [replace(p, object_index=column[p.object], context_index=column[p.context]) for p in pairs]
