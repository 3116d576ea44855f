"""The scene design of the synthetic dataset: categories, scenes, presence probabilities, sizes, and
the exact label statistics they imply.

Given its scene, each category is present independently with probability ``q[scene, category]``, so
for distinct classes i != j::

    P(j | i) = sum_s pi_s q_si q_sj / sum_s pi_s q_si
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dbdgcn_lib.checks import IMAGE_SIZE, integer

GENERATOR_VERSION = 2
# The order fixes each split's random streams and image ids: a new split goes at the end.
SPLITS = ("train", "val", "rare", "plain")
SPLIT_PURPOSES = {
    "train": "training images; labels follow the scene design",
    "val": "validation images; labels follow the scene design",
    "rare": "held out: each image adds one object that never occurs in its scene (out_of_scene)",
    "plain": (
        "val image by image (same scene draw, objects, positions and sizes, same labels in the same "
        "order) on a plain background: what a model loses here against val is what the scene's pixels "
        "gave it; look-alikes can only be told apart by the objects beside them"
    ),
}


@dataclass(frozen=True)
class Category:
    """One class: COCO id and names, the drawing ``shape`` (look-alikes share one), width/height
    ``aspect``, relative ``scale`` of its size and the vertical ``band`` (fractions of the image
    height) where its centre may fall."""

    id: int
    name: str
    supercategory: str
    shape: str
    aspect: float
    scale: float
    band: tuple[float, float] = (0.5, 0.9)


@dataclass(frozen=True)
class Scene:
    """A scene: probability of being drawn and per-category presence probabilities."""

    name: str
    probability: float
    objects: dict[str, float]


# COCO-style ids: grouped by supercategory with gaps, so id order differs from alphabetical order.
CATEGORIES: tuple[Category, ...] = (
    Category(1, "person", "person", "person", 0.45, 1.3, (0.45, 0.8)),
    Category(2, "bicycle", "vehicle", "bicycle", 1.6, 1.1, (0.55, 0.85)),
    Category(3, "car", "vehicle", "car", 2.0, 1.3, (0.6, 0.88)),
    Category(5, "traffic light", "outdoor", "traffic_light", 0.4, 1.1, (0.25, 0.55)),
    Category(7, "bench", "outdoor", "bench", 1.8, 1.2),
    Category(8, "tree", "plant", "tree", 0.75, 1.6, (0.3, 0.6)),
    Category(10, "bird", "animal", "bird", 1.3, 0.7, (0.12, 0.5)),
    Category(12, "stone", "outdoor", "blob", 1.4, 0.6),
    Category(14, "umbrella", "accessory", "umbrella", 1.2, 1.2, (0.4, 0.75)),
    Category(16, "ball", "sports", "ball", 1.0, 0.7),
    Category(18, "bottle", "kitchen", "bottle", 0.35, 0.9),
    Category(19, "cup", "kitchen", "cup", 1.1, 0.6),
    Category(20, "knife", "kitchen", "knife", 4.0, 0.9),
    Category(22, "banana", "food", "banana", 1.6, 0.7),
    Category(23, "apple", "food", "apple", 1.0, 0.6),
    Category(25, "laptop", "electronic", "laptop", 1.3, 1.2),
    Category(26, "mouse", "electronic", "blob", 1.4, 0.6),
    Category(27, "keyboard", "electronic", "keyboard", 3.0, 1.2),
    Category(29, "book", "indoor", "book", 0.75, 0.8),
    Category(30, "clock", "indoor", "clock", 1.0, 0.8, (0.12, 0.4)),
)

SCENES: tuple[Scene, ...] = (
    Scene(
        "street",
        0.25,
        {
            "car": 0.8,
            "traffic light": 0.6,
            "person": 0.6,
            "bicycle": 0.4,
            "bench": 0.3,
            "tree": 0.3,
            "umbrella": 0.2,
            "bird": 0.15,
            "clock": 0.1,
            "stone": 0.1,
            "ball": 0.05,
            "bottle": 0.05,
        },
    ),
    Scene(
        "kitchen",
        0.2,
        {
            "cup": 0.6,
            "apple": 0.5,
            "bottle": 0.5,
            "knife": 0.5,
            "banana": 0.4,
            "clock": 0.3,
            "person": 0.3,
            "book": 0.1,
            "laptop": 0.05,
        },
    ),
    Scene(
        "office",
        0.2,
        {
            "keyboard": 0.7,
            "laptop": 0.6,
            "mouse": 0.6,
            "cup": 0.5,
            "book": 0.5,
            "clock": 0.3,
            "person": 0.3,
            "bottle": 0.2,
            "apple": 0.1,
            "banana": 0.05,
        },
    ),
    Scene(
        "park",
        0.2,
        {
            "tree": 0.8,
            "bench": 0.5,
            "person": 0.5,
            "stone": 0.5,
            "bird": 0.45,
            "ball": 0.4,
            "bicycle": 0.2,
            "apple": 0.05,
            "book": 0.05,
        },
    ),
    Scene(
        "beach",
        0.15,
        {
            "person": 0.6,
            "umbrella": 0.6,
            "ball": 0.5,
            "bird": 0.4,
            "stone": 0.3,
            "bottle": 0.2,
            "banana": 0.1,
            "apple": 0.05,
        },
    ),
)

LOOKALIKES: tuple[tuple[str, str], ...] = (("mouse", "stone"),)


@dataclass(frozen=True)
class SyntheticSize:
    """Images per split and their side in pixels; ``plain`` defaults to ``val`` (plain image i
    mirrors val image i)."""

    train: int
    val: int
    rare: int
    image_size: int = 128
    plain: int | None = None

    def __post_init__(self) -> None:
        if self.plain is None:
            object.__setattr__(self, "plain", self.val)
        count = integer(0, 1_000_000)
        for split in ("train", "val", "rare", "plain"):
            count.check(split, getattr(self, split))
        IMAGE_SIZE.check("image_size", self.image_size)


SWAP_KINDS = ("scene", "plain")  # another scene's background, or the plain split's grey


@dataclass(frozen=True)
class BackgroundSwap:
    """A data intervention on the ``train`` split: a ``share`` (0 to 1) of its images is drawn with its
    objects on another background, ``kind="scene"``: the background of another scene (uniform among
    the other four), ``kind="plain"``: the plain split's grey.

    A swapped image keeps its scene's objects, their places and sizes, and its labels: only the pixels
    behind the objects change. Which images are swapped, and onto which scene, is drawn from a stream
    of its own per image, so every image of a smaller share is swapped the same way in a larger one,
    and ``val``, ``rare`` and ``plain`` keep their bytes.
    """

    share: float
    kind: str = "scene"

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"the share of swapped training images must be in [0, 1], got {self.share}")
        if self.kind not in SWAP_KINDS:
            raise ValueError(f"unknown background swap {self.kind!r}; choose from {', '.join(SWAP_KINDS)}")

    @property
    def name(self) -> str:
        """The dataset folder's suffix: ``swap20`` (20 % on other scenes), ``plainbg5`` (5 % on grey)."""
        return f"{'swap' if self.kind == 'scene' else 'plainbg'}{100 * self.share:g}"


