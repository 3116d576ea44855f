"""Where a training crop is drawn: one rule for every input pipeline (PIL, uint8 and nvJPEG).

Training resizes an image to ``resize`` x ``resize`` (512 for 448), cuts a box out of it, resizes the
box to ``image_size`` when it is not already that size, and flips it with probability 1/2.

``crop="random"``
    An ``image_size`` square at a uniform position (the paper's "random crop 448").
``crop="multiscale"``
    ADD-GCN's and ML-GCN's ``MultiScaleCrop``: side ``int(resize * scale)`` for a scale in
    ``SCALES``, width and height scales at most ``max_distort`` steps apart, at one of 13 fixed
    positions (corners, centre, edge centres, quarter points).

``sample_augmentation`` draws the box, then the flip, from a ``random.Random``-like generator. Every
pipeline calls it with Python's ``random`` seeded per image (``training.inputs.SeededItems``), so
the three pipelines cut the same boxes and make the same flips for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

#: The scales of ``crop="multiscale"`` (ADD-GCN's released code).
SCALES = (1.0, 0.875, 0.75, 0.66, 0.5)
CROPS = ("random", "multiscale")

Box = tuple[int, int, int, int]  # (top, left, height, width) of a crop, in the resize x resize frame


def default_resize(image_size: int) -> int:
    """The train resize side for a crop of ``image_size`` (512 for 448)."""
    return round(image_size * 8 / 7)


def check_crop(crop: str) -> str:
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    return crop


def _fixed_offsets(frame: int, crop_w: int, crop_h: int) -> list[tuple[int, int]]:
    """The 13 fixed crop positions as (x, y): corners, centre, edge centres, quarter points."""
    ws, hs = (frame - crop_w) // 4, (frame - crop_h) // 4
    grid = "00 40 04 44 22 02 42 24 20 11 31 13 33".split()  # (i, j): offset (i * w_step, j * h_step)
    return [(int(a) * ws, int(b) * hs) for a, b in grid]


def sample_crop(
    rng: random.Random,
    resize: int,
    image_size: int,
    crop: str = "random",
    *,
    scales: Sequence[float] = SCALES,
    max_distort: int = 2,
) -> Box:
    """One training crop (top, left, height, width) in the ``resize`` x ``resize`` frame."""
    if check_crop(crop) == "random":
        top, left = rng.randint(0, resize - image_size), rng.randint(0, resize - image_size)
        return top, left, image_size, image_size
    sizes = [int(resize * s) for s in scales]
    sizes = [image_size if abs(s - image_size) < 3 else s for s in sizes]
    pairs = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= max_distort]
    crop_w, crop_h = rng.choice(pairs)
    left, top = rng.choice(_fixed_offsets(resize, crop_w, crop_h))
    return top, left, crop_h, crop_w


def sample_augmentation(
    rng: random.Random, resize: int, image_size: int, crop: str = "random", flip: bool = True
) -> tuple[Box, bool]:
    """``(box, flipped)`` for one training image: the crop first, then the coin for the flip."""
    box = sample_crop(rng, resize, image_size, crop)
    return box, flip and rng.random() < 0.5
