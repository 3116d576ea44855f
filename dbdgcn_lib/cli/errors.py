"""Errors a user can cause, and how the command line says them: one line, exit status 2.

Library code raises its own exceptions (``ValueError``, ``DatasetError``, ``CheckpointError`` ...);
the commands raise ``CommandError`` for a bad argument. ``main`` turns both, and a full disk, a
missing device or an out-of-memory error, into one line that names the file or argument and what to
do, instead of a traceback. An exception raised in a DataLoader worker arrives with the worker's
traceback in its message: only its last line, the original message, is kept.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable

import torch

from dbdgcn_lib.checks import Rule
from dbdgcn_lib.data import DatasetError, DownloadError, SyntheticDatasetError
from dbdgcn_lib.models import WeightsUnavailableError
from dbdgcn_lib.training import CheckpointError, NonFiniteLossError, RunFolderError


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
