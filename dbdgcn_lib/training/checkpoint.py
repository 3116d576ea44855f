"""Checkpoints that survive crashes and say what they hold.

A checkpoint is a dict saved with ``torch.save``: the model's ``state_dict`` and ``ModelConfig``,
the class names, the training config, optimizer / scheduler / scaler states, the number of
finished epochs, the RNG states and the history of logged rows. ``save_checkpoint`` writes a
temporary file, flushes it to disk and renames it over ``path`` (``utils.atomic_write``), so a crash
or a full disk mid-write leaves the previous file whole; a full disk is raised as the ``OSError``
it is (ENOSPC, naming the file), not as torch's "unexpected pos". Everything is stored as tensors
and plain Python values, so ``load_checkpoint`` can use ``torch.load(weights_only=True)``: a
checkpoint cannot run code. Each checkpoint carries a SHA-256 ``checksum`` of its contents, checked
on load: a damaged file is refused instead of evaluated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from dbdgcn_lib.models import ModelConfig, MultiLabelGCN
from dbdgcn_lib.utils import atomic_write, fsync_dir

FORMAT = "dbdgcn-checkpoint-2"
FORMATS = ("dbdgcn-checkpoint-1", FORMAT)  # format 1 had no checksum


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit the model or data it is used with."""


def _feed(digest, value) -> None:
    """Hash a checkpoint's contents in a fixed order: tensors by dtype, shape and bytes, the rest by repr."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(repr(value).encode())


def checksum(obj: dict) -> str:
    """SHA-256 of a checkpoint dict's contents (without its ``checksum`` and ``path`` entries)."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in obj.items() if k not in ("checksum", "path")})
    return digest.hexdigest()


def save_checkpoint(path: str | os.PathLike, obj: dict) -> Path:
    """Atomically write ``obj`` with its ``checksum`` to ``path`` (temporary file, fsync, rename)."""
    path = Path(path)
    obj = {**obj, "checksum": checksum(obj)}
    with atomic_write(path, "wb") as f:
        try:
            torch.save(obj, f)
        except RuntimeError as err:
            # torch's zip writer reports a failed write (a full disk) as "unexpected pos N vs M", with
            # the OSError only in the context: raise that, naming the file, so it can be said plainly
            cause = err.__context__
            if isinstance(cause, OSError) and cause.errno is not None:
                raise OSError(cause.errno, cause.strerror, str(path)) from err
            raise
    return path


def copy_checkpoint(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Atomically make ``target`` a copy of ``source`` (a hard link where the file system allows)."""
    source, target = Path(source), Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)  # costs nothing; the next save of source replaces its name, not the data
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint written by the trainer; ``CheckpointError`` with the reason otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many kinds for a truncated or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err})") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") not in FORMATS:
        raise CheckpointError(f"{path} is not a dbdgcn_lib training checkpoint")
    if ckpt["format"] != FORMATS[0] and ckpt.get("checksum") != checksum(ckpt):
        raise CheckpointError(
            f"checkpoint {path} is damaged (its contents do not match their checksum); use another "
            "checkpoint of the run (best.pt or last.pt) or train again"
        )
    ckpt["path"] = str(path)
    return ckpt


def check_compatible(
    ckpt: dict, *, variant: str | None = None, num_classes: int | None = None, class_names=None
) -> None:
    """Raise ``CheckpointError`` when the checkpoint was trained as another variant or on other classes."""
    where = ckpt.get("path", "the checkpoint")
    if variant is not None and ckpt["variant"] != variant:
        raise CheckpointError(f"{where} holds a {ckpt['variant']} model, not {variant}")
    if num_classes is not None and ckpt["num_classes"] != num_classes:
        raise CheckpointError(
            f"{where} was trained on {ckpt['num_classes']} classes, but the data has {num_classes}"
        )
    if class_names is not None and list(ckpt["class_names"]) != list(class_names):
        raise CheckpointError(
            f"{where} was trained on other classes (or another class order) than the data's"
        )


def model_from_checkpoint(ckpt: dict) -> MultiLabelGCN:
    """Rebuild the model a checkpoint holds (no ImageNet download: the weights come from the file)."""
    config = ModelConfig(**ckpt["model_config"])
    model = MultiLabelGCN(dataclasses.replace(config, pretrained=None))
    model.load_state_dict(ckpt["model"])
    model.config = config  # still records which ImageNet weights training started from
    return model


def rng_state() -> dict:
    """Python, NumPy, torch and CUDA generator states, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Inverse of ``rng_state`` (CUDA states only where as many GPUs are visible)."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
