"""Execute the notebook series headless, in order, and print how long each notebook took.

``make notebooks`` runs this in full mode and writes the outputs back into each notebook, so the
committed notebooks show what running them gives a student; ``make notebooks SMOKE=1`` runs the short
version CI checks.

    python scripts/run_notebooks.py                     # every notebooks/NN_*.ipynb, full, in place
    python scripts/run_notebooks.py --smoke             # the smoke version (DBDGCN_SMOKE=1)
    python scripts/run_notebooks.py notebooks/04_*.ipynb --output-dir /tmp/out

What it writes is what a student should see on opening a notebook, nothing more:

- no widget state and no widget views: an explorer keeps its one-line text form (it follows a static
  figure of the same thing), a progress bar its last line;
- no output under a cell tagged ``experiment`` (a predict-then-run exercise's outcome);
- one kernelspec, as ipykernel writes it, and the kernel's ``language_info``, so that JupyterLab does
  not mark a notebook it has just opened as modified.

No cell has a time limit (``--timeout`` sets one): a busy machine makes a healthy run slower, not
wrong. A notebook that fails is reported with the reason and left untouched on disk; the others still
run, and the exit status is 1 when any failed.
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

from dbdgcn_lib.teaching import EXPERIMENT_TAG, SOLUTIONS_ENV

REPO = Path(__file__).resolve().parent.parent
SERIES = re.compile(r"^\d\d_.*\.ipynb$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
WIDGET_MIME = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
SLOW_CELL_S = 20.0  # cells that took longer are named as they finish: progress on a long notebook


def series_notebooks(folder: Path) -> list[Path]:
    """``NN_*.ipynb`` in ``folder``, in series order (by file name)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and SERIES.match(p.name))


def tidy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What a student should see on opening ``nb`` (see the module): widget state and views removed
    (their text form kept), empty outputs dropped, experiments' outputs removed, one kernelspec."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if EXPERIMENT_TAG in cell.metadata.get("tags", []):
            cell.outputs = []
            continue
        kept = []
        for out in cell.outputs:
            if "data" in out:
                for mime in WIDGET_MIME:
                    out.data.pop(mime, None)
                if not any(str(value).strip() for value in out.data.values()):
                    continue  # a widget without a text form, or a closed bar that left nothing
            kept.append(out)
        cell.outputs = kept
    return nb


def execute(path: Path, out: Path, timeout: int | None, kernel_name: str | None) -> None:
    """Run every cell of ``path`` with the notebook's folder as working directory, tidy it and write
    ``out``. Nothing is written when a cell fails, so a broken run never replaces good stored outputs."""
    nb = nbformat.read(path, as_version=4)
    name = kernel_name or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    started: dict[int, float] = {}

    def on_start(cell, cell_index):
        started[cell_index] = time.perf_counter()

    def on_done(cell, cell_index, execute_reply):
        took = time.perf_counter() - started.get(cell_index, time.perf_counter())
        if took >= SLOW_CELL_S:
            done = sum(c.cell_type == "code" for c in nb.cells[: cell_index + 1])
            print(f"  {path.name}: code cell {done}/{code_cells} took {took:.0f} s", flush=True)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=name,
        record_timing=False,  # no per-cell timestamps: they would make every run a diff
        store_widget_state=False,
        on_cell_start=on_start,
        on_cell_executed=on_done,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(tidy(nb), out)


def why_it_stopped(err: Exception, timeout: int | None) -> str:
    if isinstance(err, CellTimeoutError):
        return f"a cell ran longer than --timeout {timeout} s (no limit without --timeout)"
    if isinstance(err, DeadKernelError):
        return "the kernel died (out of memory? killed?)"
    return "a cell raised an error:\n" + "\n".join(str(err).strip().splitlines()[-15:])


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
    parser.add_argument("--timeout", type=int, help="seconds allowed per cell (default: no limit)")
    parser.add_argument("--kernel", help="kernel name (default: the notebook's own kernelspec)")
    parser.add_argument("--smoke", action="store_true", help="the short version (default: full mode)")
    args = parser.parse_args(argv)

    # reaches the kernels, which inherit this environment; an explicit value wins over CI
    os.environ["DBDGCN_SMOKE"] = "1" if args.smoke else "0"
    os.environ.pop(SOLUTIONS_ENV, None)  # the stored notebooks show a student's view: no solutions
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
    limit = f"at most {args.timeout} s per cell" if args.timeout else "no time limit per cell"
    print(f"executing {len(paths)} notebook(s) in {mode} mode, {limit}", flush=True)
    rows: list[tuple[str, str, float]] = []
    start_all = time.perf_counter()
    for number, path in enumerate(paths, 1):
        out = args.output_dir / path.name if args.output_dir else path
        print(f"[{number}/{len(paths)}] {path.name} ...", flush=True)
        start = time.perf_counter()
        try:
            execute(path, out, args.timeout, args.kernel)
            status = "ok"
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            status = "FAILED"
            reason = why_it_stopped(err, args.timeout)
            print(f"\n{path.name} stopped: {reason}\n", file=sys.stderr, flush=True)
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
