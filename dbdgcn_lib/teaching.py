"""Helpers the notebooks share: the run mode, self-checks that can fail, solutions on request, and an
environment report.

Every exercise is checked against something the student computes: ``check`` compares their value
with the library's (``exact`` / ``close`` / ``wrong``), ``check_that`` applies a test such as a bound
on a loss curve. Both prove, at every call, that they can fail: ``check`` perturbs the expected value
and ``check_that`` runs its test on a known wrong answer; a check that would accept it raises
``CheckCannotFail``, so a notebook with such a check stops in CI.

Solutions live outside the notebooks, in ``notebooks/solutions/NN_topic.py`` (one ``# %% Exercise N``
section each), so that no answer shows before the student tries. ``solution = solutions("02")`` in a
setup cell, then ``solution(3)`` puts exercise 3's solution into a new cell. CI runs copies of the
notebooks with every solution inserted before its check (``scripts/solved_notebooks.py``) and sets
``DBDGCN_SOLUTIONS=1``: every check must then pass, or it raises ``SolutionFailed``.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from dbdgcn_lib.paths import display_path, repo_root

_TRUE = {"1", "true", "yes", "on"}
#: Set (to 1) where the solutions were inserted before the checks: every check must then pass.
SOLUTIONS_ENV = "DBDGCN_SOLUTIONS"


def smoke_mode() -> bool:
    """Whether notebooks run their short version: ``DBDGCN_SMOKE`` when it is set (1/true or 0/false),
    else True under CI (``CI`` set to a true value)."""
    explicit = os.environ.get("DBDGCN_SMOKE", "").strip().lower()
    if explicit:
        return explicit in _TRUE
    return os.environ.get("CI", "").strip().lower() in _TRUE


def notebook_mode(smoke: bool | None = None) -> bool:
    """Resolve a notebook's ``SMOKE`` parameter (None: follow the environment) and print the first line
    of its setup cell, ``mode: smoke`` or ``mode: full``. Returns the resolved flag.

    Warnings then show as one plain line, ``RuntimeWarning: <what it means>``, on stdout: not as a red
    box headed by the path of the file that raised them."""
    smoke = smoke_mode() if smoke is None else bool(smoke)
    print(f"mode: {'smoke' if smoke else 'full'}")
    warnings.showwarning = _show_warning_plainly
    return smoke


def _show_warning_plainly(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"{category.__name__}: {message}", file=sys.stdout)


def course_run(smoke: bool) -> dict:
    """The keyword arguments of the course's one quick DB-DGCN run (``training.quick_train``), shared by
    notebooks 02, 03 and 05: the first to run it trains it, the others load it from the run cache."""
    sizes = {"image_size": 96, "epochs": 2} if smoke else {"image_size": 128, "epochs": 8}
    return {"variant": "db_dgcn", "seed": 0, "cache": True, **sizes}


def ablation_run(smoke: bool) -> dict:
    """The keyword arguments every comparison run of notebooks 09, 10 and 11 shares (``quick_train`` or
    a ``quick_train_many`` job, with the variant, its switches and the seed added): one size and budget
    for every model compared, and the run cache, so that 10 and 11 load 09's runs instead of training
    them again. Full: 96 px, 12 epochs, all 2,000 training images; smoke: 64 px, 3 epochs, 640 images."""
    if smoke:
        return {"image_size": 64, "epochs": 3, "train_images": 640, "embed_dim": 64, "cache": True}
    return {"image_size": 96, "epochs": 12, "train_images": None, "embed_dim": 64, "cache": True}


def trainer_run(smoke: bool):
    """Notebook 07's ``Trainer`` run, which notebook 08 evaluates: ``(TrainConfig, run folder)``. The
    ``smoke`` preset on the embedded data (in smoke mode on a 320 / 160-image copy of it), written to
    ``<runs>/notebook07/smoke`` or ``.../full``."""
    from dbdgcn_lib.data import SyntheticSize, ensure_synthetic
    from dbdgcn_lib.paths import default_data_root, default_runs_root
    from dbdgcn_lib.training import get_preset

    folder = default_runs_root() / "notebook07" / ("smoke" if smoke else "full")
    if not smoke:
        return get_preset("smoke"), folder
    small = ensure_synthetic(
        default_data_root() / "synthetic-320", size=SyntheticSize(train=320, val=160, rare=8)
    )
    return get_preset("smoke", data=str(small)), folder


class CheckCannotFail(AssertionError):
    """An exercise's check would accept a wrong answer: the exercise is broken, not the student."""


