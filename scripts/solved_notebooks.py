"""Copies of the notebook series with every exercise's solution inserted, for CI to run.

Each copy is the committed notebook, stored outputs included (nbval compares the cells tagged
``nbval-check-output`` with them), with one cell per solution section of
``notebooks/solutions/NN_topic.py`` inserted just before the exercise's check (or, for a
predict-then-run exercise without one, before its experiment), and a first cell that sets
``DBDGCN_SOLUTIONS=1``: every ``check`` and ``check_that`` must then pass, or raise. One smoke run of
the copies under nbval proves at once that the series runs and that each solution passes its check.

    python scripts/solved_notebooks.py                  # notebooks/NN_*.ipynb -> notebooks/.solved/
    pytest --nbval-lax --nbval-current-env notebooks/.solved/

The copies sit in a hidden folder under ``notebooks/`` (JupyterLab does not list it; ``.gitignore`` and
``make clean`` cover it). The notebooks find data, runs and solutions from the repository, not from
their folder, and write their exports beside themselves, so they run there as they do in ``notebooks/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from dbdgcn_lib.teaching import SOLUTIONS_ENV, exercise_checks, read_solutions, solution_target

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from run_notebooks import series_notebooks  # noqa: E402


def solved_copy(path: Path, solutions: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` with the sections of ``solutions`` inserted (see the module).

    Raises ``ValueError`` when a check has no solution section or a section has no place to go."""
    nb = nbformat.read(path, as_version=4)
    sections = read_solutions(solutions) if solutions.is_file() else {}
    unsolved = sorted(set(exercise_checks(nb.cells)) - set(sections))
    if unsolved:
        raise ValueError(f"{path.name}: no solution in {solutions.name} for exercise(s) {unsolved}")
    targets = {number: solution_target(nb.cells, number) for number in sections}
    lost = sorted(number for number, index in targets.items() if index is None)
    if lost:
        raise ValueError(
            f"{path.name}: exercise(s) {lost} of {solutions.name} have no check or experiment cell"
        )
    for number, index in sorted(targets.items(), key=lambda item: -item[1]):
        cell = nbformat.v4.new_code_cell(sections[number], id=f"solution-{number}")
        cell.metadata["tags"] = ["solution"]
        nb.cells.insert(index, cell)
    flag = f'import os\n\nos.environ["{SOLUTIONS_ENV}"] = "1"  # inserted by scripts/solved_notebooks.py'
    nb.cells.insert(0, nbformat.v4.new_code_cell(flag, id="solutions-present"))
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO / "notebooks", help="folder holding the series")
    parser.add_argument("--out", type=Path, help="where the copies go (default: <dir>/.solved)")
    args = parser.parse_args(argv)
    out = args.out or args.dir / ".solved"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.ipynb"):
        stale.unlink()
    paths = series_notebooks(args.dir)
    try:
        for path in paths:
            nbformat.write(solved_copy(path, args.dir / "solutions" / f"{path.stem}.py"), out / path.name)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{len(paths)} notebook(s) with their solutions inserted in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
