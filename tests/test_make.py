"""The Makefile's install logic (dry runs in a scratch copy) and the runner behind `make notebooks`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def scratch_checkout(tmp_path: Path, *, venv: bool, stamp_newer: bool) -> Path:
    """The Makefile and pyproject.toml in an empty folder, with a fake .venv (no real install)."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    if venv:
        bin_dir = root / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "python").write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / "python").chmod(0o755)
        stamp = root / ".venv" / ".installed"
        stamp.touch()
        now = time.time()
        os.utime(root / "pyproject.toml", (now - 100, now - 100) if stamp_newer else (now + 100, now + 100))
    return root


def dry_run(root: Path, *targets: str) -> str:
    result = subprocess.run(
        [MAKE, "-n", "--no-print-directory", *targets], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_make
def test_fresh_checkout_creates_venv_and_installs(tmp_path):
    out = dry_run(scratch_checkout(tmp_path, venv=False, stamp_newer=False), "test")
    assert "-m venv .venv" in out
    assert "pip install -e '.[notebooks,dev]'" in out
    assert out.index("-m venv") < out.index("pip install") < out.index("ruff check") < out.index("pytest")
    assert "DBDGCN_SMOKE=1" in out and "--nbval-lax --nbval-current-env notebooks/" in out


@needs_make
def test_make_test_trains_the_tiny_models_again_with_another_seed(tmp_path):
    root = scratch_checkout(tmp_path, venv=True, stamp_newer=True)
    out = dry_run(root, "test", "PYTEST_ARGS=-x")
    suite, again, *notebooks = (line for line in out.splitlines() if "python -m pytest" in line)
    assert suite.endswith("-x tests") and notebooks and all("--nbval" in line for line in notebooks)
    assert again.split("#")[0].split()[-6:] == ["-x", "-m", "tiny_training", "--tiny-seed", "1", "tests"]
    assert "-n auto --dist loadfile" in suite and "-n auto" in again  # every core, a file on one worker
    one_process = dry_run(root, "test", "PARALLEL=")
    assert not any(" -n " in line for line in one_process.splitlines() if "python -m pytest" in line)


@needs_make
def test_smoke_notebooks_never_overwrite_the_committed_full_run(tmp_path):
    root = scratch_checkout(tmp_path, venv=True, stamp_newer=True)
    (root / "data" / "synthetic").mkdir(parents=True)
    (root / "data" / "synthetic" / "generator.json").write_text("{}")
    full = [line for line in dry_run(root, "notebooks").splitlines() if "run_notebooks.py" in line]
    smoke = [
        line for line in dry_run(root, "notebooks", "SMOKE=1").splitlines() if "run_notebooks.py" in line
    ]
    assert len(full) == len(smoke) == 1
    assert "--smoke" not in full[0] and "--output-dir" not in full[0]  # the full run, in place
    assert smoke[0].endswith("--smoke --output-dir notebooks/.smoke")


@needs_make
def test_installed_venv_is_not_reinstalled(tmp_path):
    out = dry_run(scratch_checkout(tmp_path, venv=True, stamp_newer=True), "test")
    assert "pip install" not in out and "-m venv" not in out
    assert "ruff check ." in out and "ruff format --check ." in out


@needs_make
def test_changed_pyproject_reinstalls(tmp_path):
    out = dry_run(scratch_checkout(tmp_path, venv=True, stamp_newer=False), "test")
    assert "pip install -e '.[notebooks,dev]'" in out
    assert "-m venv" not in out


@needs_make
def test_lab_generates_missing_data_then_starts_jupyter(tmp_path):
    root = scratch_checkout(tmp_path, venv=True, stamp_newer=True)
    out = dry_run(root, "lab", "LAB_ARGS=--no-browser --port=9999")
    assert "python -m dbdgcn_lib data synthetic --root data/synthetic" in out
    assert "jupyter lab notebooks/" in out and out.rstrip().endswith("--no-browser --port=9999")
    assert "jupyter trust" not in out  # the notebooks store no widget state: nothing needs trust
    (root / "data" / "synthetic").mkdir(parents=True)
    (root / "data" / "synthetic" / "generator.json").write_text("{}")
    assert "data synthetic" not in dry_run(root, "lab")


def tiny_notebook(source: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.mark.slow
def test_run_notebooks_executes_in_order_and_reports(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    log = tmp_path / "order.txt"
    # the kernel sees smoke mode and runs in the notebook's folder
    code = (
        "import os, pathlib\n"
        f"with open({str(log)!r}, 'a') as f: f.write(pathlib.Path.cwd().name + ' ' + '{{name}}'"
        " + ' ' + os.environ.get('DBDGCN_SMOKE', '-') + '\\n')\n"
        "print(6 * 7)"
    )
    for name in ("01_second", "00_first"):
        nbformat.write(tiny_notebook(code.replace("{name}", name)), folder / f"{name}.ipynb")
    first = nbformat.read(folder / "00_first.ipynb", as_version=4)
    bar = "from dbdgcn_lib.progress import progress_bar\n\nfor _ in progress_bar([0]):\n    pass"
    first.cells += [  # not to be stored: widget state, a progress bar's widget, an experiment's outcome
        nbformat.v4.new_code_cell("import ipywidgets\n\nipywidgets.IntSlider()"),
        nbformat.v4.new_code_cell(bar),
        nbformat.v4.new_code_cell("print('the outcome')", metadata={"tags": ["experiment"]}),
    ]
    nbformat.write(first, folder / "00_first.ipynb")
    nbformat.write(tiny_notebook("raise SystemExit('not part of the series')"), folder / "scratch.ipynb")
    env = {k: v for k, v in os.environ.items() if k != "DBDGCN_SMOKE"}
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_notebooks.py"), "--smoke", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert log.read_text().splitlines() == ["notebooks 00_first 1", "notebooks 01_second 1"]
    table = result.stdout[result.stdout.index("notebook  ") :]
    assert "00_first.ipynb" in table and "01_second.ipynb" in table and "scratch" not in table
    assert table.strip().splitlines()[-1].startswith("total")
    assert "no time limit per cell" in result.stdout and "[1/2] 00_first.ipynb" in result.stdout
    executed = nbformat.read(folder / "00_first.ipynb", as_version=4)
    cell = executed.cells[0]
    assert cell.execution_count == 1 and cell.outputs[0]["text"] == "42\n"
    assert "execution" not in cell.metadata  # no timestamps: re-running gives no spurious diff
    assert executed.metadata.kernelspec == {
        "display_name": "Python 3 (ipykernel)",  # what JupyterLab writes: it opens the notebook unmodified
        "language": "python",
        "name": "python3",
    }
    assert executed.metadata.language_info["name"] == "python" and "widgets" not in executed.metadata
    slider, bar, experiment = executed.cells[1:]
    assert [out.data for out in slider.outputs] == [{"text/plain": "IntSlider(value=0)"}]  # its text form
    (line,) = (out.data for out in bar.outputs)  # the bar's last line, not its widget
    assert list(line) == ["text/plain"] and line["text/plain"].startswith("100%|")
    assert experiment.execution_count == 4 and experiment.outputs == []


@pytest.mark.slow
def test_run_notebooks_failure_keeps_the_notebook_and_fails(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    bad = folder / "00_bad.ipynb"
    nbformat.write(tiny_notebook("1 / 0"), bad)
    nbformat.write(tiny_notebook("print('fine')"), folder / "01_good.ipynb")
    before = bad.read_bytes()
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_notebooks.py"), "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert (
        "ZeroDivisionError" in result.stderr
        and "00_bad.ipynb stopped: a cell raised an error" in result.stderr
    )
    assert bad.read_bytes() == before, "a failed run must not overwrite the stored notebook"
    assert "01_good.ipynb: ok" in result.stdout  # the others still run
