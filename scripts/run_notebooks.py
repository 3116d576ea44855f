"""Execute the notebook series headless, in order, and print how long each notebook took.

``make notebooks`` runs this in full mode and writes the outputs back into each notebook, so the
committed notebooks show what ``make lab`` gives a student; ``make notebooks SMOKE=1`` runs the short
version CI checks.

    python scripts/run_notebooks.py                     # every notebooks/NN_*.ipynb, full, in place
    python scripts/run_notebooks.py --smoke             # the smoke version (DBDGCN_SMOKE=1)
    python scripts/run_notebooks.py notebooks/04_*.ipynb --output-dir /tmp/out

A notebook that fails is reported and left untouched on disk; the others still run, and the exit
status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

REPO = Path(__file__).resolve().parent.parent
SERIES = re.compile(r"^\d\d_.*\.ipynb$")


def series_notebooks(folder: Path) -> list[Path]:
    """``NN_*.ipynb`` in ``folder``, in series order (by file name)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and SERIES.match(p.name))


def execute(path: Path, out: Path, timeout: int, kernel_name: str | None) -> None:
    """Run every cell of ``path`` with the notebook's folder as working directory and write ``out``.

    Nothing is written when a cell fails, so a broken run never replaces good stored outputs.
    """
    nb = nbformat.read(path, as_version=4)
    name = kernel_name or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=name,
        record_timing=False,  # no per-cell timestamps: they would make every run a diff
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)


def format_table(rows: list[tuple[str, str, float]], total: float) -> str:
    width = max([len("notebook")] + [len(name) for name, _, _ in rows])
    lines = [f"{'notebook':<{width}}  {'status':<7}  {'seconds':>8}", "-" * (width + 19)]
    lines += [f"{name:<{width}}  {status:<7}  {secs:8.1f}" for name, status, secs in rows]
    lines += ["-" * (width + 19), f"{'total':<{width}}  {'':<7}  {total:8.1f}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: the series)")
    parser.add_argument("--dir", type=Path, default=REPO / "notebooks", help="folder holding the series")
    parser.add_argument("--output-dir", type=Path, help="write executed copies here instead of in place")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell (default 1200)")
    parser.add_argument("--kernel", help="kernel name (default: the notebook's own kernelspec)")
    parser.add_argument("--smoke", action="store_true", help="the short version (default: full mode)")
    args = parser.parse_args(argv)

    # reaches the kernels, which inherit this environment; an explicit value wins over CI
    os.environ["DBDGCN_SMOKE"] = "1" if args.smoke else "0"
    # ipykernel's python3 kernelspec runs plain `python`: make it this interpreter.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

    paths = [p.resolve() for p in args.notebooks] if args.notebooks else series_notebooks(args.dir)
    if not paths:
        print(f"no notebooks matching NN_*.ipynb in {args.dir}")
        return 0
    missing = [p for p in paths if not p.is_file()]
    if missing:
        parser.error("not found: " + ", ".join(map(str, missing)))

    mode = "smoke" if args.smoke else "full"
    print(f"executing {len(paths)} notebook(s) in {mode} mode", flush=True)
    rows: list[tuple[str, str, float]] = []
    start_all = time.perf_counter()
    for path in paths:
        out = args.output_dir / path.name if args.output_dir else path
        start = time.perf_counter()
        try:
            execute(path, out, args.timeout, args.kernel)
            status = "ok"
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            status = "FAILED"
            tail = "\n".join(str(err).strip().splitlines()[-15:])
            print(f"\n{path.name} failed:\n{tail}\n", file=sys.stderr, flush=True)
        secs = time.perf_counter() - start
        rows.append((path.name, status, secs))
        print(f"{path.name}: {status} in {secs:.1f} s", flush=True)
    total = time.perf_counter() - start_all

    print()
    print(format_table(rows, total))
    failed = [name for name, status, _ in rows if status != "ok"]
    if failed:
        print(f"\n{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
