"""Command line: ``python -m dbdgcn_lib <command> ...``.

One module per command family: ``data`` (``cli/data.py``), ``train`` / ``evaluate`` / ``predict``
(``cli/train.py``), ``bench`` (``cli/bench.py``) and ``params`` (``cli/params.py``). The commands
only parse arguments and print; the work is the library's. A user's mistake (a bad argument, a
missing or damaged file, a full disk, a busy run folder) is printed as one line (``error: ...``)
with exit status 2 (``cli/errors.py``); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from dbdgcn_lib.cli.errors import USER_ERRORS, CommandError, OneLineParser, one_line

__all__ = ["CommandError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from dbdgcn_lib.cli import bench, data, params, train

    parser = OneLineParser(prog="python -m dbdgcn_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.register(sub)
    train.register(sub)
    bench.register(sub)
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
    except USER_ERRORS as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
