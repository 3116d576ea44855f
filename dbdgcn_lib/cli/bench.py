"""``python -m dbdgcn_lib bench``: training and evaluation throughput, peak memory, the head's share.

Every ``BenchConfig`` field is a flag (``--steps 20``, ``--variants db_dgcn,resnet``, ``--compile
false`` or ``--no-compile``); ``--show FILE`` prints a results file again with its 50-epoch COCO
estimates. ``--loader`` is the old name of ``--pipelines`` (``gpu`` = ``nvjpeg``, ``cpu`` = ``uint8``).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

from dbdgcn_lib.bench import (
    BenchConfig,
    format_estimates,
    format_table,
    load_results,
    run_bench,
    run_estimates,
)
from dbdgcn_lib.bench.results import OLD_LOADERS
from dbdgcn_lib.cli.errors import CommandError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flags(f: dataclasses.Field) -> tuple[str, ...]:
    return f.metadata.get("flags", ("--" + f.name.replace("_", "-"),))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="train / eval img/s, peak memory and the head's share, released vs fast mode",
        description="Throughput benchmark: every (variant, mode, phase, input, pipeline) case on one "
        "device, one table row each, appended to --json as it is measured.",
        epilog="Example: python -m dbdgcn_lib bench --modes fast --inputs synthetic,jpeg "
        "--pipelines uint8,nvjpeg --batch auto --json bench.json",
    )
    defaults = BenchConfig()
    for f in dataclasses.fields(BenchConfig):
        flags, dest, text = _flags(f), f"option_{f.name}", f.metadata["help"]
        default = getattr(defaults, f.name)
        if isinstance(default, tuple):
            text += f" (default {','.join(default)})"
        elif isinstance(default, bool):
            text += f" (default {str(default).lower()})"
        elif default not in (None, ""):  # the help of an optional field says what none means
            text += f" (default {default})"
        if f.type in ("bool", bool):  # a bare --compile means true; --compile false or --no-compile: false
            p.add_argument(*flags, dest=dest, nargs="?", const="true", metavar="BOOL", help=text)
            negative = f"--no-{f.name.replace('_', '-')}"
            p.add_argument(negative, dest=dest, action="store_const", const="false", help=argparse.SUPPRESS)
        else:
            p.add_argument(
                *flags, dest=dest, metavar=flags[0].lstrip("-").replace("-", "_").upper(), help=text
            )
    p.add_argument(
        "--loader",
        metavar="LOADERS",
        help="old name of --pipelines: gpu = nvjpeg, cpu = uint8 "
        "(--loader gpu,cpu = --pipelines nvjpeg,uint8)",
    )
    p.add_argument(
        "--show", metavar="JSON", help="print the table and 50-epoch estimates of a results file, and exit"
    )
    p.set_defaults(func=run_bench_command)


def parse_option(name: str, text: str):
    """Command-line text -> the type of ``BenchConfig`` field ``name`` (lists stay comma text)."""
    kind = typing.get_type_hints(BenchConfig)[name]
    options = typing.get_args(kind) if typing.get_origin(kind) is not tuple else ()
    if type(None) in options and text.lower() in ("none", "null"):
        return None
    if kind is bool or bool in options:
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError(f"bad {name} {text!r}: true or false")
        return text.lower() in _TRUE
    if str in options and not text.lstrip("-").isdigit():
        return text  # batch: "auto" (BenchConfig checks it)
    for number in (int, float):
        if kind is number or number in options:
            try:
                return number(text)
            except ValueError:
                raise ValueError(f"bad {name} {text!r}: a number") from None
    return text


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The ``BenchConfig`` the flags describe (``--loader`` translated to pipelines)."""
    values = {}
    for name in BenchConfig.names():
        text = getattr(args, f"option_{name}")
        if text is not None:
            values[name] = parse_option(name, text)
    if args.loader is not None:
        if "pipelines" in values:
            raise CommandError("--loader is the old name of --pipelines: give one of them")
        old = [v.strip() for v in args.loader.split(",") if v.strip()]
        values["pipelines"] = tuple(OLD_LOADERS.get(v, v) for v in old)
    return BenchConfig(**values)


def run_bench_command(args: argparse.Namespace) -> int:
    if args.show:
        if not Path(args.show).is_file():
            raise CommandError(f"--show {args.show}: no such results file")
        data = load_results(args.show)
        print(format_table(data["results"], data.get("env")))
        print()
        print(format_estimates(run_estimates(data["results"])))
        return 0
    config = config_from_args(args)
    if config.data is not None and not Path(config.data).is_dir():
        raise CommandError(f"--data {config.data}: no such folder; pass a folder of JPEG files")
    results = run_bench(config, log=lambda s: print(s, flush=True))
    print()
    print(format_table(results))
    if config.json_path:
        print(f"results appended to {config.json_path}")
    return 0 if any(r.get("status") == "ok" for r in results) else 1
