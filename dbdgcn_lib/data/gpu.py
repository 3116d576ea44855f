"""Fast input paths: JPEG bytes in, normalised ``channels_last`` batches out, on the GPU.

At 448 px one CPU core decodes and augments about 113 COCO images a second with PIL (SPEC section 5),
while a GPU trains DB-DGCN at over 1,000: the input pipeline, not the model, sets the pace unless the
work moves. This module offers two ways to feed the card, both with the augmentation of
``dbdgcn_lib.data.train_transform`` (resize to 512 x 512, random 448 crop, horizontal flip; or
ML-GCN's multi-scale crop with ``crop="multiscale"``) and of ``test_transform`` (resize to 448 x 448):

``loader="gpu"``
    DataLoader workers only read files (``JpegBytesDataset`` + ``collate_bytes``); the main process
    decodes the whole batch at once with nvJPEG (``torchvision.io.decode_jpeg(list, device="cuda")``)
    and resizes, crops, flips and normalises on the GPU (``GpuBatchTransform``).
``loader="cpu"``
    Workers decode with libjpeg-turbo (``decode_jpeg`` on the CPU) and augment *uint8* tensors with
    ``transforms.v2`` (``JpegDecodeDataset``); the batch crosses PCIe as uint8 (4x fewer bytes than
    float32) and ``normalize_batch`` converts and normalises it on the GPU.

``DevicePrefetcher`` stages batch i+1 on a side CUDA stream while step i runs. Every function also
runs with ``device="cpu"``, which is how the tests compare the paths with the PIL transforms (equal
up to a grey level of interpolation rounding). Crops are drawn on the host (Python ``random``), so
nothing here waits for the GPU. ``make_jpeg_folder`` writes COCO-like JPEGs for benchmarks.
"""

from __future__ import annotations

import math
import os
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, RandomSampler

from dbdgcn_lib.data.coco import CorruptImageError, annotation_file
from dbdgcn_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD, default_resize

#: ML-GCN's / ADD-GCN's MultiScaleCrop: crop side = scale x 512 for each scale, aspect distortion <= 2 steps.
SCALES = (1.0, 0.875, 0.75, 0.66, 0.5)
JPEG_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG")

Box = tuple[int, int, int, int]  # (top, left, height, width) of a crop, in the resize x resize frame


# --------------------------------------------------------------------------------------------------
# bytes and decoding
# --------------------------------------------------------------------------------------------------
@contextmanager
def _quiet_torchvision_io():
    """torchvision 0.29 deprecates its image codecs (in favour of TorchCodec) with a warning per call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io.*")
        warnings.filterwarnings("ignore", message=r".*(TorchCodec|decoding and encoding capabilities).*")
        yield


def read_jpeg_bytes(path: str | os.PathLike) -> torch.Tensor:
    """The file's bytes as a 1-D uint8 tensor: what ``torchvision.io.read_file`` returns.

    Read with plain Python so that it keeps working once torchvision drops its deprecated codecs.
    """
    return torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8)


def decode_jpegs(data: Sequence[torch.Tensor], device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """Decode a list of JPEG byte tensors to RGB uint8 (3, H, W) tensors on ``device``.

    On CUDA the whole list goes to nvJPEG in one batched call. A batch that nvJPEG refuses (a CMYK or
    otherwise unusual file; COCO has a few) is decoded again image by image, and an image the GPU
    cannot decode at all is decoded on the CPU and moved, so one odd file never stops training.
    On the CPU any format torchvision reads (JPEG, PNG, ...) is accepted. Grayscale JPEGs (about 1%
    of COCO) come out as 3 identical channels.
    """
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    device = torch.device(device)
    data = list(data)
    if not data:
        return []
    with _quiet_torchvision_io():
        if device.type != "cuda":
            return [decode_image(d, mode=ImageReadMode.RGB) for d in data]
        try:
            return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
        except Exception:  # noqa: BLE001 - nvJPEG reports a refused file as RuntimeError, versions differ
            out = []
            for d in data:
                try:
                    out.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=device))
                except Exception:  # noqa: BLE001
                    out.append(decode_image(d, mode=ImageReadMode.RGB).to(device))
            return out


def read_image_file(path: str | os.PathLike, *, check_jpeg: bool = False) -> torch.Tensor:
    """``read_jpeg_bytes(path)``, or ``CorruptImageError`` naming the file when it is missing, empty or
    (``check_jpeg``) does not start with the JPEG marker: nvJPEG's own error would not say which file."""
    path = Path(path)
    try:
        data = read_jpeg_bytes(path)
    except OSError as err:
        raise CorruptImageError(f"image {path} cannot be read ({err})") from err
    if data.numel() < 4 or (check_jpeg and not (data[0] == 0xFF and data[1] == 0xD8)):
        raise CorruptImageError(f"image {path} is empty or not a JPEG file; fetch it again")
    return data


