"""Checkpoints that survive crashes and say what they hold.

A checkpoint is a dict saved with ``torch.save``: the model's ``state_dict`` and ``ModelConfig``,
the class names, the training config, optimizer / scheduler / scaler states, the number of
finished epochs, the RNG states and the history of logged rows. ``save_checkpoint`` writes a
temporary file, flushes it to disk and renames it over ``path`` (``utils.atomic_write``), so a crash
or a full disk mid-write leaves the previous file whole; a full disk is raised as the ``OSError``
it is (ENOSPC, naming the file), not as torch's "unexpected pos". Everything is stored as tensors
and plain Python values, so ``load_checkpoint`` can use ``torch.load(weights_only=True)``: a
checkpoint cannot run code. Each checkpoint carries a SHA-256 ``checksum`` of its contents, checked
on load: a damaged file is refused instead of evaluated. ``load_training_checkpoint`` also checks that
the file holds what this version of the library needs (its fields, a model config it can build,
settings it knows), and ``model_from_checkpoint`` that the weights fit the model config: a checkpoint
from another version of the library, an empty file or a text file is one ``CheckpointError`` naming
the file and the problem.
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
from dbdgcn_lib.training.config import TrainConfig
from dbdgcn_lib.utils import atomic_write, fsync_dir

FORMAT = "dbdgcn-checkpoint-2"
FORMATS = ("dbdgcn-checkpoint-1", FORMAT)  # format 1 had no checksum
#: What evaluating or predicting with a checkpoint needs; resuming also needs ``RESUME_FIELDS``.
MODEL_FIELDS = ("model", "model_config", "variant", "num_classes", "class_names", "train_config", "epoch")
RESUME_FIELDS = (*MODEL_FIELDS, "optimizer", "scaler", "scheduler", "best_mAP", "history", "rng")
#: What the messages advise for a checkpoint this version cannot use.
OTHER_VERSION = "it was written by another version of dbdgcn_lib; use it with that version, or train again"
DAMAGED_ADVICE = "use another checkpoint of the run (best.pt or last.pt) or train again"


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


def _unreadable(path: Path, err: Exception) -> str:
    """Why torch could not read ``path``, in words (torch's own messages say little for a foreign file)."""
    with open(path, "rb") as f:
        head = f.read(256)
    if not head:
        return "it is empty (0 bytes)"
    if head.startswith(b"PK\x03\x04"):  # a zip archive, as torch.save writes: cut short or damaged
        reason = str(err).split(". ")[0].strip() or type(err).__name__
        return f"it is damaged or cut short ({reason})"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:  # a character cut at the end of the 256 bytes is still text
        text = head[: err.start].decode("utf-8") if err.start >= len(head) - 3 else "\x00"
    if text and all(c.isprintable() or c.isspace() for c in text):
        shown = " ".join(text.split())[:40]
        return f"it is a text file, not a checkpoint (it starts with {shown!r})"
    return "it is not a file that torch.save wrote"


def load_checkpoint(
    path: str | os.PathLike, map_location="cpu", *, advice: str | None = DAMAGED_ADVICE
) -> dict:
    """Read a checkpoint written by the trainer; ``CheckpointError`` with the reason otherwise (a
    damaged or unreadable file's message ends with ``advice``, unless it is None)."""
    tail = f"; {advice}" if advice else ""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "not found"
        raise CheckpointError(f"checkpoint {path} {what}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many kinds for a truncated or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be read: {_unreadable(path, err)}{tail}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") not in FORMATS:
        raise CheckpointError(f"{path} is not a dbdgcn_lib training checkpoint")
    if ckpt["format"] != FORMATS[0] and ckpt.get("checksum") != checksum(ckpt):
        raise CheckpointError(
            f"checkpoint {path} is damaged (its contents do not match their checksum){tail}"
        )
    ckpt["path"] = str(path)
    return ckpt


def check_fields(ckpt: dict, fields=MODEL_FIELDS) -> None:
    """``CheckpointError`` naming the checkpoint and the ``fields`` it lacks."""
    missing = [name for name in fields if name not in ckpt]
    if missing:
        where = ckpt.get("path", "the checkpoint")
        raise CheckpointError(f"checkpoint {where} has no {', '.join(missing)}: {OTHER_VERSION}")


def train_config_of(ckpt: dict) -> TrainConfig:
    """The ``TrainConfig`` a checkpoint was trained with (settings added since take their defaults);
    a setting this version does not know, or a value it refuses, is a ``CheckpointError``."""
    check_fields(ckpt, ("train_config",))
    where = ckpt.get("path", "the checkpoint")
    if not isinstance(ckpt["train_config"], dict):
        raise CheckpointError(f"checkpoint {where} has no readable training settings: {OTHER_VERSION}")
    try:
        return TrainConfig.from_dict(ckpt["train_config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint {where}: {err}; {OTHER_VERSION}") from None


def model_config_of(ckpt: dict) -> ModelConfig:
    """The ``ModelConfig`` a checkpoint holds; one this version cannot build is a ``CheckpointError``."""
    check_fields(ckpt, ("model_config",))
    where = ckpt.get("path", "the checkpoint")
    values = ckpt["model_config"]
    if not isinstance(values, dict):
        raise CheckpointError(f"checkpoint {where} has no readable model config: {OTHER_VERSION}")
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(
            f"checkpoint {where}: unknown model setting(s) {', '.join(unknown)}; {OTHER_VERSION}"
        )
    try:
        return ModelConfig(**values)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint {where}: model config {err}; {OTHER_VERSION}") from None


def load_training_checkpoint(path: str | os.PathLike, *, resume: bool = False, **kwargs) -> dict:
    """``load_checkpoint``, then the checks that the file holds what this version needs: the fields
    for evaluating (and resuming, with ``resume``), a model config it can build and training settings
    it knows. Every failure is one ``CheckpointError`` naming the file."""
    ckpt = load_checkpoint(path, **kwargs)
    check_fields(ckpt, RESUME_FIELDS if resume else MODEL_FIELDS)
    model_config_of(ckpt)
    train_config_of(ckpt)
    if not isinstance(ckpt["class_names"], list | tuple) or len(ckpt["class_names"]) != ckpt["num_classes"]:
        raise CheckpointError(
            f"checkpoint {ckpt['path']} names {len(ckpt['class_names'])} classes for "
            f"{ckpt['num_classes']}: {OTHER_VERSION}"
        )
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


def load_weights(model: torch.nn.Module, ckpt: dict) -> None:
    """``model.load_state_dict(ckpt["model"])``; weights that do not fit the model (names or shapes)
    are a ``CheckpointError`` naming the checkpoint and the first mismatches."""
    check_fields(ckpt, ("model",))
    where = ckpt.get("path", "the checkpoint")
    wanted = model.state_dict()
    stored = ckpt["model"]
    if not isinstance(stored, dict):
        raise CheckpointError(f"checkpoint {where} holds no weights: {OTHER_VERSION}")
    missing = [k for k in wanted if k not in stored]
    unexpected = [k for k in stored if k not in wanted]
    reshaped = [
        f"{k} {tuple(stored[k].shape)} instead of {tuple(wanted[k].shape)}"
        for k in wanted
        if k in stored and isinstance(stored[k], torch.Tensor) and stored[k].shape != wanted[k].shape
    ]
    problems = [
        f"{len(items)} {what} (e.g. {items[0]})"
        for items, what in ((missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape"))
        if items
    ]
    if problems:
        raise CheckpointError(
            f"checkpoint {where}: its weights do not fit its model config ({'; '.join(problems)}); "
            f"{OTHER_VERSION}"
        )
    model.load_state_dict(stored)


def model_from_checkpoint(ckpt: dict) -> MultiLabelGCN:
    """Rebuild the model a checkpoint holds (no ImageNet download: the weights come from the file)."""
    config = model_config_of(ckpt)
    model = MultiLabelGCN(dataclasses.replace(config, pretrained=None))
    load_weights(model, ckpt)
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
