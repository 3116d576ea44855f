"""What a full COCO 2014 run costs at measured rates: the one estimator the trainer and bench share.

One epoch trains on COCO_TRAIN_IMAGES (82,081) and evaluates COCO_VAL_IMAGES (40,137), so

    hours = epochs x (82,081 / training img/s + 40,137 / evaluation img/s) / 3600.
"""

from __future__ import annotations

from dbdgcn_lib.data import COCO_TRAIN_IMAGES, COCO_VAL_IMAGES


def coco_run_hours(train_img_per_s: float, eval_img_per_s: float, *, epochs: int = 50) -> float:
    """Hours for ``epochs`` epochs of COCO 2014 at these rates (training plus one evaluation per epoch)."""
    if train_img_per_s <= 0 or eval_img_per_s <= 0:
        raise ValueError("rates must be positive")
    return epochs * (COCO_TRAIN_IMAGES / train_img_per_s + COCO_VAL_IMAGES / eval_img_per_s) / 3600


def format_estimate(
    train_img_per_s: float, eval_img_per_s: float, *, epochs: int = 50, what: str = ""
) -> str:
    """One line: the rates and the hours they imply for ``epochs`` COCO epochs."""
    hours = coco_run_hours(train_img_per_s, eval_img_per_s, epochs=epochs)
    label = f" ({what})" if what else ""
    return (
        f"{epochs} COCO 2014 epochs{label} at train {train_img_per_s:,.0f} img/s and evaluation "
        f"{eval_img_per_s:,.0f} img/s: {hours:.2f} h (train {COCO_TRAIN_IMAGES:,} + evaluate "
        f"{COCO_VAL_IMAGES:,} images per epoch)"
    )
