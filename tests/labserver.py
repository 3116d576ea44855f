"""Start a JupyterLab server for a test, wait until it answers, and stop it with its whole process group.

Shared by tests/test_lab.py (the ``make lab`` command itself) and tests/test_browser.py (Chromium).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A localhost port that was free a moment ago (the server gets port_retries=0, so no silent switch)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_args(port: int, *, allow_root: bool = False) -> list[str]:
    """Options for a local, token-less, browserless server on ``port``."""
    args = [
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if allow_root and os.geteuid() == 0:  # jupyter refuses root without it (containers, CI)
        args.append("--allow-root")
    return args


def isolated_env(home: Path, settings: dict[str, dict] | None = None) -> dict[str, str]:
    """Environment for the server: this interpreter's bin/ first on PATH (the python3 kernelspec runs
    plain ``python``) and Jupyter config, runtime, settings and workspaces under ``home``, so a user's
    own configuration (a password, a saved layout) cannot change what the test sees.

    ``settings`` maps a JupyterLab plugin id (``@jupyterlab/notebook-extension:tracker``) to user settings.
    """
    env = dict(os.environ)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # a `make lab` inside `make -i test` is still strict
        env.pop(name, None)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env["JUPYTER_CONFIG_DIR"] = str(home / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(home / "settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(home / "workspaces")
    env["PYTHONUNBUFFERED"] = "1"
    for plugin, values in (settings or {}).items():
        package, name = plugin.split(":")
        path = home / "settings" / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return env


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """HTTP GET: (status, body); (0, b"") when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, b""


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (make, jupyter, kernels), SIGKILL after 15 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # children that outlived their parent (a kernel) still belong to the group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_server(
    cmd: Sequence[str], *, port: int, cwd: Path, env: dict[str, str], log: Path, timeout: float = 60.0
) -> Iterator[str]:
    """Run ``cmd`` in its own process group, wait until ``/api/status`` answers 200, yield the base URL.

    Raises AssertionError with the server's log when it exits early or does not answer in ``timeout``.
    """
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            status, _ = get(f"{base}/api/status", timeout=2)
            if status == 200:
                break
            if proc.poll() is not None:
                raise AssertionError(f"{cmd[0]} exited with {proc.returncode} before answering:\n{tail(log)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer on {base}/api/status within {timeout:.0f} s:\n{tail(log)}")
            time.sleep(0.5)
        yield base
    finally:
        stop(proc)


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
