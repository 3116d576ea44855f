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


def available_devices() -> list[str]:
    """The ``--device`` values this machine can run: auto, cpu, and cuda / cuda:N or mps where present."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def get_device(prefer: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cpu`` / ``cuda`` / ``cuda:N`` / ``mps`` are taken
    as given.

    A device that is not there raises ``ValueError`` naming what is (``cuda:3`` on a one-GPU machine,
    ``cuda`` without CUDA, ``mps`` off a Mac, a device type the library does not run on (``xpu``), a
    name torch does not know)."""
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    here = f"this machine has: {', '.join(available_devices())}"
    try:
        device = torch.device(prefer)
    except RuntimeError:
        raise ValueError(f"unknown device {prefer!r} (--device); {here}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for but CUDA is not available; use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {prefer!r} does not exist: this machine has {count} GPU(s)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available() or device.index not in (None, 0):
            raise ValueError(f"device {prefer!r} (an Apple GPU) is not available (--device); {here}")
    elif device.type != "cpu":
        raise ValueError(
            f"device {prefer!r} is not supported (--device): the library runs on cpu, cuda and mps; {here}"
        )
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
    temporary file is removed; an ``OSError`` such as ENOSPC is raised naming ``path``).
    ``durable`` flushes the data and the rename to disk (``fsync``)::

        with atomic_write(run / "log.jsonl") as f:
            f.write(text)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a plain open would give 0666 less the umask
        f = os.fdopen(fd, mode)
        try:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                f.close()  # its buffer cannot be written either: the error being raised says why
            raise
        f.close()
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno is not None and err.filename is None:
            raise OSError(err.errno, err.strerror, str(path)) from err  # a full disk names the file
        raise
    if durable:
        fsync_dir(path.parent)


def write_text_atomic(path: str | os.PathLike, text: str, *, durable: bool = True) -> Path:
    """``path.write_text(text)``, atomically (see ``atomic_write``)."""
    with atomic_write(path, "w", durable=durable) as f:
        f.write(text)
    return Path(path)