class SolutionFailed(AssertionError):
    """With the solutions inserted (``DBDGCN_SOLUTIONS=1``), a check did not pass: a solution is wrong,
    or its exercise is."""


def solutions_present() -> bool:
    """Whether the solutions were inserted before the checks (``DBDGCN_SOLUTIONS`` set to a true value)."""
    return os.environ.get(SOLUTIONS_ENV, "").strip().lower() in _TRUE


def _require_pass(name: str, verdict: str, passing: tuple[str, ...]) -> str:
    if verdict not in passing and solutions_present():
        raise SolutionFailed(
            f"{name}: {verdict} with its solution inserted ({SOLUTIONS_ENV}=1); "
            "fix the solution or the exercise"
        )
    return verdict


def _as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def compare(answer, expected, *, rtol: float = 1e-4, atol: float = 1e-6) -> str:
    """Compare a reader's answer with the library's: ``"exact"``, ``"close"`` or ``"wrong"``.

    Numbers, arrays and tensors are compared element-wise (shapes must match); mappings key by key;
    anything else by equality. ``close`` means equal within ``rtol``/``atol`` but not bit-identical.
    """
    if isinstance(expected, Mapping):
        if not isinstance(answer, Mapping) or set(answer) != set(expected):
            return "wrong"
        verdicts = [compare(answer[k], expected[k], rtol=rtol, atol=atol) for k in expected]
        return "wrong" if "wrong" in verdicts else ("close" if "close" in verdicts else "exact")
    if isinstance(expected, (str, bytes)):
        return "exact" if answer == expected else "wrong"
    try:
        a, e = _as_array(answer), _as_array(expected)
    except (TypeError, ValueError):
        return "exact" if answer == expected else "wrong"
    if a.shape != e.shape:
        return "wrong"
    if np.array_equal(a, e, equal_nan=True):
        return "exact"
    if np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        return "close"
    return "wrong"


def perturbed(expected):
    """A wrong answer close to ``expected``: every number moved by 10% of its size plus 1, a string with
    a letter added, a mapping with every value perturbed. ``check`` must reject it."""
    if isinstance(expected, Mapping):
        return {k: perturbed(v) for k, v in expected.items()}
    if isinstance(expected, str):
        return expected + "x"
    if isinstance(expected, bool | np.bool_):
        return not expected
    array = _as_array(expected)
    moved = array + 0.1 * np.abs(np.nan_to_num(array)) + 1.0
    return moved if array.ndim else float(moved)


def check(name: str, answer, expected, **tolerances) -> str:
    """Print a one-line verdict on an exercise and return it (see :func:`compare`).

    ``answer=None`` means the reader has not tried yet: the verdict is ``"unanswered"``. Raises
    ``CheckCannotFail`` when ``expected`` would also accept a wrong answer (``perturbed(expected)``):
    an expected value of NaN, say, or a tolerance as large as the value; and ``SolutionFailed`` when
    the solutions are present (``solutions_present()``) and the verdict is not exact or close.
    """
    if compare(perturbed(expected), expected, **tolerances) != "wrong":
        raise CheckCannotFail(f"{name}: this check would accept a wrong answer; fix the exercise")
    if answer is None:
        print(f"{name}: no answer yet: replace None with your code")
        return _require_pass(name, "unanswered", ("exact", "close"))
    verdict = compare(answer, expected, **tolerances)
    marks = {"exact": "exact: well done", "close": "close: right up to rounding", "wrong": "wrong: try again"}
    detail = ""
    if verdict == "wrong":
        try:
            a, e = _as_array(answer), _as_array(expected)
            detail = (
                f" (shape {a.shape} vs expected {e.shape})"
                if a.shape != e.shape
                else f" (largest difference {np.nanmax(np.abs(a - e)):.4g})"
            )
        except (TypeError, ValueError):
            detail = ""
    print(f"{name}: {marks[verdict]}{detail}")
    return _require_pass(name, verdict, ("exact", "close"))


def check_that(name: str, answer, test: Callable[[object], tuple[bool, str]], *, wrong_example) -> str:
    """Check an answer with ``test(answer) -> (ok, explanation)`` (a bound, a shape, a property) and
    print the verdict: ``"right"``, ``"wrong"`` or ``"unanswered"``. ``wrong_example`` is an answer the
    test must reject; it is tried first, so a test that accepts everything raises ``CheckCannotFail``.
    With the solutions present, any verdict but ``"right"`` raises ``SolutionFailed``."""
    accepted, _ = test(wrong_example)
    if accepted:
        raise CheckCannotFail(
            f"{name}: this check accepts a wrong answer ({wrong_example!r}); fix the exercise"
        )
    if answer is None:
        print(f"{name}: no answer yet: replace None with your code")
        return _require_pass(name, "unanswered", ("right",))
    ok, why = test(answer)
    print(f"{name}: {'right: well done' if ok else 'wrong: try again'} ({why})")
    return _require_pass(name, "right" if ok else "wrong", ("right",))


