"""Shared by the trainer tests: the smoke preset shrunk to seconds on the tiny synthetic set, the seed
of every tiny run, and where to flip a bit of a checkpoint's weights."""

from __future__ import annotations

import os
import zipfile
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dbdgcn_lib.training import TrainConfig

SEED_VARIABLE = "DBDGCN_TINY_SEED"


def tiny_seed() -> int:
    """The seed the tests train their tiny models with: 0, or another one in the extra pass
    (``pytest -m tiny_training --tiny-seed 1``, part of ``make test``), which shows that no test
    depends on what a seed-0 run happened to learn. An environment variable, so worker processes
    (DDP, ``quick_train_many``) see it too."""
    return int(os.environ.get(SEED_VARIABLE, "0"))


def tiny_config(root, **overrides) -> TrainConfig:
    """~45 labelled images of 64 px, 5 steps of 8 per epoch, one epoch, all in this process with
    torch's own thread count (the preset's ``threads=1`` would stay set for later tests)."""
    from dbdgcn_lib.training import get_preset  # here: conftest imports this module before matplotlib's setup

    settings = dict(
        data=str(root),
        image_size=64,
        batch_size=8,
        epochs=1,
        log_every=2,
        switches={"embed_dim": 16},
        workers=0,
        threads=None,
        seed=tiny_seed(),
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


def edited(ckpt: dict, change) -> dict:
    """A loaded checkpoint changed by ``change(ckpt)``, without what ``load_checkpoint`` adds (``path``,
    ``checksum``): ``save_checkpoint`` then writes it with a valid checksum."""
    ckpt = {k: v for k, v in ckpt.items() if k not in ("path", "checksum")}
    change(ckpt)
    return ckpt
