"""Shared by the trainer tests: the smoke preset shrunk to seconds on the tiny synthetic set."""

from __future__ import annotations

from dbdgcn_lib.training import TrainConfig, get_preset


def tiny_config(root, **overrides) -> TrainConfig:
    """~45 labelled images of 64 px, 5 steps of 8 per epoch, one epoch, all in this process with
    torch's own thread count (the preset's ``threads=1`` would stay set for later tests)."""
    settings = dict(
        data=str(root),
        image_size=64,
        batch_size=8,
        epochs=1,
        log_every=2,
        switches={"embed_dim": 16},
        workers=0,
        threads=None,
    )
    settings.update(overrides)
    return get_preset("smoke", **settings)
