"""scripts/mutants.py, the mutation check: a patch that no longer applies is said so, never a kill."""

from __future__ import annotations

import importlib.util
import sys

from labserver import REPO

spec = importlib.util.spec_from_file_location("mutants", REPO / "scripts" / "mutants.py")
mutants = sys.modules["mutants"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(mutants)


def test_every_mutant_applies_to_the_library_once():
    for m in mutants.MUTANTS:
        text = (REPO / m.path).read_text()
        assert text.count(m.old) == 1, f"{m.name}: its text is in {m.path} {text.count(m.old)} times"
        assert m.old != m.new and m.tests
    assert len({m.name for m in mutants.MUTANTS}) == len(mutants.MUTANTS) == 30


def test_a_patch_that_does_not_apply_is_reported_not_planted(tmp_path):
    (tmp_path / "lib.py").write_text("x = 1\nx = 1\ny = 2\n")
    missing = mutants.Mutant("X1", "gone", "lib.py", "z = 3", "z = 4", ("t",))
    twice = mutants.Mutant("X2", "ambiguous", "lib.py", "x = 1", "x = 2", ("t",))
    no_file = mutants.Mutant("X3", "moved", "elsewhere.py", "y = 2", "y = 3", ("t",))
    for m in (missing, twice, no_file):
        assert mutants.plant(tmp_path, m) is None
    assert (tmp_path / "lib.py").read_text() == "x = 1\nx = 1\ny = 2\n"
    once = mutants.Mutant("X4", "planted", "lib.py", "y = 2", "y = 3", ("t",))
    assert mutants.plant(tmp_path, once) == "x = 1\nx = 1\ny = 2\n"
    assert (tmp_path / "lib.py").read_text() == "x = 1\nx = 1\ny = 3\n"


def test_the_script_lists_its_mutants(capsys):
    assert mutants.main(["--list", "--only", "m06,M11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["M06", "M11"]
