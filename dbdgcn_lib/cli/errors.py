"""Errors a user can cause, and how the command line says them: one line, exit status 2.

Library code raises its own exceptions (``ValueError``, ``DatasetError``, ``CheckpointError`` ...);
the commands raise ``CommandError`` for a bad argument. ``main`` turns both, and a full disk, a
missing device or an out-of-memory error, into one line that names the file or argument and what to
do, instead of a traceback. An exception raised in a DataLoader worker arrives with the worker's
traceback in its message: only its last line, the original message, is kept. ``machine_failure``
says the failures of the machine under a run (a worker killed for memory, a small ``/dev/shm``,
another ``torchrun`` process gone) in one line too, and ``report`` prints one line per failure under
``torchrun``, not one per process.
"""

from __future__ import annotations

import argparse
import errno
import re
import shutil
import sys
from collections.abc import Callable

import torch

from dbdgcn_lib.checks import Rule
from dbdgcn_lib.data import CorruptImageError, DatasetError, DownloadError, SyntheticDatasetError
from dbdgcn_lib.models import WeightsUnavailableError
from dbdgcn_lib.training import CheckpointError, NonFiniteLossError, RunFolderError, distributed


class CommandError(Exception):
    """Bad input from the user: printed as one line, no traceback."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``error: ...``, exit status 2), as every other
    error of the command line, with a pointer to ``--help`` instead of the usage block."""

    def error(self, message: str):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def checked(convert: Callable[[str], object], rule: Rule) -> Callable[[str], object]:
    """An argparse ``type``: the text converted (``int``, ``float``) and checked by ``rule`` (the
    library's shared rules, ``dbdgcn_lib.checks``), so that an option says its allowed range."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = text
        if not rule.ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule.hint}")
        return value

    parse.__name__ = convert.__name__  # argparse names the type in its own messages
    return parse


#: Exceptions that mean bad input or a state the user can fix; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    CommandError,
    ValueError,
    DatasetError,
    DownloadError,
    SyntheticDatasetError,
    CheckpointError,
    RunFolderError,
    NonFiniteLossError,
    WeightsUnavailableError,
    torch.OutOfMemoryError,
    OSError,
)


def one_line(err: BaseException) -> str:
    """The message of ``err`` as one line a user can act on."""
    if isinstance(err, torch.OutOfMemoryError):
        return "the device ran out of memory; lower --batch-size (or --eval-batch-size)"
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" while writing {err.filename}" if err.filename else ""
        return f"the disk is full{where}; free some space or choose another --out, then run again"
    if isinstance(err, OSError) and err.filename and not isinstance(err, DatasetError):
        return f"{err.filename}: {err.strerror or err}"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if len(lines) > 1 and lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        last = lines[-1]  # "package.module.ErrorName: the original message"
        name, sep, message = last.partition(": ")
        return message if sep and ("." in name or name.endswith(("Error", "Exception"))) else last
    return " ".join(lines)


# ---------------------------------------------------------------------------------------------
# The machine under a run: data-loading workers, shared memory, the other processes of torchrun
# ---------------------------------------------------------------------------------------------

_WORKER_DIED = re.compile(
    r"DataLoader worker \(pids?\(?s?\)? ?(?P<pids>[\d, ]+)\) "
    r"(?:is killed by signal: (?P<signal>[^.]+)|exited unexpectedly)"
)
_SHARED_MEMORY = re.compile(r"shared memory|\(shm\)|/dev/shm|</torch_\d+|Bus error")
_PEER_LOST = re.compile(r"Connection (?:closed|reset) by peer|remote (?:worker|process)|Broken pipe|NCCL")


def _shm_size() -> str:
    try:
        total = shutil.disk_usage("/dev/shm").total
    except OSError:
        return ""
    return f", {total / 2**20:.0f} MiB in all" if total >= 2**20 else f", {total / 2**10:.0f} KiB in all"


def lost_peer(err: BaseException) -> bool:
    """Whether ``err`` says that another process of a ``torchrun`` run went away (gloo, NCCL, the store)."""
    if isinstance(err, torch.distributed.DistError):
        return True
    return isinstance(err, RuntimeError) and bool(_PEER_LOST.search(str(err)))


def machine_failure(err: BaseException) -> str | None:
    """One line for a failure of the machine under the run (not a bug, nothing the user typed), or None.

    A data-loading worker killed by the out-of-memory killer (SIGKILL) or dead otherwise; shared
    memory (``/dev/shm``) too small for the workers' batches (a Docker container's is 64 MB unless
    started with ``--shm-size``); another process of a ``torchrun`` run gone (its own message says why).
    """
    if not isinstance(err, RuntimeError):
        return None
    text = str(err)
    if _SHARED_MEMORY.search(text):
        if "Too many open files" in text:
            return (
                "the data-loading workers ran out of file handles for shared memory; raise the limit "
                "(ulimit -n 65536) or run again with fewer --workers"
            )
        return (
            f"shared memory (/dev/shm{_shm_size()}) is too small for the data-loading workers' batches; "
            "run again with fewer --workers (--workers 0 needs none), or, in Docker, start the "
            "container with a larger --shm-size (e.g. --shm-size=8g)"
        )
    died = _WORKER_DIED.search(text)
    if died:
        pids = died["pids"].strip()
        if died["signal"] == "Killed":
            return (
                f"a data-loading worker process (pid {pids}) was killed (SIGKILL), most likely by the "
                "out-of-memory killer: the machine ran out of memory; run again with fewer --workers "
                "(each holds batches in memory) or a lower --batch-size"
            )
        how = f"was killed by signal {died['signal']}" if died["signal"] else "exited unexpectedly"
        return (
            f"a data-loading worker process (pid {pids}) {how}; run again with fewer --workers, or "
            "with --workers 0 to see the error in the main process"
        )
    if lost_peer(err):
        first = re.sub(r"^\[[^\]]*\]\s*", "", text.strip().splitlines()[0]).split(". ")[0]
        return (
            f"lost contact with the other processes of this run ({first}); the process that failed "
            "first says why above (or check the network between the machines)"
        )
    return None


#: Errors about one process's own share of the work (its images, its GPU): under torchrun every rank
#: reports its own, as it does a failure of its machine. Any other error is the same on every rank (a
#: setting, a file) or only rank 0's (the run folder, a checkpoint save): rank 0 alone reports it.
_RANK_OWN = (CorruptImageError, torch.OutOfMemoryError)


def report(err: BaseException, line: str) -> int:
    """Print ``error: line`` to stderr as this process should, and return the exit status.

    One process: always. Under ``torchrun``, one line per failure, not one per rank: rank 0 prints
    every error; another rank prints (as ``rank N: ...``) only an error about its own share or its own
    machine, and stays silent about a setting every rank rejects alike and about losing contact with
    a process that failed (that process says why). Losing contact exits with 1, the rest with 2.
    """
    here = distributed.from_environment()
    peer = lost_peer(err)
    own = isinstance(err, _RANK_OWN) or (not peer and machine_failure(err) is not None)
    if here.is_main:
        print(f"error: {line}", file=sys.stderr)
    elif own:
        print(f"error: rank {here.rank}: {line}", file=sys.stderr)
    return 1 if peer else 2
