"""A training run's folder: one run at a time, never mixed with another, never lost, every file
written whole.

A run folder holds ``config.json``, ``log.jsonl``, ``last.pt`` and ``best.pt``; it holds a run once it
holds a checkpoint (or a log): a run that stopped before its first checkpoint left only
``config.json``, and running it again simply starts it again. ``RunFolder.open`` takes an exclusive
lock for the run's whole life (``.lock``, released when the run ends or its process dies, so a killed
run never leaves a stale lock): a second run on the same folder is refused with one line naming the
holder. A folder that already holds a run is refused unless the run is resumed (``resume``) or
replaced (``overwrite``).

Replacing never loses the old run before the new one can take its place: ``overwrite`` moves the old
run's files into ``.previous-run/`` and deletes them only once the new run has written its first
checkpoint; a new run that fails before that puts them back (and one that was killed has them put back
by the next ``open``). Under the lock nothing else writes in the folder, so ``open`` also removes the
temporary files a killed run left half-written (only the run files' own, ``.last.pt.*.tmp`` and the
like). Every file is written atomically (``utils.atomic_write``); a checkpoint that becomes the best
is written as ``best.pt`` first and then linked as ``last.pt``, so at any moment of a kill ``best.pt``
is the best epoch saved so far.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from dbdgcn_lib.paths import display_path
from dbdgcn_lib.training.checkpoint import copy_checkpoint, save_checkpoint
from dbdgcn_lib.utils import fsync_dir, write_text_atomic

try:  # POSIX: an advisory lock the kernel drops with the process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

RUN_FILES = ("config.json", "log.jsonl", "last.pt", "best.pt")
#: The files that make a folder hold a run (``config.json`` alone is a run that never saved anything).
RUN_RECORDS = ("last.pt", "best.pt", "log.jsonl")
#: Where ``overwrite`` keeps the replaced run until the new one has written a checkpoint.
PREVIOUS_RUN = ".previous-run"


class RunFolderError(ValueError):
    """The run folder is in use, holds another run, or cannot be written."""


class RunFolder:
    """``out`` as the home of one run; ``open(resume=..., overwrite=...)`` before writing anything.

    ``notes`` collects what ``open`` did that the user should hear about (a leftover removed, a
    replaced run set aside or put back); ``replacing`` is True while a replaced run waits in
    ``.previous-run/`` for the new run's first checkpoint."""

    def __init__(self, out: str | os.PathLike):
        self.path = Path(out)
        self._lock = None
        self.replacing = False
        self.notes: list[str] = []

    @property
    def has_run(self) -> bool:
        """True when the folder holds a run: a checkpoint or a log."""
        return any((self.path / name).exists() for name in RUN_RECORDS)

    @property
    def previous(self) -> Path:
        return self.path / PREVIOUS_RUN

    def open(self, *, resume: bool = False, overwrite: bool = False) -> RunFolder:
        """Create the folder if needed, check it is writable, lock it, clean up after a killed run,
        and check what it holds."""
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
        try:
            self._clean_up_after_a_killed_run()
            if self.has_run and not resume:
                if not overwrite:
                    raise RunFolderError(
                        f"run folder {self.path} already holds a run; continue it with --resume, replace "
                        "it with --overwrite, or choose another --out"
                    )
                self._set_aside()
        except BaseException:
            self.close()
            raise
        return self

    def _clean_up_after_a_killed_run(self) -> None:
        """Remove the run files' temporary files (a save that was killed half-way) and finish a
        replacement that was killed: the old run back if the new one has no checkpoint, else gone."""
        leftovers = [p for name in RUN_FILES for p in self.path.glob(f".{name}.*.tmp") if p.is_file()]
        if leftovers:
            size = sum(p.stat().st_size for p in leftovers)
            for path in leftovers:
                path.unlink(missing_ok=True)
            names = ", ".join(p.name for p in leftovers)
            self.notes.append(
                f"removed {len(leftovers)} half-written file(s) left by a killed run ({names}, "
                f"{size / 1e6:.1f} MB)"
            )
        if self.previous.is_dir():
            if self.has_run:  # the replacing run wrote its checkpoint before it was killed
                shutil.rmtree(self.previous)
            else:
                self._restore_previous()
                self.notes.append(
                    f"put back the run that --overwrite was replacing in {self.path} (the replacing run "
                    "stopped before its first checkpoint)"
                )

    def _set_aside(self) -> None:
        self.previous.mkdir()
        for name in RUN_FILES:
            if (self.path / name).exists():
                os.replace(self.path / name, self.previous / name)
        fsync_dir(self.path)
        self.replacing = True
        self.notes.append(
            f"replacing the run in {display_path(self.path)}: the old one waits in "
            f"{display_path(self.previous)} until the new run writes its first checkpoint (and comes back if "
            "it fails before)"
        )

    def _restore_previous(self) -> None:
        for path in self.previous.iterdir():
            os.replace(path, self.path / path.name)
        self.previous.rmdir()
        fsync_dir(self.path)
        self.replacing = False

    def close(self) -> None:
        """Release the lock (also released when the process ends); a replaced run whose replacement
        wrote no checkpoint is put back first."""
        if self._lock is None:
            return
        try:
            if self.replacing:
                self._restore_previous()
        finally:
            self._lock.close()
            self._lock = None

    def write_config(self, config: dict) -> None:
        write_text_atomic(self.path / "config.json", json.dumps(config, indent=1) + "\n")

    def write_log(self, history: list[dict]) -> None:
        write_text_atomic(self.path / "log.jsonl", "".join(json.dumps(row) + "\n" for row in history))

    def save(self, state: dict, *, is_best: bool) -> None:
        """``last.pt`` (and ``best.pt`` when ``is_best``): best first, then last as a link to it. The
        first checkpoint of a replacing run ends the replacement: the old run is deleted."""
        if is_best:
            best = save_checkpoint(self.path / "best.pt", state)
            copy_checkpoint(best, self.path / "last.pt")
        else:
            save_checkpoint(self.path / "last.pt", state)
        if self.replacing:
            shutil.rmtree(self.previous, ignore_errors=True)
            self.replacing = False
