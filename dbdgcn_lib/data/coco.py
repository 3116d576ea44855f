"""COCO-format multi-label classification: label matrices and a torch Dataset.

Layout (MS-COCO 2014 and the synthetic set alike)::

    root/annotations/instances_{split}.json     e.g. split = train2014, val2014 / train, val, rare
    root/{split}/<file_name>                    the images named in the annotation file

An image's target has a 1 for every category with at least one annotation on it (crowd annotations
included, as in ML-GCN). Classes are in alphabetical order of their names by default (the
ML-GCN / ADD-GCN convention: on COCO 2014 ``person`` is index 49) or in COCO-id order
(``class_order="coco"``). Images are in increasing id order; images without annotations are dropped
unless ``keep_empty=True`` (COCO 2014 then has 82,081 train / 40,137 val images).

An annotation file is checked as it is read: anything malformed (not JSON, a missing list, an id that
is not an integer, a category or image id listed twice, two categories with one name, an annotation
on an unknown image or category, a ``file_name`` that leaves the split folder) raises
``AnnotationError``, one line naming the file and the field.

Parsing instances_train2014.json is slow, so the label table is cached in
``root/annotations/.labels_{split}.npz``, keyed by the size and SHA-1 of the annotation file: an
edited annotation file rebuilds it, a corrupt or inconsistent cache is rebuilt, and it is written to a
temporary file and renamed so an interrupted run never leaves a broken cache. The cache holds the
names exactly as the file spells them, and the class order is applied after it is read, so the
classes are the file's whatever the cache. A read-only dataset folder just goes without a cache.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import numpy as np
import torch
from PIL import Image

from dbdgcn_lib.data.decode import open_image
from dbdgcn_lib.data.errors import AnnotationError, CorruptImageError, DatasetError, DatasetNotFoundError
from dbdgcn_lib.data.synthetic import SPLITS as SYNTHETIC_SPLITS
from dbdgcn_lib.data.transforms import test_transform, train_transform
from dbdgcn_lib.utils import atomic_write

CLASS_ORDERS = ("alphabetical", "coco")
CACHE_FORMAT = 2
_MISSING = object()


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


def _is_id(value) -> bool:
    return type(value) is int and -(2**63) <= value < 2**63  # JSON true/false and 3.0 are not ids


def _describe(value, wanted: str) -> str:
    if value is _MISSING:
        return "is missing"
    shown = repr(value)
    return f"is {shown if len(shown) <= 40 else shown[:37] + '...'}, not {wanted}"


def _leaves_folder(name: str) -> bool:
    """Whether an image's ``file_name`` could point outside its split folder (or at nothing)."""
    parts = re.split(r"[\\/]", name)
    return parts[0] == "" or ".." in parts or "\x00" in name or bool(PureWindowsPath(name).drive)


