"""Small helpers shared by every layer: seeding, the device, and writing files atomically."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch

from dbdgcn_lib.checks import SEED


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so smoke runs repeat exactly."""
    SEED.check("seed", seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_device(prefer: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cpu`` / ``cuda`` / ``cuda:N`` are taken as given.

    A device that is not there raises ``ValueError`` naming what is (``cuda:3`` on a one-GPU machine,
    ``cuda`` without CUDA, a name torch does not know)."""
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(prefer)
    except RuntimeError:
        raise ValueError(f"unknown device {prefer!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for but CUDA is not available; use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {prefer!r} does not exist: this machine has {count} GPU(s)")
    elif device.type not in ("cpu", "mps"):
        raise ValueError(f"unsupported device {prefer!r}; use auto, cpu, cuda or cuda:N")
    return device


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has finished the work queued so far (a no-op off CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synced_time(device: torch.device) -> float:
    """``time.perf_counter()`` once ``device`` has finished the work queued so far."""
    synchronize(device)
    return time.perf_counter()


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename inside ``directory`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, durable: bool = True) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success rename it over ``path``.

    The temporary name is unique (two writers never share it), so a reader sees the old file or the
    new one, never a mix, and a crash or a full disk mid-write leaves the old file whole (the
    temporary file is removed). ``durable`` flushes the data and the rename to disk (``fsync``)::

        with atomic_write(run / "log.jsonl") as f:
            f.write(text)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a plain open would give 0666 less the umask
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_text_atomic(path: str | os.PathLike, text: str, *, durable: bool = True) -> Path:
    """``path.write_text(text)``, atomically (see ``atomic_write``)."""
    with atomic_write(path, "w", durable=durable) as f:
        f.write(text)
    return Path(path)
