"""JupyterLab in headless Chromium: what a student sees on opening a committed notebook (no dead widget,
no answer, not marked modified), notebooks run, widgets render, a slider redraws the figure, and
``solution(n)`` puts a solution into a new cell.

Chromium is Debian's package at /usr/bin/chromium (or $DBDGCN_CHROMIUM) driven by Playwright through
``executable_path``; Playwright's own browser download does not work offline. `.ci/run` installs it.
Outside CI a missing chromium skips these tests; under CI (``CI`` set) it fails them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from labserver import REPO, free_port, isolated_env, running_server, server_args

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("DBDGCN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LABEL_GRAPH_NOTEBOOK = REPO / "notebooks" / "04_label_cooccurrence.ipynb"
# the notebooks with explorers: a student opening them must see no dead control
EXPLORER_NOTEBOOKS = ["04_label_cooccurrence.ipynb", "05_graph_convolution.ipynb", "08_evaluation.ipynb"]
# JupyterLab user settings for the test: every cell stays in the DOM (no windowing), no news, no update check
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}

# Images drawn inside widget views (an interact Output, an ipywidgets Image), in document order.
WIDGET_IMAGES_JS = """() => [...document.querySelectorAll('.jp-Notebook img')]
    .filter(img => img.closest('.jupyter-widgets')).map(img => img.src)"""
# Start "run all cells" once the notebook's kernel is idle; the promise's result lands in window.__runAll.
RUN_ALL_JS = """async (path) => {
    const app = window.jupyterapp;
    const widget = app.shell.currentWidget;
    if (!widget || !widget.context || widget.context.path !== path) return false;
    await widget.context.ready;
    await widget.sessionContext.ready;
    window.__runAll = 'running';
    app.commands.execute('notebook:run-all-cells').then(
        ok => { window.__runAll = ok ? 'ok' : 'stopped at an error'; },
        err => { window.__runAll = 'failed: ' + err; });
    return true;
}"""
# Close every document without saving and shut its kernel down (no "save changes?" dialog).
CLOSE_ALL_JS = """async () => {
    for (const widget of Array.from(window.jupyterapp.shell.widgets('main'))) {
        if (widget.sessionContext) await widget.sessionContext.shutdown();
        widget.dispose();
    }
}"""
KERNEL_IDLE_JS = """(path) => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!widget || !widget.context || widget.context.path !== path) return false;
    const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}"""


def require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run the browser test (.ci/run installs it)")
    pytest.skip(message)


def error_text(page) -> list[str]:
    """Errors anywhere in the open notebook: error outputs of cells, tracebacks printed inside widget
    outputs (an exception in an `interact` callback) and widgets that failed to render."""
    return page.evaluate(
        """() => {
        const problems = [];
        const widget = window.jupyterapp.shell.currentWidget;
        for (const cell of widget.content.widgets) {
            if (cell.model.type !== 'code') continue;
            for (const out of cell.model.outputs.toJSON()) {
                if (out.output_type === 'error') problems.push(`${out.ename}: ${out.evalue}`);
            }
        }
        const notebook = widget.content.node;
        for (const el of notebook.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')) {
            if (el.textContent.includes('Traceback')) problems.push(el.textContent.slice(0, 1500));
        }
        const text = notebook.textContent;
        const at = text.indexOf('Error displaying widget');
        if (at >= 0) problems.push(text.slice(at, at + 300));
        return problems;
    }"""
    )


def wait_widgets_settled(page) -> None:
    """Every widget view finished loading (rendered, or replaced by "Error displaying widget")."""
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.content.node.textContent.includes('Loading widget...')",
        timeout=60_000,
    )


@dataclass
class Lab:
    """One JupyterLab server (its own settings, the kernels in smoke mode, as in CI) and one Chromium
    page with JupyterLab loaded, shared by this module's tests: starting them is most of a test's time.
    Each test works in its own folder under ``root`` and opens its notebooks by path from there."""

    base: str
    page: Any
    root: Path
    notary: Path
    log: Path
    console: list[str]

    @contextlib.contextmanager
    def diagnosed(self, tmp_path: Path) -> Iterator[None]:
        """A test's turn: the documents earlier tests opened are closed first (their kernels shut down,
        nothing saved), so the page holds only this test's notebooks. On a failure, a screenshot, the
        server log and the browser console are kept and named."""
        self.page.evaluate(CLOSE_ALL_JS)
        try:
            yield
        except Exception:
            self.page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"screenshot: {tmp_path / 'failure.png'}\nserver log: {self.log}")
            print("browser console (last 30):\n" + "\n".join(self.console[-30:]))
            raise


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("lab")
    home = tmp_path_factory.mktemp("jupyter")
    notary = home / "notary"  # its own trust database and signing key (see trust()): a folder that must exist
    notary.mkdir()
    port = free_port()
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [
        str(jupyter),
        "lab",
        *server_args(port, allow_root=True),
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run all cells and wait for them
        f"--NotebookNotary.data_dir={notary}",
    ]
    env = isolated_env(home, LAB_SETTINGS)
    env["DBDGCN_SMOKE"] = "1"  # the kernels inherit the server's environment: smoke mode, as in CI
    log = home / "lab.log"
    with running_server(cmd, port=port, cwd=root, env=env, log=log, timeout=60) as base:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            try:
                page.goto(f"{base}/lab", wait_until="domcontentloaded", timeout=60_000)
                page.wait_for_function("() => !!window.jupyterapp", timeout=60_000)
                page.evaluate("async () => { await window.jupyterapp.restored; }")
                yield Lab(base, page, root, notary, log, console)
            finally:
                browser.close()


def copy_of_the_series(lab: Lab, name: str) -> Path:
    """notebooks/ copied into its own folder: running or opening it never touches the committed
    notebooks, nor another test's copy (JupyterLab autosaves a notebook a test ran)."""
    skip = shutil.ignore_patterns(".ipynb_checkpoints", ".solved", ".smoke")
    return Path(shutil.copytree(REPO / "notebooks", lab.root / name, ignore=skip))


