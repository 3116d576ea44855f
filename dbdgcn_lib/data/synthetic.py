"""The embedded default dataset: drawn scenes in MS-COCO instances format.

Every image is a *scene* (street, kitchen, office, park, beach) drawn on its own background. Given
the scene, each category is present independently with a known probability ``q[scene, category]``
and then drawn 1-3 times at varied sizes (most objects are small). Label co-occurrence therefore
follows exactly from the design, for distinct classes i != j::

    P(j | i) = sum_s pi_s q_si q_sj / sum_s pi_s q_si

``mouse`` and ``stone`` are drawn by the same function with the same colours and sizes: only the
scene (background and neighbours) tells them apart, so label context carries real information.

Splits (COCO layout, ``root/annotations/instances_{split}.json`` + ``root/{split}/*.jpg``):
``train`` and ``val`` follow the design; ``rare`` (held out) adds to each image one object that never
occurs in its scene (``q = 0``; never a look-alike, which would be unrecognisable), listed in the image
entry's ``out_of_scene``. Every image entry also names its ``scene``. ``root/generator.json`` holds the
truth (see ``generator_truth``). Each image has its own random stream seeded by (seed, split, index),
so a seed gives the same bytes and a smaller size gives the first images of a bigger one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dbdgcn_lib.paths import default_data_root

GENERATOR_VERSION = 1
SPLITS = ("train", "val", "rare")
SUPERSAMPLE = 2  # draw at twice the size, then reduce: smooth edges for free
JPEG_QUALITY = 90


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
    """Images per split and their side in pixels."""

    train: int
    val: int
    rare: int
    image_size: int = 128


SIZES: dict[str, SyntheticSize] = {
    "tiny": SyntheticSize(train=48, val=16, rare=8),
    "default": SyntheticSize(train=2000, val=500, rare=300),
}


class SyntheticDatasetError(RuntimeError):
    """The synthetic dataset cannot be written where it was asked for."""


# ---------------------------------------------------------------------------------------------
# The design as arrays, and the exact statistics it implies
# ---------------------------------------------------------------------------------------------


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


_SCENE_PROBABILITIES, _PRESENCE = scene_probabilities(), presence_matrix()


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


def generator_truth(size: SyntheticSize, seed: int, size_name: str | None = None) -> dict:
    """The content of ``generator.json`` (JSON-ready)."""
    names = alphabetical_names()
    frequency, conditional = expected_statistics(names)
    return {
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
        "expected": {
            "about": (
                "train and val: labels follow the scene design; rows/columns in class_names order "
                "(alphabetical); conditional_probability[i][j] = P(j | i), diagonal 0. The rare split "
                "adds one out-of-scene object per image and does not follow these numbers."
            ),
            "class_names": names,
            "label_frequency": np.round(frequency, 10).tolist(),
            "conditional_probability": np.round(conditional, 10).tolist(),
        },
    }


# ---------------------------------------------------------------------------------------------
# Drawing. Each function draws one object filling the box (x0, y0, x1, y1), canvas pixels.
# ---------------------------------------------------------------------------------------------

Box = tuple[float, float, float, float]


def _colour(rng: np.random.Generator, base: tuple[int, int, int], spread: int = 18) -> tuple[int, ...]:
    jitter = rng.integers(-spread, spread + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(base) + jitter, 0, 255))


def _pick(rng: np.random.Generator, palette: list[tuple[int, int, int]]) -> tuple[int, ...]:
    return _colour(rng, palette[int(rng.integers(len(palette)))])


BRIGHT = [(200, 40, 40), (40, 90, 200), (240, 190, 30), (40, 150, 70), (150, 60, 170), (240, 120, 30)]


def _line_width(h: float, fraction: float) -> int:
    return max(1, round(h * fraction))


def _draw_person(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    skin = _pick(rng, [(240, 200, 160), (200, 150, 110), (140, 95, 60)])
    shirt, trousers = _pick(rng, BRIGHT), _colour(rng, (50, 50, 80))
    d.rectangle((x0 + 0.15 * w, y0 + 0.6 * h, cx - 0.03 * w, y1), fill=trousers)
    d.rectangle((cx + 0.03 * w, y0 + 0.6 * h, x1 - 0.15 * w, y1), fill=trousers)
    d.rectangle((x0 + 0.12 * w, y0 + 0.24 * h, x1 - 0.12 * w, y0 + 0.62 * h), fill=shirt)
    d.rectangle((x0, y0 + 0.26 * h, x0 + 0.12 * w, y0 + 0.55 * h), fill=skin)
    d.rectangle((x1 - 0.12 * w, y0 + 0.26 * h, x1, y0 + 0.55 * h), fill=skin)
    d.ellipse((cx - 0.12 * h, y0, cx + 0.12 * h, y0 + 0.24 * h), fill=skin)


def _draw_bicycle(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    r = min(0.26 * w, 0.42 * h)
    frame, width = _pick(rng, BRIGHT), _line_width(h, 0.07)
    rear, front = (x0 + r, y1 - r), (x1 - r, y1 - r)
    pedal, seat, bars = (x0 + 0.48 * w, y1 - r), (x0 + 0.38 * w, y0 + 0.2 * h), (x1 - 0.3 * w, y0 + 0.12 * h)
    for hub in (rear, front):
        d.ellipse((hub[0] - r, hub[1] - r, hub[0] + r, hub[1] + r), outline=(30, 30, 30), width=width)
    d.line([rear, pedal, bars, front], fill=frame, width=width)
    d.line([rear, seat, pedal], fill=frame, width=width)
    d.line([seat, (seat[0] + 0.45 * (bars[0] - seat[0]), bars[1] + 0.1 * h)], fill=frame, width=width)


def _draw_car(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    body = _pick(rng, BRIGHT)
    d.polygon(
        [
            (x0 + 0.2 * w, y0 + 0.42 * h),
            (x0 + 0.3 * w, y0),
            (x0 + 0.7 * w, y0),
            (x0 + 0.82 * w, y0 + 0.42 * h),
        ],
        fill=body,
    )
    d.polygon(
        [
            (x0 + 0.27 * w, y0 + 0.4 * h),
            (x0 + 0.34 * w, y0 + 0.1 * h),
            (x0 + 0.66 * w, y0 + 0.1 * h),
            (x0 + 0.75 * w, y0 + 0.4 * h),
        ],
        fill=(170, 210, 235),
    )
    d.rectangle((x0, y0 + 0.4 * h, x1, y1 - 0.18 * h), fill=body)
    r = 0.2 * h
    for cx in (x0 + 0.22 * w, x1 - 0.22 * w):
        d.ellipse((cx - r, y1 - 2 * r, cx + r, y1), fill=(25, 25, 25))


def _draw_traffic_light(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.rectangle((cx - 0.1 * w, y0 + 0.6 * h, cx + 0.1 * w, y1), fill=_colour(rng, (110, 110, 110)))
    d.rectangle((x0, y0, x1, y0 + 0.62 * h), fill=_colour(rng, (35, 35, 35), 8))
    r = min(0.32 * w, 0.085 * h)
    for fy, lamp in ((0.11, (230, 40, 30)), (0.31, (245, 200, 40)), (0.51, (40, 200, 80))):
        cy = y0 + fy * h
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=lamp)


def _draw_bench(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    wood, iron = _colour(rng, (150, 95, 50)), _colour(rng, (45, 45, 45), 8)
    d.rectangle((x0 + 0.08 * w, y0, x0 + 0.14 * w, y1), fill=iron)
    d.rectangle((x1 - 0.14 * w, y0, x1 - 0.08 * w, y1), fill=iron)
    for top, bottom in ((0.0, 0.14), (0.2, 0.34), (0.48, 0.64)):
        d.rectangle((x0, y0 + top * h, x1, y0 + bottom * h), fill=wood)


def _draw_tree(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.rectangle((cx - 0.1 * w, y0 + 0.55 * h, cx + 0.1 * w, y1), fill=_colour(rng, (110, 70, 35)))
    crown = _pick(rng, [(40, 120, 40), (70, 150, 50), (30, 95, 55)])
    if rng.random() < 0.5:
        d.ellipse((x0, y0, x1, y0 + 0.7 * h), fill=crown)
    else:
        d.polygon([(cx, y0), (x1, y0 + 0.72 * h), (x0, y0 + 0.72 * h)], fill=crown)


def _draw_bird(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    plumage = _pick(rng, [(60, 60, 70), (120, 80, 50), (50, 80, 160)])
    d.polygon([(x0, y0 + 0.35 * h), (x0 + 0.25 * w, y0 + 0.55 * h), (x0, y0 + 0.75 * h)], fill=plumage)
    d.ellipse((x0 + 0.12 * w, y0 + 0.35 * h, x1 - 0.2 * w, y1 - 0.05 * h), fill=plumage)
    hx, hy, r = x1 - 0.28 * w, y0 + 0.3 * h, 0.22 * h
    d.ellipse((hx - r, hy - r, hx + r, hy + r), fill=plumage)
    d.polygon(
        [(hx + 0.8 * r, hy - 0.3 * r), (x1, hy + 0.1 * r), (hx + 0.8 * r, hy + 0.5 * r)], fill=(240, 150, 30)
    )
    d.polygon(
        [(x0 + 0.3 * w, y0 + 0.5 * h), (x0 + 0.55 * w, y0), (x0 + 0.62 * w, y0 + 0.55 * h)],
        fill=_colour(rng, (30, 30, 35), 8),
    )


def _draw_blob(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    """A grey rounded blob: a computer mouse in an office, a stone outdoors."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    grey = int(rng.integers(105, 176))
    d.ellipse(box, fill=(grey, grey, grey + 4), outline=(grey - 45,) * 3, width=_line_width(h, 0.09))
    d.ellipse((x0 + 0.2 * w, y0 + 0.18 * h, x0 + 0.45 * w, y0 + 0.4 * h), fill=(min(grey + 50, 255),) * 3)


