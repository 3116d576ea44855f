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
    from dbdgcn_lib.teaching import notebook_mode

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
