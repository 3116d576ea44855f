"""Errors a user can cause, and how the command line says them: one line, exit status 2.

Library code raises its own exceptions (``ValueError``, ``DatasetError``, ``CheckpointError`` ...);
the commands raise ``CommandError`` for a bad argument. ``main`` turns both, and a full disk, a
missing device or an out-of-memory error, into one line that names the file or argument and what to
do, instead of a traceback. An exception raised in a DataLoader worker arrives with the worker's
traceback in its message: only its last line, the original message, is kept.
"""

from __future__ import annotations

import errno

import torch

from dbdgcn_lib.data import DatasetError, DownloadError, SyntheticDatasetError
from dbdgcn_lib.models import WeightsUnavailableError
from dbdgcn_lib.training import CheckpointError, NonFiniteLossError, RunFolderError


class CommandError(Exception):
    """Bad input from the user: printed as one line, no traceback."""


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