def _draw_umbrella(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    handle = _colour(rng, (60, 45, 35), 8)
    width = _line_width(w, 0.06)
    d.line([(cx, y0 + 0.4 * h), (cx, y1 - 0.12 * h)], fill=handle, width=width)
    d.arc((cx - 0.2 * w, y1 - 0.25 * h, cx, y1), 0, 180, fill=handle, width=width)
    colours = [_pick(rng, BRIGHT), (245, 245, 240)]
    for k in range(4):
        d.pieslice((x0, y0, x1, y0 + 0.9 * h), 180 + 45 * k, 225 + 45 * k, fill=colours[k % 2])


def _draw_ball(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    colours = [(220, 40, 40), (245, 245, 245), (40, 90, 210), (250, 210, 40)]
    start = float(rng.integers(0, 60))
    for k in range(6):
        d.pieslice(box, start + 60 * k, start + 60 * (k + 1), fill=colours[k % 4])


def _draw_bottle(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    glass = _pick(rng, [(40, 120, 60), (120, 70, 30), (60, 110, 190)])
    d.rectangle((x0, y0 + 0.38 * h, x1, y1), fill=glass)
    d.polygon(
        [
            (x0 + 0.3 * w, y0 + 0.22 * h),
            (x1 - 0.3 * w, y0 + 0.22 * h),
            (x1, y0 + 0.4 * h),
            (x0, y0 + 0.4 * h),
        ],
        fill=glass,
    )
    d.rectangle((x0 + 0.3 * w, y0 + 0.06 * h, x1 - 0.3 * w, y0 + 0.24 * h), fill=glass)
    d.rectangle((x0 + 0.26 * w, y0, x1 - 0.26 * w, y0 + 0.08 * h), fill=_pick(rng, BRIGHT))
    d.rectangle((x0 + 0.1 * w, y0 + 0.55 * h, x1 - 0.1 * w, y0 + 0.75 * h), fill=(235, 230, 210))


def _draw_cup(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    china = _pick(rng, [(245, 245, 240), (200, 60, 60), (70, 110, 190)])
    d.ellipse((x1 - 0.42 * w, y0 + 0.25 * h, x1, y0 + 0.72 * h), outline=china, width=_line_width(h, 0.12))
    d.polygon(
        [(x0, y0 + 0.08 * h), (x1 - 0.25 * w, y0 + 0.08 * h), (x1 - 0.33 * w, y1), (x0 + 0.08 * w, y1)],
        fill=china,
    )
    d.ellipse((x0, y0, x1 - 0.25 * w, y0 + 0.16 * h), fill=(90, 60, 40))


def _draw_knife(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.rectangle(
        (x0, y0 + 0.25 * h, x0 + 0.36 * w, y1 - 0.1 * h), fill=_pick(rng, [(30, 30, 30), (110, 65, 30)])
    )
    d.polygon(
        [(x0 + 0.36 * w, y0), (x1 - 0.12 * w, y0 + 0.15 * h), (x1, y1), (x0 + 0.36 * w, y1)],
        fill=_colour(rng, (205, 208, 215), 10),
    )


def _draw_banana(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    yellow = _colour(rng, (245, 210, 40), 12)
    d.arc((x0, y1 - 2.0 * h, x1, y1), 20, 160, fill=yellow, width=max(2, round(0.5 * h)))
    d.ellipse((x0 + 0.04 * (x1 - x0), y0 + 0.25 * h, x0 + 0.12 * (x1 - x0), y0 + 0.5 * h), fill=(90, 60, 20))


def _draw_apple(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.line([(cx, y0 + 0.25 * h), (cx + 0.06 * w, y0)], fill=(100, 60, 20), width=_line_width(w, 0.08))
    d.ellipse((cx + 0.05 * w, y0, cx + 0.38 * w, y0 + 0.16 * h), fill=(60, 160, 50))
    d.ellipse((x0, y0 + 0.14 * h, x1, y1), fill=_colour(rng, (205, 30, 35), 15))


def _draw_laptop(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    frame = _pick(rng, [(50, 50, 55), (180, 180, 185)])
    d.rectangle((x0 + 0.1 * w, y0, x1 - 0.1 * w, y0 + 0.72 * h), fill=frame)
    d.rectangle(
        (x0 + 0.16 * w, y0 + 0.07 * h, x1 - 0.16 * w, y0 + 0.64 * h), fill=_colour(rng, (70, 140, 210))
    )
    d.polygon(
        [(x0 + 0.1 * w, y0 + 0.72 * h), (x1 - 0.1 * w, y0 + 0.72 * h), (x1, y1), (x0, y1)],
        fill=_colour(rng, (160, 160, 165), 10),
    )


def _draw_keyboard(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.rectangle(box, fill=_colour(rng, (55, 55, 60), 10))
    key = _colour(rng, (200, 200, 205), 10)
    rows, cols = 3, 10
    kw, kh = w / cols, h / rows
    for row in range(rows):
        for col in range(cols):
            left, top = x0 + col * kw, y0 + row * kh
            d.rectangle((left + 0.2 * kw, top + 0.2 * kh, left + 0.8 * kw, top + 0.8 * kh), fill=key)


def _draw_book(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cover = np.array(_pick(rng, BRIGHT))
    d.rectangle(box, fill=tuple(int(v) for v in cover))
    d.rectangle((x0, y0, x0 + 0.16 * w, y1), fill=tuple(int(v) for v in cover * 0.6))
    d.rectangle((x1 - 0.1 * w, y0 + 0.04 * h, x1, y1 - 0.04 * h), fill=(240, 235, 220))
    d.rectangle((x0 + 0.3 * w, y0 + 0.2 * h, x1 - 0.22 * w, y0 + 0.3 * h), fill=(240, 235, 220))


def _draw_clock(d: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    h = y1 - y0
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, h / 2
    d.ellipse(
        box,
        fill=(250, 250, 245),
        outline=_pick(rng, [(30, 30, 30), (150, 40, 40)]),
        width=_line_width(h, 0.09),
    )
    for length, angle in ((0.5, rng.uniform(0, 2 * np.pi)), (0.8, rng.uniform(0, 2 * np.pi))):
        tip = (cx + length * r * np.sin(angle), cy - length * r * np.cos(angle))
        d.line([(cx, cy), tip], fill=(20, 20, 20), width=_line_width(h, 0.07))


DRAW: dict[str, Callable[[ImageDraw.ImageDraw, Box, np.random.Generator], None]] = {
    "person": _draw_person,
    "bicycle": _draw_bicycle,
    "car": _draw_car,
    "traffic_light": _draw_traffic_light,
    "bench": _draw_bench,
    "tree": _draw_tree,
    "bird": _draw_bird,
    "blob": _draw_blob,
    "umbrella": _draw_umbrella,
    "ball": _draw_ball,
    "bottle": _draw_bottle,
    "cup": _draw_cup,
    "knife": _draw_knife,
    "banana": _draw_banana,
    "apple": _draw_apple,
    "laptop": _draw_laptop,
    "keyboard": _draw_keyboard,
    "book": _draw_book,
    "clock": _draw_clock,
}


def _draw_background(d: ImageDraw.ImageDraw, scene: str, size: int, rng: np.random.Generator) -> None:
    """Paint the scene's context: sky/road, tiled wall/counter, wall/desk, sky/grass, sky/sea/sand."""
    s = size

    def band(top: float, bottom: float, base: tuple[int, int, int], spread: int = 12) -> None:
        d.rectangle((0, top * s, s, bottom * s), fill=_colour(rng, base, spread))

    if scene == "street":
        band(0, 0.45, (170, 200, 230))
        for _ in range(int(rng.integers(3, 6))):
            left, width, height = (
                rng.uniform(-0.1, 0.9) * s,
                rng.uniform(0.15, 0.3) * s,
                rng.uniform(0.1, 0.3),
            )
            d.rectangle(
                (left, (0.45 - height) * s, left + width, 0.45 * s), fill=_colour(rng, (150, 140, 135), 25)
            )
        band(0.45, 0.55, (175, 170, 160))
        band(0.55, 1.0, (80, 80, 85), 8)
        for left in np.arange(rng.uniform(0, 0.2), 1.0, 0.25):
            d.rectangle((left * s, 0.77 * s, (left + 0.12) * s, 0.79 * s), fill=(235, 235, 235))
    elif scene == "kitchen":
        band(0, 0.6, (235, 225, 200))
        line = _colour(rng, (200, 190, 170), 8)
        for k in range(1, 8):
            d.line([(k * s / 8, 0), (k * s / 8, 0.6 * s)], fill=line, width=max(1, s // 128))
            d.line([(0, k * 0.6 * s / 8), (s, k * 0.6 * s / 8)], fill=line, width=max(1, s // 128))
        band(0.6, 1.0, (150, 110, 70))
        band(0.6, 0.63, (110, 80, 50), 6)
    elif scene == "office":
        band(0, 0.55, (200, 210, 222), 10)
        left = rng.uniform(0.05, 0.6) * s
        d.rectangle((left, 0.08 * s, left + 0.3 * s, 0.4 * s), fill=_colour(rng, (185, 225, 245), 8))
        band(0.55, 1.0, (185, 155, 115))
    elif scene == "park":
        band(0, 0.35, (160, 205, 238))
        band(0.35, 1.0, (95, 165, 80), 15)
        grass = _colour(rng, (60, 125, 55), 10)
        for x, y in rng.uniform(0, 1, size=(12, 2)):
            top = 0.38 + 0.6 * y
            d.line(
                [(x * s, top * s), (x * s + 0.01 * s, (top - 0.03) * s)], fill=grass, width=max(1, s // 128)
            )
    elif scene == "beach":
        band(0, 0.3, (165, 210, 240))
        band(0.3, 0.5, (40, 110, 180), 15)
        d.line([(0, 0.47 * s), (s, 0.47 * s)], fill=(235, 240, 245), width=max(1, s // 100))
        band(0.5, 1.0, (228, 208, 155))
    else:
        raise ValueError(f"no background for scene {scene!r}")


# ---------------------------------------------------------------------------------------------
# Sampling and rendering one image
# ---------------------------------------------------------------------------------------------


def _object_box(rng: np.random.Generator, category: Category, canvas: int) -> tuple[float, float]:
    """Width and height (canvas pixels): mostly small, some medium, a few large objects."""
    u = rng.random()
    low, high = (0.08, 0.16) if u < 0.6 else (0.16, 0.3) if u < 0.9 else (0.3, 0.45)
    longest = min(rng.uniform(low, high) * category.scale, 0.6) * canvas
    if category.aspect >= 1:
        return longest, max(longest / category.aspect, 0.03 * canvas)
    return max(longest * category.aspect, 0.03 * canvas), longest


def _place(
    rng: np.random.Generator, category: Category, canvas: int, placed: list[Box], tries: int = 8
) -> Box:
    """A box inside the margins, centre in the category's band, overlapping earlier boxes least."""
    w, h = _object_box(rng, category, canvas)
    margin = 0.05 * canvas
    best, best_overlap = None, np.inf
    for _ in range(tries):
        x0 = rng.uniform(margin, max(margin, canvas - margin - w))
        cy = rng.uniform(*category.band) * canvas
        y0 = float(np.clip(cy - h / 2, margin, max(margin, canvas - margin - h)))
        box = (x0, y0, x0 + w, y0 + h)
        overlap = max((_overlap(box, other) for other in placed), default=0.0)
        if overlap < best_overlap:
            best, best_overlap = box, overlap
        if overlap < 0.2:
            break
    return best


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one image: independent of every other image."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split), index]))


def _sample_objects(rng: np.random.Generator, rare: bool) -> tuple[int, list[int], list[int]]:
    """Scene index, present category indices (``CATEGORIES`` order) and the out-of-scene ones."""
    scene = int(rng.choice(len(SCENES), p=_SCENE_PROBABILITIES))
    q = _PRESENCE[scene]
    present = [int(k) for k in np.flatnonzero(rng.random(len(CATEGORIES)) < q)]
    intruders: list[int] = []
    if rare:
        lookalike = {name for pair in LOOKALIKES for name in pair}
        candidates = [k for k, c in enumerate(CATEGORIES) if q[k] == 0 and c.name not in lookalike]
        intruders = [int(candidates[int(rng.integers(len(candidates)))])]
    return scene, present, intruders


def sample_labels(
    count: int, *, split: str = "train", seed: int = 0, names: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The scenes and labels of the first ``count`` images of ``split``, exactly as ``make_synthetic``
    writes them, without drawing (fast: for studying the label statistics).

    Returns ``(scenes (N,) int64 indices into SCENES, labels (N, C) uint8)``, columns in ``names``
    order (default alphabetical).
    """
    names = alphabetical_names() if names is None else names
    column = [names.index(c.name) for c in CATEGORIES]
    scenes = np.zeros(count, dtype=np.int64)
    labels = np.zeros((count, len(names)), dtype=np.uint8)
    for index in range(count):
        scene, present, intruders = _sample_objects(_image_rng(seed, split, index), rare=split == "rare")
        scenes[index] = scene
        labels[index, [column[k] for k in present + intruders]] = 1
    return scenes, labels


def render_image(
    rng: np.random.Generator, scene: int, categories: list[int], image_size: int
) -> tuple[Image.Image, list[tuple[int, Box]]]:
    """Draw one scene with 1-3 instances of each category index.

    Returns the RGB image (image_size x image_size) and ``(category index, (x, y, w, h))`` per
    instance in image pixels. Large objects are drawn first so that small ones stay visible.
    """
    canvas = image_size * SUPERSAMPLE
    image = Image.new("RGB", (canvas, canvas))
    d = ImageDraw.Draw(image)
    _draw_background(d, SCENES[scene].name, canvas, rng)
    instances: list[tuple[int, Box]] = []
    for k in categories:
        for _ in range(1 + int(rng.binomial(2, 0.25))):
            instances.append((k, _place(rng, CATEGORIES[k], canvas, [box for _, box in instances])))
    instances.sort(key=lambda item: -(item[1][2] - item[1][0]) * (item[1][3] - item[1][1]))
    for k, box in instances:
        DRAW[CATEGORIES[k].shape](d, box, rng)
    image = image.reduce(SUPERSAMPLE)
    s = 1.0 / SUPERSAMPLE
    return image, [(k, (b[0] * s, b[1] * s, (b[2] - b[0]) * s, (b[3] - b[1]) * s)) for k, b in instances]


def _write_split(
    root: Path, split: str, count: int, image_size: int, seed: int, progress: bool
) -> dict[str, int]:
    from tqdm.auto import tqdm

    split_index = SPLITS.index(split)
    image_dir = root / split
    image_dir.mkdir(parents=True)
    images, annotations = [], []
    first_id = 1 + split_index * 1_000_000  # unique across splits, as in COCO
    for index in tqdm(range(count), desc=split, disable=not progress, leave=False):
        rng = _image_rng(seed, split, index)
        scene, present, intruders = _sample_objects(rng, rare=split == "rare")
        image, instances = render_image(rng, scene, sorted(present + intruders), image_size)
        image_id = first_id + index
        file_name = f"synthetic_{split}_{index:06d}.jpg"
        image.save(image_dir / file_name, "JPEG", quality=JPEG_QUALITY)
        entry = {"id": image_id, "file_name": file_name, "width": image_size, "height": image_size}
        entry["scene"] = SCENES[scene].name
        if split == "rare":
            entry["out_of_scene"] = [CATEGORIES[k].name for k in intruders]
        images.append(entry)
        for k, (x, y, w, h) in instances:
            x, y, w, h = (round(v, 2) for v in (x, y, w, h))
            annotations.append(
                {
                    "id": len(annotations) + first_id,
                    "image_id": image_id,
                    "category_id": CATEGORIES[k].id,
                    "bbox": [x, y, w, h],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                }
            )
    coco = {
        "info": {"description": f"dbdgcn_lib synthetic scenes, split {split}", "version": GENERATOR_VERSION},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in CATEGORIES],
    }
    (root / "annotations").mkdir(exist_ok=True)
    with open(root / "annotations" / f"instances_{split}.json", "w") as f:
        json.dump(coco, f, separators=(",", ":"))
    return {"images": len(images), "annotations": len(annotations)}


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def _resolve_size(size: str | SyntheticSize) -> tuple[SyntheticSize, str | None]:
    if isinstance(size, SyntheticSize):
        return size, None
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size], size


def make_synthetic(
    root: str | os.PathLike, *, size: str | SyntheticSize = "default", seed: int = 0, progress: bool = False
) -> Path:
    """Write the synthetic dataset to ``root`` and return ``root`` as a Path.

    ``size`` is ``"tiny"`` (48/16/8 images: unit tests), ``"default"`` (2000/500/300) or a
    ``SyntheticSize``; images are 128 x 128 JPEGs unless the size says otherwise. The set is built in
    a sibling temporary folder and moved into place at the end, so an interrupted run never leaves a
    half-written dataset. An existing synthetic dataset at ``root`` is replaced; any other non-empty
    folder is left alone (``SyntheticDatasetError``).
    """
    spec, size_name = _resolve_size(size)
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    target = Path(root).resolve()
    if target.exists() and any(target.iterdir()) and not (target / "generator.json").is_file():
        raise SyntheticDatasetError(
            f"{root} is not empty and holds no synthetic dataset (no generator.json); "
            "choose another --root or empty it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        counts = {}
        for split in SPLITS:
            counts[split] = _write_split(
                staging, split, getattr(spec, split), spec.image_size, seed, progress
            )
        truth = generator_truth(spec, seed, size_name)
        truth["counts"] = counts
        (staging / "generator.json").write_text(json.dumps(truth, indent=1) + "\n")
        if target.exists():
            retired = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Path(root)


def read_generator(root: str | os.PathLike) -> dict | None:
    """The parsed ``generator.json`` of a synthetic dataset, or None where there is none (or it is
    unreadable)."""
    try:
        return json.loads((Path(root) / "generator.json").read_text())
    except (OSError, ValueError):
        return None


def ensure_synthetic(
    root: str | os.PathLike | None = None, size: str | SyntheticSize = "default", *, seed: int = 0
) -> Path:
    """Return ``root`` (default ``default_data_root() / "synthetic"``), generating the dataset first
    when it is missing or was made with another size, seed or generator version."""
    root = default_data_root() / "synthetic" if root is None else Path(root)
    spec, _ = _resolve_size(size)
    truth = read_generator(root)
    if (
        truth is not None
        and truth.get("version") == GENERATOR_VERSION
        and truth.get("seed") == seed
        and truth.get("size") == asdict(spec)
    ):
        return root
    return make_synthetic(root, size=size, seed=seed)
