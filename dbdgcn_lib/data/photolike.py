"""Photo-like JPEGs and a COCO-format dataset of them, for timing without COCO on disk."""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from dbdgcn_lib.data.coco import annotation_file
from dbdgcn_lib.data.image_files import random_targets
from dbdgcn_lib.utils import atomic_write, write_text_atomic


def _octave_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth noise: a (cells x cells*w/h) random grid upsampled bilinearly to (h, w, 3)."""
    from PIL import Image

    gh, gw = max(2, cells), max(2, int(round(cells * w / h)))
    grid = rng.normal(0.0, 1.0, (gh, gw, 3)).astype(np.float32)
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(grid[..., c])).resize((w, h), Image.BILINEAR))
        for c in range(3)
    ]
    return np.stack(chans, axis=-1)


def photo_like_image(seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A (H, W, 3) uint8 image with a photograph's mix of smooth regions, edges and texture.

    Colour gradients and multi-octave noise for shading, random filled shapes for object edges, and
    fine grain for texture: JPEG at quality 90 then takes about COCO's 160 KB for 640 x 480, and
    decodes at about the speed of a real photo (decode time follows the entropy-coded size).
    """
    from PIL import Image, ImageDraw

    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1, c2 = (rng.uniform(30, 225, 3).astype(np.float32) for _ in range(3))
    t, u = xx[..., None] / w, yy[..., None] / h
    img = c0 * (1 - t) * (1 - u) + c1 * t + c2 * u * (1 - t)
    img = img + 28 * _octave_noise(rng, h, w, 3) + 14 * _octave_noise(rng, h, w, 12)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(6, 14))):
        x0, y0 = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
        x1, y1 = x0 + rng.uniform(0.05, 0.5) * w, y0 + rng.uniform(0.05, 0.5) * h
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([x0, y0, x1, y1], fill=fill)
        elif kind == 1:
            draw.rectangle([x0, y0, x1, y1], fill=fill)
        else:
            pts = [
                (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)))
                for _ in range(int(rng.integers(3, 7)))
            ]
            draw.polygon(pts, fill=fill)
    img = np.asarray(canvas).astype(np.float32)
    for amplitude, cells in ((15, h // 32), (14, h // 8), (12, h // 4)):
        img += amplitude * _octave_noise(rng, h, w, max(2, cells))
    img += 16.0 * rng.standard_normal((h, w, 3), dtype=np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_one(args: tuple[str, int, tuple[int, int], int]) -> int:
    from PIL import Image

    path, seed, size, quality = args
    with atomic_write(path, "wb", durable=False) as f:
        Image.fromarray(photo_like_image(seed, size)).save(f, format="JPEG", quality=quality)
    return os.path.getsize(path)


def make_jpeg_folder(
    path: str | os.PathLike,
    n: int,
    size: tuple[int, int] = (640, 480),
    *,
    quality: int = 90,
    seed: int = 0,
    workers: int | None = None,
) -> list[Path]:
    """Write ``n`` photo-like JPEGs (``size`` = (width, height)) to ``path``; return their paths.

    Files already there (same names) are kept, so a second call is free. Names follow COCO's
    (``COCO_bench_000000000001.jpg``). Written in parallel with ``workers`` processes (default: all
    cores); about 50 ms of CPU per 640 x 480 image (measured on the development machine).
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"COCO_bench_{i + 1:012d}.jpg" for i in range(n)]
    todo = [
        (str(p), seed * 1_000_003 + i, tuple(size), quality) for i, p in enumerate(paths) if not p.is_file()
    ]
    if todo:
        workers = workers if workers is not None else (os.cpu_count() or 1)
        workers = max(1, min(workers, math.ceil(len(todo) / 8)))
        if workers == 1:
            for job in todo:
                _write_one(job)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                list(pool.map(_write_one, todo, chunksize=8))
    return paths


def make_coco_like(
    root: str | os.PathLike,
    splits: dict[str, int],
    *,
    num_classes: int = 80,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    workers: int | None = None,
) -> Path:
    """A COCO-format dataset of photo-like JPEGs with random labels, for timing the real trainer.

    ``splits`` maps split names to image counts, e.g. ``{"train": 2048, "val": 512}``: writes
    ``root/<split>/*.jpg`` (``make_jpeg_folder``) and ``root/annotations/instances_<split>.json``
    with ``num_classes`` categories (``class_00`` ...) and about 2.9 labels per image, at least one
    (``random_targets``). Nothing can be learned from it: it measures speed, not accuracy. Files
    already there are kept; annotation files are written atomically.
    """
    root = Path(root)
    categories = [
        {"id": k + 1, "name": f"class_{k:02d}", "supercategory": "bench"} for k in range(num_classes)
    ]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for offset, (split, n) in enumerate(splits.items()):
        paths = make_jpeg_folder(root / split, n, size, seed=seed + 7919 * offset, workers=workers)
        labels = random_targets(n, num_classes, seed=seed + offset)
        labels[labels.sum(1) == 0, 0] = 1  # every image has a label, as the trainer's splits do
        images = [
            {"id": i + 1, "file_name": p.name, "width": size[0], "height": size[1]}
            for i, p in enumerate(paths)
        ]
        rows, cols = np.nonzero(labels)
        annotations = [
            {"id": a + 1, "image_id": int(i) + 1, "category_id": int(c) + 1, "bbox": [0, 0, 1, 1], "area": 1}
            for a, (i, c) in enumerate(zip(rows, cols))
        ]
        coco = {"images": images, "annotations": annotations, "categories": categories}
        write_text_atomic(annotation_file(root, split), json.dumps(coco), durable=False)
    return root
