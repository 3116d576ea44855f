"""Command line: ``python -m dbdgcn_lib <command> ...``.

One module per command family: ``data`` (``cli/data.py``), ``train`` / ``evaluate`` / ``predict``
(``cli/train.py``) and ``params`` (``cli/params.py``). The commands only parse arguments and print;
the work is the library's. A user's mistake (a bad argument, a missing or damaged file, a full disk,
a busy run folder) or a failure of the machine under it (a data-loading worker killed for memory, a
small ``/dev/shm``) is printed as one line (``error: ...``) with exit status 2 (``cli/errors.py``;
under ``torchrun`` one line per failure, not per process);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from dbdgcn_lib.cli.errors import (
    USER_ERRORS,
    CommandError,
    OneLineParser,
    machine_failure,
    one_line,
    report,
)

__all__ = ["CommandError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from dbdgcn_lib.cli import data, params, train

    parser = OneLineParser(prog="python -m dbdgcn_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.register(sub)
    train.register(sub)
    params.register(sub)
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a bad option was printed as one line; --help ends here too
        if stop.code == 2:
            return 2
        raise
    warnings.formatwarning = _one_line_warnings  # a skipped image is one line, not a source excerpt
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        line = one_line(err) if isinstance(err, USER_ERRORS) else machine_failure(err)
        if line is None:
            raise  # a bug: keep the traceback
        return report(err, line)
