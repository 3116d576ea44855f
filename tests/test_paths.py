"""Paths as messages and notebooks print them: never a path of the machine that ran them."""

from pathlib import Path

from dbdgcn_lib.paths import display_path, repo_root


def test_display_path_relative_to_the_repository_the_data_root_and_home(monkeypatch, tmp_path):
    monkeypatch.setenv("DBDGCN_DATA", str(tmp_path / "shared-data"))
    monkeypatch.setenv("DBDGCN_RUNS", str(tmp_path / "shared-runs"))
    assert display_path(repo_root() / "data" / "coco") == "data/coco"
    assert display_path(tmp_path / "shared-data" / "coco") == "$DBDGCN_DATA/coco"
    assert display_path(tmp_path / "shared-data") == "$DBDGCN_DATA"
    assert display_path(tmp_path / "shared-runs" / "quick" / "x.pt") == "$DBDGCN_RUNS/quick/x.pt"
    assert display_path(Path.home() / ".cache" / "x") == "~/.cache/x"
    assert display_path("data/coco") == "data/coco"
    monkeypatch.delenv("DBDGCN_DATA")
    assert display_path(tmp_path / "shared-data" / "coco") == str(tmp_path / "shared-data" / "coco")
