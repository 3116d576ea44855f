"""Image transforms with PIL (image -> (3, S, S) float tensor): the ``pil`` input pipeline.

Train: resize to ``resize x resize`` (default ``round(image_size * 8 / 7)``: 512 for 448), a crop
drawn by ``crops.sample_augmentation`` (``"random"``: an ``image_size`` square; ``"multiscale"``:
ADD-GCN's multi-scale crop, resized to ``image_size``), the flip drawn with it, ImageNet
normalisation. Test: resize straight to ``image_size x image_size``, normalise. The random crop
keeps at least 7/8 of each side, so small objects near the border are rarely cut off.
"""

from __future__ import annotations

import random

from PIL import Image
from torchvision import transforms as T

from dbdgcn_lib.data.constants import IMAGENET_MEAN, IMAGENET_STD
from dbdgcn_lib.data.crops import check_crop, default_resize, sample_augmentation


class CropAndFlip:
    """PIL image (``resize`` x ``resize``) -> the crop and flip of ``sample_augmentation``, at
    ``image_size``; drawn from Python's ``random`` (seeded per image by the training loader)."""

    def __init__(self, resize: int, image_size: int, crop: str = "random", flip: bool = True):
        self.resize, self.image_size, self.crop, self.flip = resize, image_size, check_crop(crop), flip

    def __call__(self, image: Image.Image) -> Image.Image:
        (top, left, h, w), flipped = sample_augmentation(
            random, self.resize, self.image_size, self.crop, self.flip
        )
        image = image.crop((left, top, left + w, top + h))
        if (h, w) != (self.image_size, self.image_size):
            image = image.resize((self.image_size, self.image_size), Image.BILINEAR)
        return image.transpose(Image.FLIP_LEFT_RIGHT) if flipped else image

    def __repr__(self) -> str:
        return f"CropAndFlip(resize={self.resize}, image_size={self.image_size}, crop={self.crop!r})"


def train_transform(image_size: int = 448, resize: int | None = None, crop: str = "random") -> T.Compose:
    """Resize to ``resize`` (square), crop (``"random"`` or ``"multiscale"``) and flip, normalise."""
    resize = default_resize(image_size) if resize is None else resize
    if resize < image_size:
        raise ValueError(f"resize ({resize}) must be at least image_size ({image_size})")
    return T.Compose(
        [
            T.Resize((resize, resize)),
            CropAndFlip(resize, image_size, crop),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def test_transform(image_size: int = 448) -> T.Compose:
    """Resize to ``image_size x image_size``, normalise."""
    return T.Compose(
        [T.Resize((image_size, image_size)), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


test_transform.__test__ = False  # not a pytest test, even when a test module imports it


def denormalize(images):
    """Undo the ImageNet normalisation: (..., 3, H, W) tensor -> values in [0, 1] (for display)."""
    mean = images.new_tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(3, 1, 1)
    return (images * std + mean).clamp(0, 1)