def trust(paths: list[Path], notary: Path) -> None:
    """Sign ``paths`` in the test server's trust database, as ``jupyter trust`` does: JupyterLab then
    renders everything they store (saved widget views included), the strictest view to test."""
    from nbformat.sign import NotebookNotary

    signer = NotebookNotary(data_dir=str(notary))
    for path in paths:
        signer.sign(nbformat.read(path, as_version=4))


def open_notebook(page, path: str) -> None:
    """Open ``path`` (relative to the server's root) as a double click in the file browser does, and
    wait until its kernel is idle (JupyterLab has then applied the kernel's info)."""
    page.evaluate(
        "async (path) => { await window.jupyterapp.commands.execute('docmanager:open', {path}); }", path
    )
    page.wait_for_function(KERNEL_IDLE_JS, arg=path, timeout=90_000)


def run_all(page, name: str, run_timeout_s: float) -> None:
    assert page.evaluate(RUN_ALL_JS, name), f"{name} is not the current JupyterLab document"
    page.wait_for_function(
        "() => window.__runAll !== 'running'", timeout=int(run_timeout_s * 1000), polling=500
    )
    outcome = page.evaluate("() => window.__runAll")
    assert outcome == "ok", f"run all cells: {outcome}; errors: {error_text(page)}"


# What a student sees in a notebook just opened, before running anything.
AS_OPENED_JS = r"""() => {
    const widget = window.jupyterapp.shell.currentWidget;
    const notebook = widget.content.node;
    const cells = widget.content.widgets;
    const tags = cell => cell.model.getMetadata('tags') || [];
    return {
        dirty: widget.context.model.dirty,
        widgetViews: notebook.querySelectorAll('.jupyter-widgets, .jupyter-widgets-disconnected').length,
        loading: notebook.textContent.includes('Loading widget'),
        explorerLines: [...notebook.querySelectorAll('.jp-OutputArea-output')]
            .filter(out => out.textContent.includes('explorer: run the notebook from the top')).length,
        hiddenInputs: cells.filter(cell => cell.inputHidden).length,
        solutionCode: cells.filter(cell => cell.model.type === 'code'
            && cell.model.sharedModel.getSource().trimStart().startsWith('# Solution')).length,
        experiments: cells.filter(cell => tags(cell).includes('experiment')).length,
        experimentOutputs: cells.filter(cell => tags(cell).includes('experiment'))
            .reduce((n, cell) => n + cell.model.outputs.length, 0),
        stuckLines: (notebook.textContent.match(/Stuck\? Run solution\(\d+\)/g) || []).length,
    };
}"""
# The direction toggle's buttons show their whole label ("ML-GCN code: P(i | j)", once cut to "P(i...").
TOGGLE_LABELS_JS = """() => [...document.querySelectorAll('.jp-Notebook .widget-toggle-button')]
    .map(b => ({text: b.textContent.trim(), cut: b.scrollWidth > b.clientWidth + 1}))"""


