"""Image transforms (PIL image -> (3, S, S) float tensor), as ADD-GCN trains and tests on COCO.

Train: resize to ``resize x resize`` (default ``round(image_size * 8 / 7)``: 512 for 448), a random
``image_size`` crop, a random horizontal flip, ImageNet normalisation. Test: resize straight to
``image_size x image_size``, normalise. The train crop keeps at least 7/8 of each side, so
small objects near the border are rarely cut off and the labels stay true.
"""

from __future__ import annotations

from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_resize(image_size: int) -> int:
    """The train resize side for a crop of ``image_size`` (512 for 448)."""
    return round(image_size * 8 / 7)


def train_transform(image_size: int = 448, resize: int | None = None) -> T.Compose:
    """Resize to ``resize`` (square), random crop ``image_size``, random flip, normalise."""
    resize = default_resize(image_size) if resize is None else resize
    if resize < image_size:
        raise ValueError(f"resize ({resize}) must be at least image_size ({image_size})")
    return T.Compose(
        [
            T.Resize((resize, resize)),
            T.RandomCrop(image_size),
            T.RandomHorizontalFlip(),
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
