"""``python -m dbdgcn_lib data synthetic`` end to end, through the real command line."""

import json

from dbdgcn_lib import cli
from dbdgcn_lib.data import CocoMultiLabel


def test_data_synthetic_command(tmp_path, capsys):
    root = tmp_path / "synthetic"
    assert cli.main(["data", "synthetic", "--root", str(root), "--size", "tiny", "--seed", "7"]) == 0
    assert f"wrote {root} (train 48, val 16, rare 8, plain 16 images)" in capsys.readouterr().out
    assert json.loads((root / "generator.json").read_text())["seed"] == 7
    assert len(CocoMultiLabel(root, "val", image_size=32)) > 0


def test_data_synthetic_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert cli.main(["data", "synthetic", "--root", str(tmp_path), "--size", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not empty" in err and err.count("\n") == 1
    assert cli.main(["data", "synthetic", "--root", str(tmp_path / "x"), "--seed", "-3"]) == 2
    assert "--seed" in capsys.readouterr().err
