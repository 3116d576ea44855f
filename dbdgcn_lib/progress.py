"""Progress bars that read well in a terminal, live in JupyterLab, and in a saved notebook.

``progress_bar`` is ``tqdm.auto.tqdm`` (a text bar on stderr in a terminal, a widget in a notebook)
with one change in a notebook: when the bar closes, its widget is replaced by the bar's last line of
text, or by nothing when ``leave=False``. A saved notebook then holds a line such as
``runs: 100%|██████████| 44/44 [05:41<00:00, 7.76s/run]``, readable anywhere, never a widget that needs
a kernel to draw (nor the bar's first state, which is the text form tqdm gives its widget)::

    with progress_bar(total=len(jobs), desc="runs", unit="run") as bar:
        for job in jobs:
            ...
            bar.update()

Bars with ``leave=False`` opened one after another in the same notebook cell (one per epoch) share one
place in its output, so a long run leaves one empty slot, not one per epoch.
"""

from __future__ import annotations

import tqdm.auto  # noqa: F401 - first: it imports tqdm.autonotebook with its notebook-mode warning off
from tqdm.autonotebook import tqdm as chosen_tqdm  # tqdm's choice: the notebook's bar or the terminal's
from tqdm.std import tqdm as std_tqdm

__all__ = ["in_notebook", "progress_bar", "resolve_progress"]


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel whose bars are widgets (what ``tqdm.auto`` chose)."""
    return chosen_tqdm is not std_tqdm


def resolve_progress(progress: bool | None) -> bool:
    """A ``progress`` argument: None means on in a notebook, off elsewhere (tests, scripts, workers)."""
    return in_notebook() if progress is None else bool(progress)


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm bar (``total``, ``desc``, ``unit``, ``leave`` ... as tqdm's); ``enabled=False`` gives a
    silent one. In a notebook, closing it leaves its final line of text (see the module)."""
    if not enabled:
        return std_tqdm(iterable, disable=True, **kwargs)
    if in_notebook():
        return _notebook_bar_class()(iterable, **kwargs)
    return std_tqdm(iterable, **kwargs)


_NOTEBOOK_BAR = None
_SLOT: dict = {}  # the output slot of the cell running now, shared by its bars with leave=False


def _notebook_bar_class():
    """tqdm's notebook bar, shown through a display handle and turned into text when it closes."""
    global _NOTEBOOK_BAR
    if _NOTEBOOK_BAR is not None:
        return _NOTEBOOK_BAR
    from IPython import get_ipython
    from IPython.display import display
    from tqdm.notebook import tqdm_notebook

    class NotebookBar(tqdm_notebook):
        def __init__(self, *args, **kwargs):
            kwargs["display"] = False  # shown below through a handle, so that close() can replace it
            super().__init__(*args, **kwargs)
            if self.disable:
                return
            self.displayed = True
            cell = getattr(get_ipython(), "execution_count", None)
            if not self.leave and _SLOT.get("cell") == cell:
                self._handle = _SLOT["handle"]
                self._handle.update(self.container)
            else:
                self._handle = display(self.container, display_id=True)
                if not self.leave:
                    _SLOT.update(cell=cell, handle=self._handle)

        def close(self):
            if self.disable:
                return
            super().close()
            text = std_tqdm.__str__(self) if self.leave else ""
            self._handle.update({"text/plain": text}, raw=True)

    _NOTEBOOK_BAR = NotebookBar
    return NotebookBar
