"""No answer shows before the student tries, and every exercise is solvable.

Solutions live in ``notebooks/solutions/NN_topic.py`` (``solution(n)`` reveals one); CI runs copies of
the notebooks with each solution inserted before its check (``scripts/solved_notebooks.py``), where a
check that does not pass raises. These tests guard the committed notebooks and the solution files:
no solution code left in a notebook, no stored outcome under a predict-then-run experiment, a solution
section for every check and a check (or experiment) for every section, no solution that writes the
student's prediction, and test-harness markers kept out of what students read.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from dbdgcn_lib.teaching import (
    EXERCISE_TEXT,
    EXPERIMENT_TAG,
    SOLUTIONS_ENV,
    exercise_checks,
    read_solutions,
    solution_target,
)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(REPO / "scripts"))
from solved_notebooks import solved_copy  # noqa: E402


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _solutions(path: Path) -> Path:
    return path.parent / "solutions" / f"{path.stem}.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_code_is_left_in_the_notebook(path):
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        hidden = cell.get("metadata", {}).get("jupyter", {}).get("source_hidden")
        assert not hidden, f"{path.name} cell {index}: a hidden cell (solutions live in notebooks/solutions/)"
        assert not _source(cell).lstrip().startswith("# Solution"), f"{path.name} cell {index}: solution code"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_outcome_is_stored_under_an_experiment(path):
    cells = _cells(path)
    experiments = [i for i, c in enumerate(cells) if EXPERIMENT_TAG in _tags(c)]
    assert all(cells[i]["cell_type"] == "code" for i in experiments)
    stored = [i for i in experiments if cells[i].get("outputs")]
    assert not stored, f"{path.name}: outputs stored under experiment cell(s) {stored}"
    predicts = [c for c in cells if c["cell_type"] == "markdown" and "(predict, then run)" in _source(c)]
    assert len(experiments) >= len(predicts), (
        f"{path.name}: a predict-then-run exercise without an experiment"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_check_has_a_solution_and_every_solution_a_place(path):
    cells = _cells(path)
    sections = read_solutions(_solutions(path)) if _solutions(path).is_file() else {}
    checks = exercise_checks(cells)
    assert not set(checks) - set(sections), (
        f"{path.name}: checks without a solution {set(checks) - set(sections)}"
    )
    for number in sections:
        assert solution_target(cells, number) is not None, f"{path.name}: solution {number} has no check"
        texts = [_source(c) for c in cells if c["cell_type"] == "markdown"]
        exercise = next(t for t in texts if str(number) in EXERCISE_TEXT.findall(t))
        assert f"`solution({number})`" in exercise, (
            f"{path.name}: exercise {number} does not say how to reveal it"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_setup_cell_offers_the_solutions(path):
    setup = next(_source(c) for c in _cells(path) if "notebook_mode(SMOKE)" in _source(c))
    assert f'solution = solutions("{path.name[:2]}")' in setup


@pytest.mark.parametrize(
    "path", sorted((REPO / "notebooks" / "solutions").glob("*.py")), ids=lambda p: p.stem
)
def test_solutions_parse_and_never_write_the_students_prediction(path):
    assert (REPO / "notebooks" / f"{path.stem}.ipynb").is_file(), f"{path.name}: no notebook of that name"
    for number, code in read_solutions(path).items():
        tree = ast.parse(code, filename=f"{path.name}, exercise {number}")
        targets = [
            t.id
            for node in ast.walk(tree)
            for t in getattr(node, "targets", [getattr(node, "target", None)])
            if isinstance(t, ast.Name)
        ]
        assert "prediction" not in targets, f"{path.name}, exercise {number} assigns the student's prediction"
        assert SOLUTIONS_ENV not in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_test_harness_markers_stay_out_of_what_students_read(path):
    for index, cell in enumerate(_cells(path)):
        assert "NBVAL_" not in _source(cell), f"{path.name} cell {index}: an nbval comment (use the cell tag)"
        checked = "nbval-check-output" in _tags(cell)
        is_check = cell["cell_type"] == "code" and exercise_checks([cell])
        assert not (checked and (is_check or EXPERIMENT_TAG in _tags(cell))), (
            f"{path.name} cell {index}: an exercise's check or experiment has no stored output to compare"
        )


def test_solved_copy_inserts_each_solution_before_its_check(tmp_path):
    cells = [
        nbformat.v4.new_markdown_cell("**Exercise 1.** Compute it."),
        nbformat.v4.new_code_cell("answer = None"),
        nbformat.v4.new_code_cell('check("Exercise 1", answer, 42)'),
        nbformat.v4.new_markdown_cell("**Exercise 2 (predict, then run).** Guess."),
        nbformat.v4.new_code_cell("prediction = None\nlabels = None"),
        nbformat.v4.new_code_cell("print(labels)"),
    ]
    cells[-1].metadata["tags"] = [EXPERIMENT_TAG]
    notebook = tmp_path / "42_topic.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    solutions = tmp_path / "42_topic.py"
    solutions.write_text("# %% Exercise 1\nanswer = 6 * 7\n\n# %% Exercise 2\nlabels = [1]\n")
    copy = solved_copy(notebook, solutions)
    sources = [cell.source for cell in copy.cells]
    assert re.search(rf'os.environ\["{SOLUTIONS_ENV}"\] = "1"', sources[0])
    assert sources[1:] == [
        cells[0].source, "answer = None", "answer = 6 * 7\n", cells[2].source,
        cells[3].source, cells[4].source, "labels = [1]\n", "print(labels)",
    ]  # fmt: skip
    nbformat.validate(copy)
    solutions.write_text("# %% Exercise 2\nlabels = [1]\n")
    with pytest.raises(ValueError, match=r"no solution in 42_topic.py for exercise\(s\) \[1\]"):
        solved_copy(notebook, solutions)
    solutions.write_text("# %% Exercise 1\nanswer = 42\n\n# %% Exercise 3\nx = 1\n")
    with pytest.raises(ValueError, match=r"exercise\(s\) \[3\] of 42_topic.py have no check"):
        solved_copy(notebook, solutions)