def decode_file(path: str | os.PathLike) -> torch.Tensor:
    """The image file at ``path`` as RGB uint8 (3, H, W) on the CPU; ``CorruptImageError`` naming the
    file when it cannot be decoded."""
    data = read_image_file(path)
    try:
        return decode_jpegs([data])[0]
    except RuntimeError as err:
        raise CorruptImageError(f"image {path} cannot be decoded ({err}); fetch it again") from err


# --------------------------------------------------------------------------------------------------
# augmentation (crops drawn on the host with Python's random: no GPU synchronisation)
# --------------------------------------------------------------------------------------------------
def _fixed_offsets(frame: int, crop_w: int, crop_h: int) -> list[tuple[int, int]]:
    """ML-GCN's 13 fixed crop positions (corners, centre, edge centres, quarter points) as (x, y)."""
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
    """One training crop (top, left, height, width) in the ``resize`` x ``resize`` frame.

    ``crop="random"``: an ``image_size`` square at a uniform position, as
    ``dbdgcn_lib.data.train_transform`` does (``Resize((r, r))`` then ``RandomCrop(s)``).
    ``crop="multiscale"``: ML-GCN's ``MultiScaleCrop`` (side ``int(resize * scale)`` per scale, width
    and height scales at most ``max_distort`` steps apart, one of 13 fixed positions); the crop is
    resized to ``image_size`` afterwards.
    """
    if crop == "random":
        top, left = rng.randint(0, resize - image_size), rng.randint(0, resize - image_size)
        return top, left, image_size, image_size
    if crop != "multiscale":
        raise ValueError(f"crop must be 'random' or 'multiscale', got {crop!r}")
    sizes = [int(resize * s) for s in scales]
    sizes = [image_size if abs(s - image_size) < 3 else s for s in sizes]
    pairs = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= max_distort]
    crop_w, crop_h = rng.choice(pairs)
    left, top = rng.choice(_fixed_offsets(resize, crop_w, crop_h))
    return top, left, crop_h, crop_w


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(3, H, W) float -> (3, *size), bilinear with antialias (what PIL and ``Resize`` do)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]


def augment_image(
    image: torch.Tensor,
    image_size: int,
    *,
    resize: int | None = None,
    box: Box | None = None,
    flip: bool = False,
) -> torch.Tensor:
    """uint8 or float (3, H, W), values 0..255 -> float32 (3, S, S), still 0..255, on the image's device.

    ``box=None`` (evaluation): resize to S x S. With a ``box`` (training): resize to ``resize`` x
    ``resize``, cut the box, resize it to S x S if it is not already, flip if asked: the same steps
    as the CPU transforms, so the two paths agree up to rounding.
    """
    x = image.float()
    if box is None:
        x = _resize(x, (image_size, image_size))
    else:
        r = resize or default_resize(image_size)
        top, left, h, w = box
        x = _resize(_resize(x, (r, r))[:, top : top + h, left : left + w], (image_size, image_size))
    return x.flip(-1) if flip else x


