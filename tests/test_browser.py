"""JupyterLab in headless Chromium: notebooks run, widgets render, and a slider redraws the figure.

Chromium is Debian's package at /usr/bin/chromium (or $DBDGCN_CHROMIUM) driven by Playwright through
``executable_path``; Playwright's own browser download does not work offline. `.ci/run` installs it.
Outside CI a missing chromium skips these tests; under CI (``CI`` set) it fails them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

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


def run_notebook_and_move_slider(folder: Path, name: str, tmp_path: Path, run_timeout_s: float) -> None:
    """Open ``folder/name`` in JupyterLab, run all cells, check widgets, move the first slider to an end,
    and check that an image inside a widget changed."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [
        str(jupyter),
        "lab",
        *server_args(port, allow_root=True),
        f"--ServerApp.root_dir={folder}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run all cells and wait for them
    ]
    env = isolated_env(tmp_path / "jupyter", LAB_SETTINGS)
    env["DBDGCN_SMOKE"] = "1"  # the kernels inherit the server's environment: smoke mode, as in CI
    log = tmp_path / "lab.log"
    with running_server(cmd, port=port, cwd=folder, env=env, log=log, timeout=60) as base:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            console: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            try:
                page.goto(f"{base}/lab/tree/{name}", wait_until="domcontentloaded", timeout=60_000)
                page.wait_for_function(KERNEL_IDLE_JS, arg=name, timeout=90_000)
                assert page.evaluate(RUN_ALL_JS, name), f"{name} is not the current JupyterLab document"
                page.wait_for_function(
                    "() => window.__runAll !== 'running'", timeout=int(run_timeout_s * 1000), polling=500
                )
                outcome = page.evaluate("() => window.__runAll")
                assert outcome == "ok", f"run all cells: {outcome}; errors: {error_text(page)}"

                slider = page.locator(".jp-Notebook .widget-slider").first
                slider.wait_for(state="visible", timeout=60_000)
                page.wait_for_function(f"() => ({WIDGET_IMAGES_JS})().length > 0", timeout=60_000)
                wait_widgets_settled(page)
                errors = error_text(page)
                assert not errors, f"errors after running the notebook: {errors}"
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
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"screenshot: {tmp_path / 'failure.png'}\nserver log: {log}")
                print("browser console (last 30):\n" + "\n".join(console[-30:]))
                raise
            finally:
                browser.close()


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


def test_widget_slider_updates_figure(tmp_path):
    """The browser machinery itself, on a notebook made here: always runs (given chromium)."""
    require_chromium()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(slider_notebook(), folder / "slider.ipynb")
    run_notebook_and_move_slider(folder, "slider.ipynb", tmp_path, run_timeout_s=120)


def test_label_graph_notebook_in_browser(tmp_path):
    """The instructors' label-graph notebook: runs in JupyterLab, widgets render, a slider redraws."""
    if not LABEL_GRAPH_NOTEBOOK.is_file():
        pytest.skip(f"{LABEL_GRAPH_NOTEBOOK.relative_to(REPO)} does not exist yet")
    require_chromium()
    folder = tmp_path / "notebooks"
    # a copy, so running it in the browser never touches the committed notebooks
    shutil.copytree(REPO / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    run_notebook_and_move_slider(folder, LABEL_GRAPH_NOTEBOOK.name, tmp_path, run_timeout_s=300)
