"""Augmentation of decoded images as tensors, on any device: the steps of ``train_transform``.

The crop boxes and flips come from ``crops.sample_augmentation``, drawn on the host (nothing waits
for the GPU). ``augment_image`` cuts and resizes one image; ``normalize_batch`` applies the ImageNet
normalisation to a whole batch; ``GpuBatchTransform`` decodes (nvJPEG on CUDA), augments and
normalises a batch of JPEG byte tensors. Every function also runs on the CPU, which is how the tests
compare these paths with the PIL transforms (equal up to a grey level of interpolation rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from dbdgcn_lib.data.constants import IMAGENET_MEAN, IMAGENET_STD
from dbdgcn_lib.data.crops import Box, default_resize
from dbdgcn_lib.data.decode import decode_jpegs


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

    ``transform(byte_tensors, boxes=None, flips=None, names=None)`` -> (B, 3, S, S) float, normalised,
    ``channels_last``. Without ``boxes`` (evaluation) each image is resized to S x S, as
    ``test_transform``; with ``boxes`` and ``flips`` (training, drawn per image by
    ``crops.sample_augmentation``) it is resized to ``resize`` x ``resize``, cut and flipped.
    ``names`` (file paths) let a file nvJPEG cannot decode be named in the error.
    ``dtype=torch.bfloat16`` halves the bytes written when the model runs under bf16 autocast.
    """

    def __init__(
        self,
        image_size: int = 448,
        *,
        resize: int | None = None,
        device: str | torch.device = "cuda",
        channels_last: bool = True,
        dtype: torch.dtype = torch.float32,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ):
        self.image_size = image_size
        self.resize = resize or default_resize(image_size)
        self.device, self.channels_last, self.dtype = torch.device(device), channels_last, dtype
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(
        self,
        data: Sequence[torch.Tensor],
        *,
        boxes: Sequence[Box | None] | None = None,
        flips: Sequence[bool] | None = None,
        names: Sequence[str] | None = None,
    ) -> torch.Tensor:
        return self.augment(decode_jpegs(data, self.device, names=names), boxes=boxes, flips=flips)

    def augment(
        self,
        images: Sequence[torch.Tensor],
        *,
        boxes: Sequence[Box | None] | None = None,
        flips: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        """Decoded uint8 (3, H, W) images (any sizes) -> the normalised batch."""
        n, s = len(images), self.image_size
        boxes = [None] * n if boxes is None else list(boxes)
        flips = [False] * n if flips is None else list(flips)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        out = torch.empty((n, 3, s, s), device=self.device, dtype=torch.float32, memory_format=fmt)
        for i, (image, box, flip) in enumerate(zip(images, boxes, flips)):
            image = image.to(self.device, non_blocking=True)
            if image.shape[0] != 3:  # a decoder that ignored mode=RGB: grey -> 3 channels, drop alpha
                image = image[:1].expand(3, -1, -1) if image.shape[0] < 3 else image[:3]
            out[i].copy_(augment_image(image, s, resize=self.resize, box=box, flip=flip))
        return normalize_batch(out, self.mean, self.std, channels_last=self.channels_last, dtype=self.dtype)