def run_notebook_and_move_slider(lab: Lab, name: str, tmp_path: Path, run_timeout_s: float) -> None:
    """Open ``name`` in JupyterLab, run all cells, check widgets, move the first slider to an end, and
    check that an image inside a widget changed."""
    page = lab.page
    with lab.diagnosed(tmp_path):
        open_notebook(page, name)
        run_all(page, name, run_timeout_s)

        slider = page.locator(".jp-Notebook .widget-slider").first
        slider.wait_for(state="visible", timeout=60_000)
        page.wait_for_function(f"() => ({WIDGET_IMAGES_JS})().length > 0", timeout=60_000)
        wait_widgets_settled(page)
        errors = error_text(page)
        assert not errors, f"errors after running the notebook: {errors}"
        toggles = page.evaluate(TOGGLE_LABELS_JS)
        cut = [b["text"] for b in toggles if b["cut"]]
        assert not cut, f"toggle buttons whose label is cut: {cut}"
        if Path(name).name == LABEL_GRAPH_NOTEBOOK.name:
            assert "ML-GCN code: P(i | j)" in [b["text"] for b in toggles]
        before = page.evaluate(WIDGET_IMAGES_JS)

        handle = slider.locator(".noUi-handle").first
        start_value = handle.get_attribute("aria-valuenow")
        handle.focus()
        handle.press("End")  # the far end of the range: a change big enough to redraw visibly
        if handle.get_attribute("aria-valuenow") == start_value:
            handle.press("Home")  # it already sat at the maximum
        moved = handle.get_attribute("aria-valuenow")
        assert moved != start_value, f"the slider did not move from {start_value}"

        page.wait_for_function(
            f"""(before) => {{
                const now = ({WIDGET_IMAGES_JS})();
                return now.length > 0 && JSON.stringify(now) !== JSON.stringify(before);
            }}""",
            arg=before,
            timeout=60_000,
        )
        # the callback's later messages (a traceback) come before the kernel's idle status
        page.wait_for_function(KERNEL_IDLE_JS, arg=name, timeout=60_000)
        page.wait_for_timeout(1000)
        wait_widgets_settled(page)
        errors = error_text(page)
        assert not errors, f"errors after moving the slider: {errors}"