SECTION = re.compile(r"^# %% Exercise (\d+)\s*$", re.MULTILINE)
CHECK_CALL = re.compile(r"""\bcheck(?:_that)?\(\s*["']Exercise (\d+)["']""")
EXERCISE_TEXT = re.compile(r"\*\*Exercise (\d+)\b")
#: The tag of a predict-then-run cell: the runner keeps no output of it, so that none shows before the
#: student has written a prediction.
EXPERIMENT_TAG = "experiment"


def _source(cell) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def exercise_checks(cells) -> dict[int, int]:
    """{exercise: index of its check cell}, from a notebook's cells: the code cell whose ``check`` or
    ``check_that`` is named ``"Exercise N"``."""
    found: dict[int, int] = {}
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            for number in CHECK_CALL.findall(_source(cell)):
                found.setdefault(int(number), index)
    return found


def solution_target(cells, number: int) -> int | None:
    """Index of the cell that exercise ``number``'s solution runs before: its check cell, or for a
    predict-then-run exercise without one, the first cell tagged ``experiment`` after its text."""
    checks = exercise_checks(cells)
    if number in checks:
        return checks[number]
    text = next(
        (
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "markdown" and str(number) in EXERCISE_TEXT.findall(_source(c))
        ),
        None,
    )
    if text is None:
        return None
    return next(
        (
            i
            for i in range(text + 1, len(cells))
            if cells[i]["cell_type"] == "code"
            and EXPERIMENT_TAG in cells[i].get("metadata", {}).get("tags", [])
        ),
        None,
    )


def solutions_file(notebook: str) -> Path:
    """The solutions of notebook ``notebook`` ("02", or its file name): ``solutions/02_*.py`` beside the
    notebooks (the working directory of a notebook's kernel), else in the repository's ``notebooks/``."""
    number = Path(notebook).name[:2]
    folders = [Path.cwd() / "solutions"]
    if repo_root() is not None:
        folders.append(repo_root() / "notebooks" / "solutions")
    for folder in folders:
        found = sorted(folder.glob(f"{number}_*.py"))
        if found:
            return found[0]
    raise FileNotFoundError(
        f"no solutions for notebook {number}: looked for {number}_*.py in "
        + " and ".join(display_path(f) for f in folders)
    )


def read_solutions(path: str | os.PathLike) -> dict[int, str]:
    """{exercise number: code} from a solutions file, one section per ``# %% Exercise N`` line."""
    text = Path(path).read_text()
    marks = list(SECTION.finditer(text))
    sections: dict[int, str] = {}
    for mark, end in zip(marks, [m.start() for m in marks[1:]] + [len(text)]):
        number = int(mark.group(1))
        if number in sections:
            raise ValueError(f"{display_path(path)}: two sections for exercise {number}")
        sections[number] = text[mark.end() : end].strip("\n") + "\n"
    return sections


def solutions(notebook: str) -> Callable[[int], None]:
    """``solution = solutions("02")`` (a notebook's setup cell) gives ``solution(n)``, which puts a
    solution to exercise ``n`` into a new cell below the one that called it (in Jupyter, as ``%load``
    does), ready to run before the exercise's check; elsewhere it prints the code. The file is looked
    up when a solution is asked for, so a notebook without its solutions still runs."""

    def solution(number: int) -> None:
        path = solutions_file(notebook)
        code = read_solutions(path)
        if number not in code:
            raise ValueError(
                f"notebook {Path(notebook).name[:2]} has solutions to exercises "
                f"{', '.join(map(str, sorted(code)))}, not to {number} (open questions have a model answer "
                "under their text instead)"
            )
        header = f"# Exercise {number}, a solution ({display_path(path)}): run this cell, then the next one"
        cell = f"{header}\n{code[number]}"
        shell = _ipython()
        if shell is not None and hasattr(shell, "set_next_input"):
            shell.set_next_input(cell, replace=False)
        else:
            print(cell)

    return solution


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def environment_report() -> dict[str, str]:
    """Versions and the compute device, for notebook 00's environment check."""
    import matplotlib
    import torch
    import torchvision

    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "device": device,
        "smoke mode": str(smoke_mode()),
    }
