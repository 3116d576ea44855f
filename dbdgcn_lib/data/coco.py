"""COCO-format multi-label classification: label matrices and a torch Dataset.

Layout (MS-COCO 2014 and the synthetic set alike)::

    root/annotations/instances_{split}.json     e.g. split = train2014, val2014 / train, val, rare
    root/{split}/<file_name>                    the images named in the annotation file

An image's target has a 1 for every category with at least one annotation on it (crowd annotations
included, as in ML-GCN). Classes are in alphabetical order of their names by default (the
ML-GCN / ADD-GCN convention: on COCO 2014 ``person`` is index 49) or in COCO-id order
(``class_order="coco"``). Images are in increasing id order; images without annotations are dropped
unless ``keep_empty=True`` (COCO 2014 then has 82,081 train / 40,137 val images).

Reading instances_train2014.json takes pycocotools about 20 s, so the label table is cached in
``root/annotations/.labels_{split}.npz``, keyed by the SHA-1 of the annotation file: an edited
annotation file rebuilds it, a corrupt cache is rebuilt, and it is written to a temporary file and
renamed so an interrupted run never leaves a broken cache. A read-only dataset folder just goes
without a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pycocotools.coco import COCO

from dbdgcn_lib.data.synthetic import SPLITS as SYNTHETIC_SPLITS
from dbdgcn_lib.data.transforms import test_transform, train_transform

CLASS_ORDERS = ("alphabetical", "coco")
CACHE_FORMAT = 1


class DatasetError(Exception):
    """A dataset on disk is missing or unusable; the message says which file and what to do."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset root, an annotation file or an image folder does not exist."""


class AnnotationError(DatasetError, ValueError):
    """An annotation file is malformed or refers to an unknown category or image."""


class CorruptImageError(DatasetError, OSError):
    """An image file cannot be read or decoded."""


def annotation_file(root: str | os.PathLike, split: str) -> Path:
    """``root/annotations/instances_{split}.json``."""
    return Path(root) / "annotations" / f"instances_{split}.json"


def fetch_command(root: str | os.PathLike, split: str) -> str:
    """The command that creates ``split`` under ``root``, for error messages."""
    coco = f"python -m dbdgcn_lib data coco --root {root}"
    synthetic = f"python -m dbdgcn_lib data synthetic --root {root}"
    if split in SYNTHETIC_SPLITS or (Path(root) / "generator.json").is_file():
        return synthetic
    if split.endswith("2014"):
        return coco
    return f"{coco} (MS-COCO 2014) or {synthetic} (the embedded set)"


