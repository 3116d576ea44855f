"""What every figure shares: the Figure type, array and label helpers, the palette, and export.

Conventions of the figure modules (``images``, ``graphs``, ``evaluation``, ``training``):

- No pyplot: each function builds a :class:`VizFigure` (a ``matplotlib.figure.Figure`` that renders
  itself as PNG in IPython) that no global figure manager holds, so nothing leaks and nothing needs
  ``plt.close``. In a notebook, show it by ending the cell with ``fig`` or with ``display(fig)``
  (``plt.show()`` does not know these figures). Functions drawing one panel accept ``ax=`` (draw
  into your axes, e.g. from ``plt.subplots``, then ``plt.show()`` works as usual); multi-panel ones
  accept ``fig=`` (a Figure or a ``SubFigure``, which is how the widgets compose them).
- Colour-blind friendly: sequential maps are viridis / cividis / inferno, the difference map is the
  diverging RdBu_r centred at 0, and line colours come from the Okabe-Ito palette; line styles also
  differ where colour alone would carry the meaning.
- Labels: a Python list/tuple holds class indices or names; a numpy array or torch tensor of length C is
  a multi-hot vector or probabilities, thresholded at 0.5.
- Slides: ``save_figure(fig, "slides/name", formats=("png", "svg"))`` writes any of these figures.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dbdgcn_lib.data.constants import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "DISPLAY_WIDTH_IN",
    "OKABE_ITO",
    "VizFigure",
    "class_indices",
    "figure_to_png",
    "grid_shape",
    "image_to_array",
    "label_indices",
    "new_axes",
    "new_figure",
    "root_figure",
    "save_figure",
    "tick_fontsize",
    "to_numpy",
    "wrap_text",
]

#: How wide a notebook shows a figure without scaling it down: JupyterLab's output area in a laptop's
#: window (1400 px) is about 960 px, 9.6 inches at the 100 dpi figures are drawn at. A wider figure is
#: shrunk to fit, and its text with it.
DISPLAY_WIDTH_IN = 9.6

# Okabe & Ito (2008), ordered so the first colours are the most distinct on white (yellow last).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
SAVE_FORMATS = ("png", "svg", "pdf")


class VizFigure(Figure):
    """A Figure that displays as PNG in IPython/Jupyter even when pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def to_numpy(x) -> np.ndarray:
    """numpy view of a numpy array, torch tensor (any device/dtype) or nested sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def new_axes(ax, figsize):
    """(figure, axes) to draw one panel in: the given axes and its (sub)figure, or a new VizFigure."""
    if ax is None:
        fig = VizFigure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    return ax.get_figure(root=False), ax


def new_figure(fig, figsize):
    """The given Figure / SubFigure, or a new VizFigure of ``figsize`` with a constrained layout."""
    return VizFigure(figsize=figsize, layout="constrained") if fig is None else fig


def root_figure(fig) -> Figure:
    """The top-level Figure of a Figure or SubFigure."""
    return fig.get_figure(root=True)


def class_indices(classes, class_names: Sequence[str]) -> list[int]:
    """Indices for a list mixing class names and integer indices."""
    lookup = {name: i for i, name in enumerate(class_names)}
    out = []
    for c in classes:
        if isinstance(c, str):
            if c not in lookup:
                raise KeyError(f"unknown class name {c!r}")
            out.append(lookup[c])
        else:
            i = int(c)
            if not 0 <= i < len(class_names):
                raise IndexError(f"class index {i} out of range for {len(class_names)} classes")
            out.append(i)
    return out


def label_indices(labels, class_names: Sequence[str], threshold: float = 0.5) -> list[int]:
    """Class indices from a list of indices/names, or from a multi-hot/probability array of length C."""
    if labels is None:
        return []
    if isinstance(labels, str):
        return class_indices([labels], class_names)
    if isinstance(labels, (list, tuple)):
        return class_indices(labels, class_names)
    arr = to_numpy(labels).reshape(-1)
    if arr.shape[0] != len(class_names):
        raise ValueError(f"a label array must have length C = {len(class_names)}, got {arr.shape[0]}")
    return np.flatnonzero(arr >= threshold).tolist()


def tick_fontsize(n: int) -> float:
    """A tick label size that keeps ``n`` class names legible along one axis (4.5 to 10 points)."""
    return float(np.clip(360.0 / max(n, 1), 4.5, 10.0))


def wrap_text(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width=width)) if text else ""


def image_to_array(
    image, normalized: bool | str = "auto", mean=IMAGENET_MEAN, std=IMAGENET_STD
) -> np.ndarray:
    """An (H, W, 3) float array in [0, 1] from a PIL image, a (3, H, W) / (H, W, 3) tensor or array.

    uint8 is divided by 255. A float image is un-normalised (``x * std + mean``) when ``normalized`` is
    True, or when "auto" and its values leave [0, 1] (what ImageNet normalisation produces).
    """
    if hasattr(image, "convert") and hasattr(image, "size") and not hasattr(image, "shape"):  # PIL
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    arr = to_numpy(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"expected an image (3, H, W) or (H, W, 3), got shape {arr.shape}")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if normalized is True or (normalized == "auto" and (arr.min() < 0.0 or arr.max() > 1.0)):
        arr = arr * np.asarray(std, dtype=np.float32) + np.asarray(mean, dtype=np.float32)
    return np.clip(arr, 0.0, 1.0)


def grid_shape(n: int, ncols: int) -> tuple[int, int]:
    """(rows, columns) of a grid holding ``n`` panels, at most ``ncols`` per row."""
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (what the widgets display)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def save_figure(
    fig: Figure, path, *, formats: Sequence[str] | None = None, dpi: int = 200, transparent: bool = False
) -> list[Path]:
    """Write a figure for slides; returns the files written (parent folders are created).

    ``fig``: what any figure function returns, a pyplot Figure, or a SubFigure (its whole figure is
    saved); an explorer's current view is ``explorer.figure`` (or call ``explorer.save(path)``).
    The format comes from the suffix (.png, .svg, .pdf); with ``formats=("png", "svg")`` or a path
    without suffix, one file per format is written beside ``path``.
    """
    if not isinstance(fig, Figure) and not hasattr(fig, "get_figure"):
        raise TypeError(f"save_figure: expected a matplotlib Figure, got {type(fig).__name__}")
    fig = root_figure(fig)
    path = Path(path).expanduser()
    if formats is None:
        formats = [path.suffix.lstrip(".").lower()] if path.suffix else ["png", "svg"]
    if isinstance(formats, str):
        formats = [formats]
    formats = [f.lower().lstrip(".") for f in formats]
    unsupported = [f for f in formats if f not in SAVE_FORMATS]
    if unsupported:
        raise ValueError(
            f"save_figure: unsupported format {unsupported[0]!r} for {path}; "
            f"use one of {', '.join(SAVE_FORMATS)}"
        )
    written = []
    for f in formats:
        target = path.with_suffix("." + f)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(
            target,
            format=f,
            dpi=dpi,
            bbox_inches="tight",
            transparent=transparent,
            facecolor="none" if transparent else "white",
        )
        written.append(target)
    return written