def normalize_batch(
    x: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    *,
    channels_last: bool = True,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """(B, 3, H, W) with values in 0..255 (uint8 or float) -> ``(x / 255 - mean) / std`` in ``dtype``.

    Runs where ``x`` is (on the GPU for both loaders). ``channels_last`` lays the result out NHWC, the
    layout cuDNN's bf16 convolutions want, so the first convolution needs no transpose.
    """
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x = x.to(dtype) if x.dtype != dtype else x.clone()
    m, inv = _norm_constants(x.device, dtype, tuple(mean), tuple(std))
    return x.sub_(m).mul_(inv)


_NORM_CACHE: dict = {}


def _norm_constants(device: torch.device, dtype: torch.dtype, mean: tuple, std: tuple):
    """255 * mean and 1 / (255 * std) as (1, 3, 1, 1) tensors, made once per device: a fresh
    ``torch.tensor(..., device="cuda")`` per batch would be a small host-to-device copy each time."""
    key = (str(device), dtype, mean, std)
    if key not in _NORM_CACHE:
        m = torch.tensor([255.0 * v for v in mean], dtype=torch.float64).view(1, -1, 1, 1)
        inv = torch.tensor([1.0 / (255.0 * v) for v in std], dtype=torch.float64).view(1, -1, 1, 1)
        _NORM_CACHE[key] = (m.to(device=device, dtype=dtype), inv.to(device=device, dtype=dtype))
    return _NORM_CACHE[key]


class GpuBatchTransform:
    """Decode + augment + normalise a whole batch on ``device`` (CUDA: nvJPEG and GPU kernels).

    ``transform(list_of_byte_tensors)`` -> (B, 3, S, S) float, normalised, ``channels_last``.
    ``train=True``: resize to ``resize`` (default 512 for 448), crop (``sample_crop``: ``"random"`` as
    ``train_transform`` does, or ML-GCN's ``"multiscale"``), flip with probability 0.5;
    ``train=False``: the whole image resized to S x S, as ``test_transform``. ``boxes`` / ``flips``
    may be passed to fix the randomness (tests compare against the CPU transforms this way).
    ``dtype=torch.bfloat16`` halves the bytes written when the model runs under bf16 autocast.
    """

    def __init__(
        self,
        image_size: int = 448,
        *,
        train: bool = False,
        resize: int | None = None,
        crop: str = "random",
        flip: bool = True,
        device: str | torch.device = "cuda",
        channels_last: bool = True,
        dtype: torch.dtype = torch.float32,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        seed: int | None = None,
    ):
        self.image_size, self.train, self.crop, self.flip = image_size, train, crop, flip
        self.resize = resize or default_resize(image_size)
        self.device, self.channels_last, self.dtype = torch.device(device), channels_last, dtype
        self.mean, self.std = tuple(mean), tuple(std)
        self.rng = random.Random(seed)

    def sample(self, n: int) -> tuple[list[Box | None], list[bool]]:
        """Crop boxes (None for evaluation) and flips for ``n`` images."""
        if not self.train:
            return [None] * n, [False] * n
        boxes = [sample_crop(self.rng, self.resize, self.image_size, self.crop) for _ in range(n)]
        return boxes, [self.flip and self.rng.random() < 0.5 for _ in range(n)]

    def __call__(
        self,
        data: Sequence[torch.Tensor],
        *,
        boxes: Sequence[Box | None] | None = None,
        flips: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        return self.augment(decode_jpegs(data, self.device), boxes=boxes, flips=flips)

    def augment(
        self,
        images: Sequence[torch.Tensor],
        *,
        boxes: Sequence[Box | None] | None = None,
        flips: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        """Decoded uint8 (3, H, W) images (any sizes) -> the normalised batch."""
        n, s = len(images), self.image_size
        drawn_boxes, drawn_flips = self.sample(n)
        boxes = drawn_boxes if boxes is None else list(boxes)
        flips = drawn_flips if flips is None else list(flips)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        out = torch.empty((n, 3, s, s), device=self.device, dtype=torch.float32, memory_format=fmt)
        for i, (image, box, flip) in enumerate(zip(images, boxes, flips)):
            image = image.to(self.device, non_blocking=True)
            if image.shape[0] != 3:  # a decoder that ignored mode=RGB: grey -> 3 channels, drop alpha
                image = image[:1].expand(3, -1, -1) if image.shape[0] < 3 else image[:3]
            out[i].copy_(augment_image(image, s, resize=self.resize, box=box, flip=flip))
        return normalize_batch(out, self.mean, self.std, channels_last=self.channels_last, dtype=self.dtype)


# --------------------------------------------------------------------------------------------------
# datasets and loaders
# --------------------------------------------------------------------------------------------------
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


class _PathsTargets(Dataset):
    def __init__(self, paths: Sequence[str | os.PathLike], targets=None, num_classes: int = 80):
        self.paths = [str(p) for p in paths]
        if targets is None:
            targets = random_targets(len(self.paths), num_classes)
        targets = torch.as_tensor(np.asarray(targets), dtype=torch.float32)
        if targets.shape[0] != len(self.paths):
            raise ValueError(f"{len(self.paths)} paths but {targets.shape[0]} targets")
        self.targets = targets

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def from_folder(cls, root, *, limit: int | None = None, num_classes: int = 80, **kwargs):
        """Every JPEG in ``root`` with random targets (for throughput: the labels do not matter)."""
        paths = list_jpegs(root, limit)
        return cls(paths, random_targets(len(paths), num_classes), **kwargs)

    @classmethod
    def from_coco(cls, dataset, **kwargs):
        """Paths and labels of a ``CocoMultiLabel`` (its ``.image_paths`` and ``.labels``)."""
        return cls(dataset.image_paths, dataset.labels, **kwargs)


class JpegBytesDataset(_PathsTargets):
    """Items ``(bytes (N,) uint8, target (C,) float32)``: the GPU loader's workers only read files."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return read_image_file(self.paths[index], check_jpeg=True), self.targets[index]


def collate_bytes(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Keep the byte tensors as a list (they differ in length); stack the targets."""
    return [b for b, _ in batch], torch.stack([t for _, t in batch])


class JpegDecodeDataset(_PathsTargets):
    """Items ``(image (3, S, S) uint8, target)``: decoded and augmented in the CPU worker.

    libjpeg-turbo through ``torchvision.io.decode_image`` (other formats too) and
    ``transforms.v2.functional`` on uint8 (antialiased bilinear resize, torch's vectorised uint8
    kernel): about 4x the speed of PIL + float transforms (SPEC section 5). The same steps as
    ``GpuBatchTransform``; normalisation is left to ``normalize_batch`` on the GPU. A file that
    cannot be read or decoded raises ``CorruptImageError`` naming it.
    """

    def __init__(
        self,
        paths,
        targets=None,
        num_classes: int = 80,
        *,
        image_size: int = 448,
        train: bool = False,
        resize: int | None = None,
        crop: str = "random",
        flip: bool = True,
    ):
        super().__init__(paths, targets, num_classes)
        self.image_size, self.train, self.crop, self.flip = image_size, train, crop, flip
        self.resize = resize or default_resize(image_size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.transforms.v2 import functional as TF

        image = decode_file(self.paths[index])
        s, r = self.image_size, self.resize
        if not self.train:
            image = TF.resize(image, [s, s], antialias=True)
        else:
            top, left, h, w = sample_crop(random, r, s, self.crop)  # Python's random (SeededItems seeds it)
            image = TF.resize(image, [r, r], antialias=True)
            if (h, w) == (s, s):
                image = TF.crop(image, top, left, h, w)
            else:
                image = TF.resized_crop(image, top, left, h, w, [s, s], antialias=True)
            if self.flip and random.random() < 0.5:
                image = TF.horizontal_flip(image)
        return image.contiguous(), self.targets[index]


def make_jpeg_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    workers: int = 4,
    infinite: bool = True,
    pin_memory: bool = False,
    prefetch_factor: int = 2,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader for either dataset above (``collate_bytes`` for ``JpegBytesDataset``).

    ``infinite=True`` samples with replacement forever: a benchmark never pays for a new epoch's
    worker start-up. Batches are always full (``drop_last``), so a compiled model sees one shape.
    """
    sampler = None
    if infinite:
        gen = torch.Generator().manual_seed(seed)
        sampler = RandomSampler(dataset, replacement=True, num_samples=2**31 - 1, generator=gen)
    collate = collate_bytes if isinstance(dataset, JpegBytesDataset) else None
    kwargs = {}
    if workers > 0:
        kwargs = {"persistent_workers": True, "prefetch_factor": prefetch_factor}
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False if infinite else True,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=True,
        **kwargs,
    )


class DevicePrefetcher:
    """Iterate ``loader`` and turn each batch into device tensors with ``transform(batch) -> (x, y)``.

    On CUDA each batch is transformed on a side stream, and the next one is staged right after the
    current one is handed out, i.e. after the caller has queued its step on the main stream: the
    decoding of batch i+1 then overlaps training step i instead of following it. The tensors are
    recorded on the consuming stream, so the caching allocator never reuses them too early.
    """

    def __init__(
        self, loader: Iterable, transform: Callable, device: str | torch.device, *, overlap: bool = True
    ):
        self.loader, self.transform, self.device = loader, transform, torch.device(device)
        self.overlap = overlap and self.device.type == "cuda"

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        it = iter(self.loader)
        stream = torch.cuda.Stream(self.device) if self.overlap else None

        def stage():
            batch = next(it)
            if stream is None:
                return self.transform(batch)
            with torch.cuda.stream(stream):
                return self.transform(batch)

        try:
            nxt = stage()
        except StopIteration:
            return
        while True:
            if stream is not None:
                main = torch.cuda.current_stream(self.device)
                main.wait_stream(stream)
                for t in nxt:
                    t.record_stream(main)
            yield nxt
            try:
                nxt = stage()
            except StopIteration:
                return


def gpu_loader_transform(gpu_tf: GpuBatchTransform) -> Callable:
    """``(list_of_bytes, targets)`` -> ``(x, y)`` on the transform's device (the ``loader="gpu"`` path)."""

    def transform(batch):
        data, y = batch
        return gpu_tf(data), y.to(gpu_tf.device, non_blocking=True)

    return transform


def cpu_loader_transform(
    device: str | torch.device, *, channels_last: bool = True, dtype: torch.dtype = torch.float32
) -> Callable:
    """``(uint8 batch, targets)`` -> ``(x, y)`` normalised on ``device`` (the ``loader="cpu"`` path)."""
    device = torch.device(device)

    def transform(batch):
        x, y = batch
        x = x.to(device, non_blocking=True)
        return normalize_batch(x, channels_last=channels_last, dtype=dtype), y.to(device, non_blocking=True)

    return transform


# --------------------------------------------------------------------------------------------------
# COCO-like JPEGs for benchmarks without COCO
# --------------------------------------------------------------------------------------------------
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
    tmp = path + ".tmp"
    Image.fromarray(photo_like_image(seed, size)).save(tmp, format="JPEG", quality=quality)
    os.replace(tmp, path)
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
    import json

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
        path = annotation_file(root, split)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
        os.replace(tmp, path)
    return root