@dataclass(frozen=True)
class CocoLabels:
    """The label table of one split, in class order.

    ``labels`` (N, C) uint8 0/1; ``image_ids`` (N,) int64; ``file_names`` N names relative to the
    split's image folder; ``categories`` / ``supercategories`` / ``category_ids`` have C entries.
    """

    categories: list[str]
    supercategories: list[str]
    category_ids: np.ndarray
    image_ids: np.ndarray
    file_names: list[str]
    labels: np.ndarray


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _build_table(path: Path) -> dict[str, np.ndarray]:
    """Every image (empty ones too) against every category, categories in COCO-id order."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
            coco = COCO(str(path))
    except (ValueError, AssertionError, KeyError, TypeError) as err:
        raise AnnotationError(f"{path} is not a valid COCO annotation file ({err}); fetch it again") from err
    data = coco.dataset
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(f"{path} has no {key!r} list: not a COCO instances file")
    cat_ids = sorted(coco.getCatIds())
    if len(cat_ids) != len(data["categories"]):
        raise AnnotationError(f"{path} lists the same category id twice")
    img_ids = sorted(coco.getImgIds())
    column = {cat_id: k for k, cat_id in enumerate(cat_ids)}
    row = {img_id: k for k, img_id in enumerate(img_ids)}
    labels = np.zeros((len(img_ids), len(cat_ids)), dtype=np.uint8)
    for ann in data.get("annotations", []):
        if ann.get("category_id") not in column:
            raise AnnotationError(
                f"{path}: annotation {ann.get('id')} on image {ann['image_id']} has category id "
                f"{ann.get('category_id')}, which is not among the file's categories"
            )
        if ann["image_id"] not in row:
            raise AnnotationError(
                f"{path}: annotation {ann.get('id')} refers to unknown image {ann['image_id']}"
            )
        labels[row[ann["image_id"]], column[ann["category_id"]]] = 1
    cats = coco.loadCats(cat_ids)
    return {
        "category_ids": np.array(cat_ids, dtype=np.int64),
        "categories": np.array([c["name"] for c in cats], dtype=str),
        "supercategories": np.array([c.get("supercategory", "") for c in cats], dtype=str),
        "image_ids": np.array(img_ids, dtype=np.int64),
        "file_names": np.array([coco.imgs[i]["file_name"] for i in img_ids], dtype=str),
        "labels": labels,
    }


def _cache_path(path: Path, split: str) -> Path:
    return path.parent / f".labels_{split}.npz"


def _read_cache(cache: Path, key: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["key"]) != key or int(stored["format"]) != CACHE_FORMAT:
                return None
            return {name: stored[name] for name in stored.files if name not in ("key", "format")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing or corrupt: rebuild


def _write_cache(cache: Path, key: str, table: dict[str, np.ndarray]) -> None:
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), format=np.array(CACHE_FORMAT), **table)
        os.replace(tmp, cache)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        warnings.warn(
            f"could not cache the label table at {cache} ({err}); it is rebuilt each time", stacklevel=3
        )


def load_labels(
    root: str | os.PathLike,
    split: str,
    *,
    class_order: str = "alphabetical",
    keep_empty: bool = False,
    use_cache: bool = True,
) -> CocoLabels:
    """The label table of ``split`` from its annotation file alone (no images needed).

    ``class_order`` is ``"alphabetical"`` (by name; COCO 2014: person = 49) or ``"coco"`` (by
    category id). Images without annotations are dropped unless ``keep_empty``. The table is cached
    next to the annotation file (see the module docstring) unless ``use_cache=False``.
    """
    if class_order not in CLASS_ORDERS:
        raise ValueError(f"class_order must be one of {CLASS_ORDERS}, got {class_order!r}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"dataset root {root} does not exist; create it with: {fetch_command(root, split)}"
        )
    path = annotation_file(root, split)
    if not path.is_file():
        found = sorted(
            p.name[len("instances_") : -len(".json")] for p in path.parent.glob("instances_*.json")
        )
        where = f"splits here: {', '.join(found)}" if found else "no annotation files here"
        raise DatasetNotFoundError(
            f"annotation file {path} not found ({where}); fetch it with: {fetch_command(root, split)}"
        )
    table = None
    if use_cache:
        key = f"{path.stat().st_size}:{_sha1(path)}"
        cache = _cache_path(path, split)
        table = _read_cache(cache, key)
    if table is None:
        table = _build_table(path)
        if use_cache:
            _write_cache(cache, key, table)
    names = [str(n) for n in table["categories"]]
    columns = (
        sorted(range(len(names)), key=names.__getitem__)
        if class_order == "alphabetical"
        else list(range(len(names)))
    )
    labels = table["labels"][:, columns]
    rows = np.arange(len(labels)) if keep_empty else np.flatnonzero(labels.any(axis=1))
    return CocoLabels(
        categories=[names[k] for k in columns],
        supercategories=[str(table["supercategories"][k]) for k in columns],
        category_ids=table["category_ids"][columns],
        image_ids=table["image_ids"][rows],
        file_names=[str(table["file_names"][k]) for k in rows],
        labels=np.ascontiguousarray(labels[rows]),
    )


class CocoMultiLabel(torch.utils.data.Dataset):
    """A COCO-format split as multi-label classification.

    Reads ``root/annotations/instances_{split}.json`` and the images in ``root/{split}/``. Items are
    ``(image (3, H, W) float32, target (C,) float32 0/1)``; ``.labels`` (N, C) uint8, ``.categories``
    (C names in class order), ``.image_ids`` (N,) and ``.image_paths`` describe all of them.
    ``transform`` (PIL image -> tensor) defaults to ``train_transform(image_size)`` when ``train``
    else ``test_transform(image_size)``. ``class_order`` and ``keep_empty`` as in ``load_labels``.

    A corrupt image raises ``CorruptImageError`` naming the file. With ``skip_corrupt=True`` it is
    warned about, counted in ``.skipped`` (per process: DataLoader workers keep their own counts)
    and the next readable image is returned in its place, so the epoch keeps its length.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        *,
        transform: Callable | None = None,
        image_size: int = 448,
        train: bool = False,
        class_order: str = "alphabetical",
        keep_empty: bool = False,
        skip_corrupt: bool = False,
    ) -> None:
        self.root, self.split = Path(root), split
        table = load_labels(self.root, split, class_order=class_order, keep_empty=keep_empty)
        self.image_dir = self.root / split
        if not self.image_dir.is_dir():
            raise DatasetNotFoundError(
                f"image folder {self.image_dir} for split {split!r} not found (the labels are there: "
                f"dbdgcn_lib.data.load_labels reads them alone); fetch the images with: "
                f"{fetch_command(self.root, split)}"
            )
        self.categories = table.categories
        self.supercategories = table.supercategories
        self.category_ids = table.category_ids
        self.image_ids = table.image_ids
        self.image_paths = [self.image_dir / name for name in table.file_names]
        self.labels = table.labels
        self.class_order = class_order
        if transform is None:
            transform = train_transform(image_size) if train else test_transform(image_size)
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self.skipped = 0

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    def __len__(self) -> int:
        return len(self.image_paths)

    def load_image(self, index: int) -> Image.Image:
        """The RGB image at ``index``, untransformed; ``CorruptImageError`` if it cannot be decoded."""
        path = self.image_paths[index]
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            missing = isinstance(err, FileNotFoundError)
            problem = "is missing" if missing else f"cannot be read ({err})"
            raise CorruptImageError(
                f"image {path} {problem}; fetch it again with: {fetch_command(self.root, self.split)}"
            ) from err

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        for attempt in range(len(self)):
            current = (index + attempt) % len(self)
            try:
                image = self.load_image(current)
            except CorruptImageError as err:
                if not self.skip_corrupt:
                    raise
                self.skipped += 1
                warnings.warn(f"skipping: {err}", stacklevel=2)
                continue
            return self.transform(image), torch.from_numpy(self.labels[current].astype(np.float32))
        raise CorruptImageError(f"no readable image in {self.image_dir}")

    def __repr__(self) -> str:
        return (
            f"CocoMultiLabel({str(self.root)!r}, {self.split!r}: {len(self)} images, "
            f"{self.num_classes} classes, {self.class_order} order)"
        )