SIZES: dict[str, SyntheticSize] = {
    "tiny": SyntheticSize(train=48, val=16, rare=8, plain=16),
    "default": SyntheticSize(train=2000, val=500, rare=1000, plain=500),
}


def alphabetical_names() -> list[str]:
    """Category names in the default class order (alphabetical, as for COCO)."""
    return sorted(c.name for c in CATEGORIES)


def presence_matrix(names: list[str] | None = None) -> np.ndarray:
    """``q`` (S, C): probability that category c is in an image of scene s; columns follow ``names``
    (default: ``CATEGORIES`` order)."""
    names = [c.name for c in CATEGORIES] if names is None else names
    return np.array([[scene.objects.get(name, 0.0) for name in names] for scene in SCENES])


def scene_probabilities() -> np.ndarray:
    """``pi`` (S,): probability of each scene in ``SCENES`` order."""
    return np.array([scene.probability for scene in SCENES])


def expected_statistics(names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact label statistics of ``train`` / ``val`` implied by the design.

    Returns ``(frequency (C,), conditional (C, C))``: ``frequency[i] = P(i)`` and
    ``conditional[i, j] = P(j | i)`` for i != j, diagonal 0 (as ``graph.conditional_probability``
    computes it from counts with a zero diagonal). Classes follow ``names`` (default alphabetical).
    """
    names = alphabetical_names() if names is None else names
    pi, q = scene_probabilities(), presence_matrix(names)
    frequency = pi @ q
    joint = np.einsum("s,si,sj->ij", pi, q, q)
    conditional = joint / frequency[:, None]
    np.fill_diagonal(conditional, 0.0)
    return frequency, conditional


def generator_truth(
    size: SyntheticSize, seed: int, size_name: str | None = None, swap: BackgroundSwap | None = None
) -> dict:
    """The content of ``generator.json`` (JSON-ready); ``swap`` only where the train split has one."""
    names = alphabetical_names()
    frequency, conditional = expected_statistics(names)
    truth = {
        "version": GENERATOR_VERSION,
        "seed": seed,
        "size_name": size_name,
        "size": asdict(size),
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory, "shape": c.shape}
            for c in CATEGORIES
        ],
        "scenes": [{"name": s.name, "probability": s.probability, "objects": s.objects} for s in SCENES],
        "lookalikes": [list(pair) for pair in LOOKALIKES],
        "splits": SPLIT_PURPOSES,
        "expected": {
            "about": (
                "train, val and plain: labels follow the scene design; rows/columns in class_names order "
                "(alphabetical); conditional_probability[i][j] = P(j | i), diagonal 0. The rare split "
                "adds one out-of-scene object per image and does not follow these numbers."
            ),
            "class_names": names,
            "label_frequency": np.round(frequency, 10).tolist(),
            "conditional_probability": np.round(conditional, 10).tolist(),
        },
    }
    if swap is not None:
        truth["swap"] = asdict(swap)
    return truth
