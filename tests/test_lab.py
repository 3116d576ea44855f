"""`make lab` brings up a JupyterLab server on notebooks/ that answers on localhost.

Hermetic: the command runs in a scratch copy of the course whose ``.venv`` is this interpreter's
environment (a ``python`` that hands over to it, and an install stamp), so nothing is installed and
nothing is written into the checkout or the user's Jupyter folders. The install itself is covered by
tests/test_make.py's dry runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from labserver import REPO, VENV_BIN, free_port, get, isolated_env, running_server, server_args


def scratch_course(tmp_path):
    """The Makefile, pyproject.toml, library and notebooks in ``tmp_path / "course"``, with a ``.venv``
    that is this interpreter's environment and is already installed (the stamp is newer than
    pyproject.toml); the embedded dataset is copied when the checkout has it (else ``make lab``
    generates it in the copy)."""
    if not (VENV_BIN / "jupyter").exists():
        pytest.skip(f"no jupyter next to {sys.executable}: `make lab` would have to install it")
    course = tmp_path / "course"
    course.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, course / name)
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "label_graph*")
    for folder in ("dbdgcn_lib", "notebooks"):
        shutil.copytree(REPO / folder, course / folder, ignore=ignore)
    if (REPO / "data" / "synthetic" / "generator.json").exists():
        shutil.copytree(REPO / "data" / "synthetic", course / "data" / "synthetic")
    bin_dir = course / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    (course / ".venv" / ".installed").touch()
    return course


@pytest.mark.slow
def test_make_lab_serves_notebooks(tmp_path):
    make = shutil.which("make")
    assert make, "make is not installed: `make lab` is one of the course's two commands"
    course = scratch_course(tmp_path)
    port = free_port()
    # exactly the user's command; LAB_ARGS keeps it headless on a free port without a token
    cmd = [make, "--no-print-directory", "lab", "LAB_ARGS=" + " ".join(server_args(port))]
    env = isolated_env(tmp_path / "jupyter")
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter" / "data")  # `jupyter trust` writes its database there
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(course), env.get("PYTHONPATH")])
    )  # the copy's library
    # `make lab` may first generate the embedded dataset (under 30 s), then start the server
    with running_server(cmd, port=port, cwd=course, env=env, log=tmp_path / "lab.log", timeout=120) as base:
        status, body = get(f"{base}/lab", timeout=10)
        assert status == 200, f"/lab answered {status}"
        assert b"jupyter-config-data" in body, "/lab did not serve the JupyterLab page"

        status, body = get(f"{base}/api/contents/", timeout=10)
        assert status == 200, f"/api/contents answered {status}"
        served = {item["name"] for item in json.loads(body)["content"]}
        assert "pyproject.toml" not in served, "the server is rooted at the repository, not notebooks/"
        notebooks = {p.name for p in (course / "notebooks").glob("*.ipynb")}
        assert notebooks and notebooks <= served, f"notebooks missing: {sorted(notebooks - served)}"

        status, body = get(f"{base}/api/kernelspecs", timeout=10)
        assert status == 200 and b"python3" in body, "no python3 kernel for the notebooks"
    assert (course / "data" / "synthetic" / "generator.json").exists()
    assert not (course / ".venv" / "lib").exists(), "make lab installed into the scratch copy's .venv"
