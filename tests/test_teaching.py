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
    [({"CI": "true"}, True), ({"DBDGCN_SMOKE": "1"}, True), ({"DBDGCN_SMOKE": "0"}, False), ({}, False)],
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