def slider_notebook() -> nbformat.NotebookNode:
    """A throwaway notebook: an ipywidgets slider driving a matplotlib figure through `interact`."""
    cells = [
        nbformat.v4.new_markdown_cell("# A slider and a figure"),
        nbformat.v4.new_code_cell(
            "%matplotlib inline\n"
            "import matplotlib.pyplot as plt\n"
            "import numpy as np\n"
            "from ipywidgets import IntSlider, interact"
        ),
        nbformat.v4.new_code_cell(
            "def draw(freq=3):\n"
            "    x = np.linspace(0, 2 * np.pi, 200)\n"
            "    fig, ax = plt.subplots(figsize=(4, 2.5))\n"
            "    ax.plot(x, np.sin(freq * x))\n"
            "    ax.set_title(f'sin({freq} x)')\n"
            "    plt.show()\n"
            "\n"
            "\n"
            "_ = interact(draw, freq=IntSlider(value=3, min=1, max=10))"
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_widget_slider_updates_figure(lab, tmp_path):
    """The browser machinery itself, on a notebook made here: always runs (given chromium)."""
    (lab.root / "slider").mkdir()
    nbformat.write(slider_notebook(), lab.root / "slider" / "slider.ipynb")
    run_notebook_and_move_slider(lab, "slider/slider.ipynb", tmp_path, run_timeout_s=120)


def test_label_graph_notebook_in_browser(lab, tmp_path):
    """The instructors' label-graph notebook: runs in JupyterLab, widgets render, a slider redraws."""
    if not LABEL_GRAPH_NOTEBOOK.is_file():
        pytest.skip(f"{LABEL_GRAPH_NOTEBOOK.relative_to(REPO)} does not exist yet")
    copy_of_the_series(lab, "run")
    run_notebook_and_move_slider(lab, f"run/{LABEL_GRAPH_NOTEBOOK.name}", tmp_path, run_timeout_s=300)


def test_committed_notebooks_as_a_student_opens_them(lab, tmp_path):
    """Opened (trusted), not run: no widget control (dead or alive), each explorer's one line, no
    solution, no experiment's outcome, a way to reveal a solution, and the notebook not marked modified.
    The notebooks as they were before (saved widget state, hidden solution cells, kernelspec "Python 3")
    fail each of these."""
    folder = copy_of_the_series(lab, "as_opened")
    trust([folder / name for name in EXPLORER_NOTEBOOKS], lab.notary)
    page = lab.page
    with lab.diagnosed(tmp_path):
        for name in EXPLORER_NOTEBOOKS:
            open_notebook(page, f"as_opened/{name}")
            page.wait_for_timeout(2000)  # JupyterLab's metadata updates after the kernel's info
            seen = page.evaluate(AS_OPENED_JS)
            assert seen["dirty"] is False, f"{name} is marked modified on open"
            assert seen["widgetViews"] == 0 and not seen["loading"], f"{name}: widget views {seen}"
            assert seen["explorerLines"] >= 1, f"{name}: no explorer's one-line text form"
            assert seen["hiddenInputs"] == 0 and seen["solutionCode"] == 0, f"{name}: solution code {seen}"
            assert seen["experiments"] >= 1 and seen["experimentOutputs"] == 0, f"{name}: an outcome {seen}"
            assert seen["stuckLines"] >= 1, f"{name}: no exercise says how to reveal its solution"


def test_solution_puts_the_code_into_a_new_cell(lab, tmp_path):
    """``solution(n)`` in JupyterLab: a new cell below the one that called it holds the solution."""
    folder = lab.root / "solution"
    (folder / "solutions").mkdir(parents=True)
    (folder / "solutions" / "42_topic.py").write_text("# %% Exercise 1\nanswer = 6 * 7\n")
    cells = [
        nbformat.v4.new_code_cell('from dbdgcn_lib.teaching import solutions\n\nsolution = solutions("42")'),
        nbformat.v4.new_code_cell("solution(1)"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(nb, folder / "42_topic.ipynb")
    page = lab.page
    with lab.diagnosed(tmp_path):
        open_notebook(page, "solution/42_topic.ipynb")
        run_all(page, "solution/42_topic.ipynb", run_timeout_s=120)
        sources = page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.widgets"
            ".map(cell => cell.model.sharedModel.getSource())"
        )
        assert sources[:2] == [cells[0].source, "solution(1)"], sources
        assert sources[2].splitlines()[0].startswith("# Exercise 1, a solution (")
        assert sources[2].splitlines()[1:] == ["answer = 6 * 7"]
