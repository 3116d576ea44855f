import numpy as np
import pytest
import torch

from dbdgcn_lib.teaching import check, compare, smoke_mode


@pytest.mark.parametrize(
    ("answer", "expected", "verdict"),
    [
        (3, 3, "exact"),
        (np.array([1.0, 2.0]), torch.tensor([1.0, 2.0]), "exact"),
        (np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]), "close"),
        (np.array([1.0, 2.0]), np.array([1.0, 2.5]), "wrong"),
        (np.zeros((2, 3)), np.zeros((3, 2)), "wrong"),
        ({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0 + 1e-9}, "close"),
        ({"a": 1.0}, {"a": 1.0, "b": 2.0}, "wrong"),
        ("person", "person", "exact"),
        ("person", "persons", "wrong"),
        (np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), "exact"),
    ],
)
def test_compare_verdicts(answer, expected, verdict):
    assert compare(answer, expected) == verdict


def test_check_prints_verdict_and_difference(capsys):
    assert check("ex1", [1.0, 2.0], [1.0, 3.0]) == "wrong"
    out = capsys.readouterr().out
    assert out.startswith("ex1: wrong") and "largest difference 1" in out


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CI": "true"}, True),
        ({"DBDGCN_SMOKE": "1"}, True),
        ({"DBDGCN_SMOKE": "0"}, False),
        ({"CI": "true", "DBDGCN_SMOKE": "0"}, False),  # an explicit full run wins
        ({}, False),
    ],
)
def test_smoke_mode_follows_environment(monkeypatch, env, expected):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DBDGCN_SMOKE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert smoke_mode() is expected


def test_check_without_answer_says_so(capsys):
    assert check("ex2", None, [1.0]) == "unanswered"
    assert "no answer yet" in capsys.readouterr().out


def test_notebook_mode_prints_the_first_line(capsys, monkeypatch):
    import warnings

    from dbdgcn_lib.teaching import notebook_mode

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # notebook_mode replaces it

    monkeypatch.setenv("DBDGCN_SMOKE", "1")
    assert notebook_mode(None) is True and capsys.readouterr().out == "mode: smoke\n"
    assert notebook_mode(False) is False and capsys.readouterr().out == "mode: full\n"


@pytest.mark.parametrize("expected", [3, 0.0, -2.5, np.arange(4.0), {"a": 1.0, "b": np.ones(2)}, "cup", True])
def test_every_check_rejects_a_perturbed_answer(expected):
    from dbdgcn_lib.teaching import perturbed

    assert compare(perturbed(expected), expected) == "wrong"
    assert check("ex", expected, expected) in ("exact", "close")


@pytest.mark.parametrize(
    ("expected", "tolerances"), [(np.nan, {}), (5.0, {"atol": 100.0}), ([np.nan, 1.0], {"rtol": 10})]
)
def test_a_check_that_cannot_fail_stops_the_notebook(expected, tolerances):
    from dbdgcn_lib.teaching import CheckCannotFail

    with pytest.raises(CheckCannotFail, match="would accept a wrong answer"):
        check("ex", None, expected, **tolerances)


def test_check_that_uses_a_test_and_proves_it_can_fail(capsys):
    from dbdgcn_lib.teaching import CheckCannotFail, check_that

    def below_tenth(losses):
        return losses[-1] < 0.1 * losses[0], f"final loss {losses[-1]:.3g} vs first {losses[0]:.3g}"

    assert check_that("ex", [1.0, 0.05], below_tenth, wrong_example=[1.0, 0.9]) == "right"
    assert check_that("ex", [1.0, 0.5], below_tenth, wrong_example=[1.0, 0.9]) == "wrong"
    assert check_that("ex", None, below_tenth, wrong_example=[1.0, 0.9]) == "unanswered"
    assert "final loss 0.5" in capsys.readouterr().out
    with pytest.raises(CheckCannotFail):
        check_that("ex", [1.0], lambda losses: (True, "always"), wrong_example=[1.0, 2.0])


def test_the_trainer_run_of_notebook_07_is_the_smoke_preset(tmp_path, monkeypatch):
    from dbdgcn_lib.teaching import trainer_run
    from dbdgcn_lib.training import get_preset

    monkeypatch.setenv("DBDGCN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DBDGCN_RUNS", str(tmp_path / "runs"))
    full, folder = trainer_run(False)
    assert full == get_preset("smoke") and folder == tmp_path / "runs" / "notebook07" / "full"
    small, folder = trainer_run(True)
    assert small.data == str(tmp_path / "data" / "synthetic-320") and folder.name == "smoke"
    assert small == get_preset("smoke", data=small.data)


