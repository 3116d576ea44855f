"""Command line: ``python -m dbdgcn_lib <command> ...``.

Each command lives next to the code it drives and registers itself here:
``data`` (dbdgcn_lib.data.commands), ``train`` / ``evaluate`` / ``predict``
(dbdgcn_lib.training.commands), ``bench`` (dbdgcn_lib.training.bench) and
``params`` (dbdgcn_lib.models.commands).

A command raises ``CommandError`` for bad input; ``main`` prints it as one line
(``error: ...``) and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class CommandError(Exception):
    """Bad input from the user: printed as one line, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    from dbdgcn_lib.data import commands as data_commands
    from dbdgcn_lib.models import commands as model_commands
    from dbdgcn_lib.training import bench
    from dbdgcn_lib.training import commands as train_commands

    parser = argparse.ArgumentParser(prog="python -m dbdgcn_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_commands.register(sub)
    train_commands.register(sub)
    bench.register(sub)
    model_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
