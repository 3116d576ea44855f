"""A training run's folder: one run at a time, never mixed with another, every file written whole.

A run folder holds ``config.json``, ``log.jsonl``, ``last.pt`` and ``best.pt``. ``RunFolder.open``
takes an exclusive lock for the run's whole life (``.lock``, released when the run ends or its
process dies, so a killed run never leaves a stale lock): a second run on the same folder is refused
with one line naming the holder. A folder that already holds a run is refused unless the run is
resumed (``resume``) or replaced (``overwrite``). Every file is written atomically
(``utils.atomic_write``); a checkpoint that becomes the best is written as ``best.pt`` first and then
linked as ``last.pt``, so at any moment of a kill ``best.pt`` is the best epoch saved so far.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from dbdgcn_lib.training.checkpoint import copy_checkpoint, save_checkpoint
from dbdgcn_lib.utils import write_text_atomic

try:  # POSIX: an advisory lock the kernel drops with the process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

RUN_FILES = ("config.json", "log.jsonl", "last.pt", "best.pt")


class RunFolderError(ValueError):
    """The run folder is in use, holds another run, or cannot be written."""


class RunFolder:
    """``out`` as the home of one run; ``open(resume=..., overwrite=...)`` before writing anything."""

    def __init__(self, out: str | os.PathLike):
        self.path = Path(out)
        self._lock = None

    @property
    def has_run(self) -> bool:
        """True when the folder already holds a run's files."""
        return any((self.path / name).exists() for name in RUN_FILES)

    def open(self, *, resume: bool = False, overwrite: bool = False) -> RunFolder:
        """Create the folder if needed, check it is writable, lock it, and check what it holds."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.path / ".lock", "a+")  # noqa: SIM115 - kept open for the run's life
        except OSError as err:
            raise RunFolderError(
                f"run folder {self.path} cannot be written ({err.strerror or err}); choose another --out"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise RunFolderError(
                    f"run folder {self.path} is in use by {holder}; wait for it to finish or choose "
                    "another --out"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        )
        handle.flush()
        self._lock = handle
        if self.has_run and not resume:
            if not overwrite:
                self.close()
                raise RunFolderError(
                    f"run folder {self.path} already holds a run; continue it with --resume, replace it "
                    "with --overwrite, or choose another --out"
                )
            for name in RUN_FILES:
                (self.path / name).unlink(missing_ok=True)
        return self

    def close(self) -> None:
        """Release the lock (also released when the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def write_config(self, config: dict) -> None:
        write_text_atomic(self.path / "config.json", json.dumps(config, indent=1) + "\n")

    def write_log(self, history: list[dict]) -> None:
        write_text_atomic(self.path / "log.jsonl", "".join(json.dumps(row) + "\n" for row in history))

    def save(self, state: dict, *, is_best: bool) -> None:
        """``last.pt`` (and ``best.pt`` when ``is_best``): best first, then last as a link to it."""
        if is_best:
            best = save_checkpoint(self.path / "best.pt", state)
            copy_checkpoint(best, self.path / "last.pt")
        else:
            save_checkpoint(self.path / "last.pt", state)
