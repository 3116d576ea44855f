"""Label statistics of a split: how often each class occurs, and each pair of classes together.

COCO 2014 train's statistics ship with the library (``coco_label_statistics``), so the real COCO label
graph can be drawn and taught without downloading anything; ``label_statistics_from_annotations``
counts the same numbers from an annotation file on disk, to check them or for any other split::

    stats = coco_label_statistics()
    A = static_adjacency(stats.nums, stats.counts)      # the static prior of COCO, (80, 80)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from dbdgcn_lib.data.coco import annotation_file, load_labels
from dbdgcn_lib.graph import cooccurrence

COCO_STATISTICS_FILE = "coco2014_train_label_stats.json"

# MS-COCO's 12 supercategories and the classes in each, as the COCO annotation files list them.
COCO_SUPERCATEGORIES: dict[str, tuple[str, ...]] = {
    "person": ("person",),
    "vehicle": ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"),
    "outdoor": ("traffic light", "fire hydrant", "stop sign", "parking meter", "bench"),
    "animal": ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"),
    "accessory": ("backpack", "umbrella", "handbag", "tie", "suitcase"),
    "sports": (
        "frisbee",
        "skis",
        "snowboard",
        "sports ball",
        "kite",
        "baseball bat",
        "baseball glove",
        "skateboard",
        "surfboard",
        "tennis racket",
    ),
    "kitchen": ("bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl"),
    "food": (
        "banana",
        "apple",
        "sandwich",
        "orange",
        "broccoli",
        "carrot",
        "hot dog",
        "pizza",
        "donut",
        "cake",
    ),
    "furniture": ("chair", "couch", "potted plant", "bed", "dining table", "toilet"),
    "electronic": ("tv", "laptop", "mouse", "remote", "keyboard", "cell phone"),
    "appliance": ("microwave", "oven", "toaster", "sink", "refrigerator"),
    "indoor": ("book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"),
}


@dataclass(frozen=True)
class LabelStatistics:
    """Per-class and per-pair image counts of one split, classes in the order of ``names``.

    ``nums`` (C,) int64: images holding class i; ``counts`` (C, C) int64: images holding both i and j,
    zero diagonal (``graph.cooccurrence``'s convention); ``names`` / ``supercategories``: C strings;
    ``description``: where the numbers come from.
    """

    names: list[str]
    supercategories: list[str]
    nums: np.ndarray
    counts: np.ndarray
    description: str


def coco_label_statistics() -> LabelStatistics:
    """MS-COCO 2014 train's statistics, shipped with the library: 80 classes in alphabetical order.

    Counted over the 82,081 train2014 images with at least one annotation (``person`` = 49 occurs in
    45,174 of them); supercategories from ``COCO_SUPERCATEGORIES``.
    """
    stored = json.loads(resources.files(__package__).joinpath(COCO_STATISTICS_FILE).read_text("utf-8"))
    group = {name: group for group, names in COCO_SUPERCATEGORIES.items() for name in names}
    return LabelStatistics(
        names=list(stored["names"]),
        supercategories=[group[name] for name in stored["names"]],
        nums=np.array(stored["nums"], dtype=np.int64),
        counts=np.array(stored["counts"], dtype=np.int64),
        description=stored["description"],
    )


def label_statistics_from_annotations(
    root: str | os.PathLike, split: str = "train2014", *, class_order: str = "alphabetical"
) -> LabelStatistics:
    """Count the statistics of ``root/annotations/instances_{split}.json`` (no images needed).

    Images without annotations are left out (they count in neither ``nums`` nor ``counts``); on COCO's
    train2014 this gives exactly ``coco_label_statistics()``. Errors as ``load_labels``.
    """
    table = load_labels(root, split, class_order=class_order)
    nums, counts = cooccurrence(table.labels)
    path = annotation_file(Path(root), split)
    return LabelStatistics(
        names=list(table.categories),
        supercategories=list(table.supercategories),
        nums=nums,
        counts=counts,
        description=f"{split}: {len(table.labels):,} images with at least one annotation, from {path}",
    )
