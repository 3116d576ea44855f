"""`make lab` brings up a JupyterLab server on notebooks/ that answers on localhost."""

from __future__ import annotations

import json
import shutil

import pytest
from labserver import REPO, free_port, get, isolated_env, running_server, server_args


@pytest.mark.slow
def test_make_lab_serves_notebooks(tmp_path):
    make = shutil.which("make")
    assert make, "make is not installed: `make lab` is one of the course's two commands"
    port = free_port()
    # exactly the user's command; LAB_ARGS keeps it headless on a free port without a token
    cmd = [make, "--no-print-directory", "lab", "LAB_ARGS=" + " ".join(server_args(port))]
    env = isolated_env(tmp_path / "jupyter")
    # `make lab` may first generate the embedded dataset (under 30 s), then start the server
    with running_server(cmd, port=port, cwd=REPO, env=env, log=tmp_path / "lab.log", timeout=120) as base:
        status, body = get(f"{base}/lab", timeout=10)
        assert status == 200, f"/lab answered {status}"
        assert b"jupyter-config-data" in body, "/lab did not serve the JupyterLab page"

        status, body = get(f"{base}/api/contents/", timeout=10)
        assert status == 200, f"/api/contents answered {status}"
        served = {item["name"] for item in json.loads(body)["content"]}
        assert "pyproject.toml" not in served, "the server is rooted at the repository, not notebooks/"
        notebooks = {p.name for p in (REPO / "notebooks").glob("*.ipynb")}
        assert notebooks <= served, f"notebooks missing from the server's root: {sorted(notebooks - served)}"

        status, body = get(f"{base}/api/kernelspecs", timeout=10)
        assert status == 200 and b"python3" in body, "no python3 kernel for the notebooks"
