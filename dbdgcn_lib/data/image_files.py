"""Datasets over image files, one per input pipeline, all with the same crops and flips.

``ImageFiles`` is a list of paths with their labels (a folder of JPEGs, or files given to
``predict``). ``PilImages`` opens each with PIL and applies a transform (the ``pil`` pipeline for
files that are not a COCO split); ``JpegDecodeDataset`` decodes with libjpeg-turbo and augments uint8
tensors in the worker (the ``uint8`` pipeline; normalisation happens on the device);
``JpegBytesDataset`` only reads the bytes (the ``nvjpeg`` pipeline decodes whole batches on the GPU).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from dbdgcn_lib.data.constants import JPEG_SUFFIXES
from dbdgcn_lib.data.crops import Box, check_crop, default_resize, sample_augmentation
from dbdgcn_lib.data.decode import REFETCH, decode_file, open_image, read_image_file


def list_jpegs(root: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The JPEG files directly in ``root`` (COCO's ``val2014/`` layout), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}")
    paths = sorted(p for p in root.iterdir() if p.suffix in JPEG_SUFFIXES and p.is_file())
    if not paths:
        raise FileNotFoundError(f"no .jpg files in {root}")
    return paths[:limit] if limit else paths


def random_targets(n: int, num_classes: int = 80, *, positives: float = 2.9, seed: int = 0) -> np.ndarray:
    """(n, C) 0/1 float32 targets with about ``positives`` labels per image (COCO's mean is 2.9)."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, num_classes)) < positives / num_classes).astype(np.float32)


@dataclass
class ImageFiles:
    """Image paths and their (N, C) 0/1 labels: what the ``uint8`` and ``nvjpeg`` pipelines read (a
    ``CocoMultiLabel`` has both attributes too)."""

    image_paths: list[Path]
    labels: np.ndarray

    @classmethod
    def from_folder(
        cls, root, *, limit: int | None = None, num_classes: int = 80, seed: int = 0
    ) -> ImageFiles:
        """Every JPEG in ``root`` with random labels (for throughput: the labels do not matter)."""
        paths = list_jpegs(root, limit)
        return cls(paths, random_targets(len(paths), num_classes, seed=seed))


class PilImages(Dataset):
    """Items ``(transform(PIL RGB image), target (C,) float32)`` for ``paths`` and ``labels`` (N, C);
    a file that cannot be read raises ``CorruptImageError`` naming it (``decode.open_image``)."""

    def __init__(self, paths: Sequence[str | os.PathLike], labels, transform):
        self.paths, self.transform = [Path(p) for p in paths], transform
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        return self.transform(open_image(self.paths[index])), self.labels[index]


class _PathsTargets(Dataset):
    """Paths and (N, C) targets; ``train=True`` draws each item's crop and flip (``sample_augmentation``)
    from Python's ``random``, which the training loader seeds per image. ``refetch`` ends the message
    about a missing or damaged file (a COCO split's says which command fetches it)."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        targets=None,
        num_classes: int = 80,
        *,
        image_size: int = 448,
        train: bool = False,
        resize: int | None = None,
        crop: str = "random",
        flip: bool = True,
        refetch: str = REFETCH,
    ):
        self.paths, self.refetch = [str(p) for p in paths], refetch
        if targets is None:
            targets = random_targets(len(self.paths), num_classes)
        targets = torch.as_tensor(np.asarray(targets), dtype=torch.float32)
        if targets.shape[0] != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {targets.shape[0]} targets")
        self.targets = targets
        self.image_size, self.train, self.crop, self.flip = image_size, train, check_crop(crop), flip
        self.resize = resize or default_resize(image_size)

    def __len__(self) -> int:
        return len(self.paths)

    def augmentation(self) -> tuple[Box | None, bool]:
        """This item's crop box and flip (None, False for evaluation)."""
        if not self.train:
            return None, False
        return sample_augmentation(random, self.resize, self.image_size, self.crop, self.flip)


class JpegBytesDataset(_PathsTargets):
    """Items ``(bytes (N,) uint8, target (C,) float32, path, box, flip)``: the worker only reads the file
    and draws the augmentation; ``GpuBatchTransform`` decodes and augments the batch on the device
    (a file that is not a JPEG, such as a PNG named ``.jpg``, is decoded on the CPU)."""

    def __getitem__(self, index: int):
        data = read_image_file(self.paths[index], refetch=self.refetch)
        box, flip = self.augmentation()
        return data, self.targets[index], self.paths[index], box, flip


def collate_bytes(batch: Sequence[tuple]) -> tuple[list[torch.Tensor], torch.Tensor, list, list, list]:
    """``JpegBytesDataset`` items -> ``(byte tensors, targets (B, C), paths, boxes, flips)``: the byte
    tensors stay a list (they differ in length)."""
    data, targets, paths, boxes, flips = zip(*batch)
    return list(data), torch.stack(targets), list(paths), list(boxes), list(flips)


class JpegDecodeDataset(_PathsTargets):
    """Items ``(image (3, S, S) uint8, target)``: decoded and augmented in the CPU worker.

    libjpeg-turbo through ``torchvision.io.decode_image`` (other formats too) and
    ``transforms.v2.functional`` on uint8 (antialiased bilinear resize, torch's vectorised uint8
    kernel): several times the speed of PIL + float transforms. The same steps as
    ``GpuBatchTransform``; normalisation is left to ``normalize_batch`` on the device. A file that
    cannot be read or decoded raises ``CorruptImageError`` naming it.
    """

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.transforms.v2 import functional as TF

        image = decode_file(self.paths[index], refetch=self.refetch)
        s, r = self.image_size, self.resize
        box, flip = self.augmentation()
        if box is None:
            image = TF.resize(image, [s, s], antialias=True)
        else:
            top, left, h, w = box
            image = TF.resize(image, [r, r], antialias=True)
            if (h, w) == (s, s):
                image = TF.crop(image, top, left, h, w)
            else:
                image = TF.resized_crop(image, top, left, h, w, [s, s], antialias=True)
            if flip:
                image = TF.horizontal_flip(image)
        return image.contiguous(), self.targets[index]
