"""Shared by the trainer tests: the smoke preset shrunk to seconds on the tiny synthetic set, and where
to flip a bit of a checkpoint's weights."""

from __future__ import annotations

import zipfile

import numpy as np

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


def tensor_data_offset(path) -> int:
    """The file offset of the largest tensor's bytes in a torch zip checkpoint (stored, not deflated)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), dtype="<u2")
    return info.header_offset + 30 + int(name_len) + int(extra_len) + info.file_size // 2