def _read_annotations(path: Path, fix: str) -> CocoLabels:
    """Parse and check an annotation file: every image (empty ones too), categories in id order.

    ``fix`` ends each error message (what to do). Raises ``AnnotationError``.
    """

    def error(field: str, problem: str) -> AnnotationError:
        return AnnotationError(f"{path}: {field} {problem}; {fix}")

    try:
        data = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as err:  # bad JSON, bad UTF-8, absurd nesting
        reason = " ".join(str(err).split())
        raise AnnotationError(f"{path} is not valid JSON ({reason}); {fix}") from None
    if not isinstance(data, dict):
        raise error("the top level", f"is a {type(data).__name__}, not an object: not a COCO instances file")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise error(repr(key), "is missing: not a COCO instances file")
        if not isinstance(data[key], list):
            raise error(repr(key), f"is a {type(data[key]).__name__}, not a list")
    if not data["categories"]:
        raise error("'categories'", "is empty: a dataset needs at least one category")

    categories: dict[int, tuple[str, str]] = {}  # id -> (name, supercategory)
    first_with_id: dict[int, int] = {}
    first_with_name: dict[str, int] = {}
    for k, cat in enumerate(data["categories"]):
        where = f"categories[{k}]"
        if not isinstance(cat, dict):
            raise error(where, _describe(cat, "an object"))
        cat_id, name = cat.get("id", _MISSING), cat.get("name", _MISSING)
        supercategory = cat.get("supercategory", "")
        if not _is_id(cat_id):
            raise error(f"{where}.id", _describe(cat_id, "an integer"))
        if not isinstance(name, str) or not name:
            raise error(f"{where}.name", _describe(name, "a non-empty string"))
        if not isinstance(supercategory, str):
            raise error(f"{where}.supercategory", _describe(supercategory, "a string"))
        if cat_id in first_with_id:
            raise error(f"{where}.id", f"{cat_id} repeats categories[{first_with_id[cat_id]}].id")
        if name in first_with_name:
            raise error(f"{where}.name", f"{name!r} repeats categories[{first_with_name[name]}].name")
        first_with_id[cat_id], first_with_name[name] = k, k
        categories[cat_id] = (name, supercategory)

    images: dict[int, str] = {}  # id -> file_name
    first_image: dict[int, int] = {}
    for k, image in enumerate(data["images"]):
        where = f"images[{k}]"
        if not isinstance(image, dict):
            raise error(where, _describe(image, "an object"))
        image_id, file_name = image.get("id", _MISSING), image.get("file_name", _MISSING)
        if not _is_id(image_id):
            raise error(f"{where}.id", _describe(image_id, "an integer"))
        if image_id in first_image:
            raise error(f"{where}.id", f"{image_id} repeats images[{first_image[image_id]}].id")
        if not isinstance(file_name, str):
            raise error(f"{where}.file_name", _describe(file_name, "a string"))
        if _leaves_folder(file_name):
            raise error(
                f"{where}.file_name",
                f"{file_name!r} is not a path inside the split folder (relative, without '..')",
            )
        first_image[image_id] = k
        images[image_id] = file_name

    category_ids, image_ids = sorted(categories), sorted(images)
    column = {cat_id: j for j, cat_id in enumerate(category_ids)}
    row = {image_id: i for i, image_id in enumerate(image_ids)}
    rows, columns = [], []
    for k, ann in enumerate(data["annotations"]):
        where = f"annotations[{k}]"
        if not isinstance(ann, dict):
            raise error(where, _describe(ann, "an object"))
        for field, index, listed in (("image_id", row, "images"), ("category_id", column, "categories")):
            value = ann.get(field, _MISSING)
            if not _is_id(value):
                raise error(f"{where}.{field}", _describe(value, "an integer"))
            if value not in index:
                raise error(f"{where}.{field}", f"is {value}, which is not among the file's {listed}")
        rows.append(row[ann["image_id"]])
        columns.append(column[ann["category_id"]])
    labels = np.zeros((len(image_ids), len(category_ids)), dtype=np.uint8)
    labels[rows, columns] = 1
    return CocoLabels(
        categories=[categories[c][0] for c in category_ids],
        supercategories=[categories[c][1] for c in category_ids],
        category_ids=np.array(category_ids, dtype=np.int64),
        image_ids=np.array(image_ids, dtype=np.int64),
        file_names=[images[i] for i in image_ids],
        labels=labels,
    )


def _cache_path(path: Path, split: str) -> Path:
    return path.parent / f".labels_{split}.npz"


def _read_cache(cache: Path, key: str) -> CocoLabels | None:
    """The cached table when ``cache`` holds ``key`` in this format and is whole, else None (rebuild)."""
    if not cache.is_file():
        return None  # missing (or not a file, which np.load could block on)
    try:
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["key"]) != key or int(stored["format"]) != CACHE_FORMAT:
                return None
            texts = json.loads(stored["texts"].tobytes())
            table = CocoLabels(
                categories=texts["categories"],
                supercategories=texts["supercategories"],
                category_ids=stored["category_ids"],
                image_ids=stored["image_ids"],
                file_names=texts["file_names"],
                labels=stored["labels"],
            )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None  # missing or corrupt
    n, c = len(table.image_ids), len(table.category_ids)
    whole = (
        table.labels.dtype == np.uint8
        and table.labels.shape == (n, c)
        and table.image_ids.dtype == table.category_ids.dtype == np.int64
        and len(table.categories) == len(table.supercategories) == c
        and len(table.file_names) == n
    )
    return table if whole else None