def test_with_the_solutions_present_every_check_must_pass(monkeypatch, capsys):
    from dbdgcn_lib.teaching import SOLUTIONS_ENV, SolutionFailed, check_that

    def positive(x):
        return x > 0, f"{x} > 0"

    monkeypatch.delenv(SOLUTIONS_ENV, raising=False)
    assert check("ex", 2.0, 3.0) == "wrong" and check("ex", None, 3.0) == "unanswered"  # a student: told
    monkeypatch.setenv(SOLUTIONS_ENV, "1")
    assert check("ex", 3.0, 3.0) == "exact" and check("ex", 3.0 + 1e-9, 3.0) == "close"
    assert check_that("ex", 1.0, positive, wrong_example=-1.0) == "right"
    for answer in (2.0, None):
        with pytest.raises(SolutionFailed, match="ex: (wrong|unanswered) with its solution inserted"):
            check("ex", answer, 3.0)
    for answer in (-2.0, None):
        with pytest.raises(SolutionFailed):
            check_that("ex", answer, positive, wrong_example=-1.0)
    assert "ex: wrong: try again" in capsys.readouterr().out  # the verdict is printed before it raises


SOLUTIONS_TEXT = '''"""Solutions to notebook 42."""

# %% Exercise 1
answer = 6 * 7

# %% Exercise 3
def f(x):
    return x + 1


answer = f(1)
'''


def test_solutions_file_sections(tmp_path):
    from dbdgcn_lib.teaching import read_solutions

    path = tmp_path / "42_topic.py"
    path.write_text(SOLUTIONS_TEXT)
    sections = read_solutions(path)
    assert sections == {1: "answer = 6 * 7\n", 3: "def f(x):\n    return x + 1\n\n\nanswer = f(1)\n"}
    path.write_text(SOLUTIONS_TEXT + "\n# %% Exercise 1\nanswer = 0\n")
    with pytest.raises(ValueError, match="two sections for exercise 1"):
        read_solutions(path)


def test_solution_puts_the_code_in_a_new_cell_or_prints_it(tmp_path, monkeypatch, capsys):
    from dbdgcn_lib import teaching

    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "42_topic.py").write_text(SOLUTIONS_TEXT)
    monkeypatch.chdir(tmp_path)  # a notebook's kernel runs in the notebook's folder
    solution = teaching.solutions("42")
    monkeypatch.setattr(teaching, "_ipython", lambda: None)
    assert solution(1) is None
    printed = capsys.readouterr().out
    assert printed.startswith("# Exercise 1, a solution (") and printed.endswith("answer = 6 * 7\n\n")

    class Shell:  # what IPython offers: %load fills the next cell the same way
        def set_next_input(self, text, replace):
            self.cell, self.replace = text, replace

    shell = Shell()
    monkeypatch.setattr(teaching, "_ipython", lambda: shell)
    solution(3)
    assert shell.replace is False and shell.cell.splitlines()[1:] == [
        "def f(x):",
        "    return x + 1",
        "",
        "",
        "answer = f(1)",
    ]
    with pytest.raises(ValueError, match="solutions to exercises 1, 3, not to 2"):
        solution(2)
    missing = teaching.solutions("43")  # the setup cell runs without the file; asking for one says why
    with pytest.raises(FileNotFoundError, match="no solutions for notebook 43"):
        missing(1)


def test_the_course_solutions_are_found_from_any_folder(tmp_path, monkeypatch):
    from dbdgcn_lib.teaching import solutions_file

    monkeypatch.chdir(tmp_path)  # not notebooks/: the repository's notebooks/solutions/ answers
    assert solutions_file("02").parent.name == "solutions" and solutions_file("02").name.startswith("02_")
    assert solutions_file("02_backbone_multiscale.ipynb") == solutions_file("02")


def test_warnings_read_as_one_plain_line_in_a_notebook(monkeypatch, capsys):
    import warnings

    from dbdgcn_lib.teaching import notebook_mode

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored after the test
    notebook_mode(True)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("2 class(es) have no positive example", RuntimeWarning, stacklevel=1)
    captured = capsys.readouterr()
    assert captured.out == "mode: smoke\nRuntimeWarning: 2 class(es) have no positive example\n"
    assert captured.err == ""


def test_the_comparison_runs_share_one_size_and_the_cache():
    """Notebooks 09, 10 and 11 compare models trained alike, and 10 and 11 load 09's runs: the shared
    arguments are quick_train's, with the cache on, in both modes."""
    import inspect

    from dbdgcn_lib.teaching import ablation_run
    from dbdgcn_lib.training.quick import quick_train

    for smoke in (True, False):
        arguments = ablation_run(smoke)
        inspect.signature(quick_train).bind(variant="db_dgcn", seed=0, **arguments)
        assert arguments["cache"] is True
    assert ablation_run(True)["image_size"] < ablation_run(False)["image_size"]