def _write_cache(cache: Path, key: str, table: CocoLabels) -> None:
    """Store ``table`` under ``key``; a read-only folder goes without, other failures warn."""
    texts = {
        "categories": table.categories,
        "supercategories": table.supercategories,
        "file_names": table.file_names,
    }
    try:
        with atomic_write(cache, "wb", durable=False) as f:
            np.savez(
                f,
                key=np.array(key),
                format=np.array(CACHE_FORMAT),
                texts=np.frombuffer(json.dumps(texts).encode(), dtype=np.uint8),
                category_ids=table.category_ids,
                image_ids=table.image_ids,
                labels=table.labels,
            )
    except OSError as err:
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return  # a read-only dataset: read the annotation file each time, as promised
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
            f"dataset root {root} does not exist; if the dataset was moved, point --data at its new "
            f"place, or create it with: {fetch_command(root, split)}"
        )
    path = annotation_file(root, split)
    if path.exists() and not path.is_file():  # a named pipe would block the read forever
        raise DatasetError(
            f"annotation file {path} is not a regular file; put the JSON file there, or fetch it with: "
            f"{fetch_command(root, split)}"
        )
    if not path.is_file():
        found = sorted(
            p.name[len("instances_") : -len(".json")] for p in path.parent.glob("instances_*.json")
        )
        where = f"splits here: {', '.join(found)}" if found else "no annotation files here"
        embedded = (root / "generator.json").is_file()  # regenerating makes only the embedded splits
        fix = (
            ""
            if embedded and split not in SYNTHETIC_SPLITS
            else f"fetch it with: {fetch_command(root, split)}"
        )
        if found:
            fix = "name one of these splits" + (f", or {fix}" if fix else "")
        raise DatasetNotFoundError(f"annotation file {path} not found ({where}); {fix}")
    fix = f"correct the file or fetch it again with: {fetch_command(root, split)}"
    try:
        if not use_cache:
            table = _read_annotations(path, fix)
        else:
            key = f"{path.stat().st_size}:{_sha1(path)}"
            cache = _cache_path(path, split)
            table = _read_cache(cache, key)
            if table is None:
                table = _read_annotations(path, fix)
                _write_cache(cache, key, table)
    except OSError as err:
        raise DatasetError(
            f"annotation file {path} cannot be read ({err.strerror or err}); check its permissions or "
            f"fetch it again with: {fetch_command(root, split)}"
        ) from err
    columns = (
        sorted(range(len(table.categories)), key=table.categories.__getitem__)
        if class_order == "alphabetical"
        else list(range(len(table.categories)))
    )
    labels = table.labels[:, columns]
    rows = np.arange(len(labels)) if keep_empty else np.flatnonzero(labels.any(axis=1))
    return CocoLabels(
        categories=[table.categories[k] for k in columns],
        supercategories=[table.supercategories[k] for k in columns],
        category_ids=table.category_ids[columns],
        image_ids=table.image_ids[rows],
        file_names=[table.file_names[k] for k in rows],
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
        """The RGB image at ``index``, untransformed (``decode.open_image``); ``CorruptImageError``
        naming the file if it cannot be read or decoded."""
        return open_image(self.image_paths[index], refetch=self.refetch)

    @property
    def refetch(self) -> str:
        """What to do about a missing or damaged image of this split (the end of its error message)."""
        return f"fetch it again with: {fetch_command(self.root, self.split)}"

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
