"""Figures of images and what the network computes on them: labelled image grids, class activation
maps over an image, and backbone feature maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from dbdgcn_lib.viz.core import (
    OKABE_ITO,
    class_indices,
    grid_shape,
    image_to_array,
    label_indices,
    new_figure,
    root_figure,
    to_numpy,
    wrap_text,
)

__all__ = ["activation_maps_overlay", "feature_maps", "show_images"]

# colour-bar label of each ``normalize`` mode of activation_maps_overlay
MAP_SCALES = {
    "sigmoid": "\u03c3(M)",
    "each": "M, min-max scaled per map",
    "none": "M (pre-sigmoid)",
}
# maps up to this many cells a side get their cell borders drawn
GRID_LINES_UP_TO = 16


def show_images(
    images,
    labels_list=None,
    class_names: Sequence[str] = (),
    ncols: int = 4,
    predicted=None,
    *,
    normalized: bool | str = "auto",
    threshold: float = 0.5,
    fig=None,
    figsize=None,
) -> Figure:
    """A grid of images titled with their labels (one axes per image).

    ``images``: a (B, 3, H, W) tensor, or a sequence of tensors / arrays / PIL images.
    ``labels_list`` and ``predicted``: one entry per image (indices, names, or a length-C multi-hot or
    probability array). Predicted labels absent from the ground truth are marked with a cross (x).
    """
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    nrows, ncols = grid_shape(n, ncols)
    fig = new_figure(fig, figsize or (3.2 * ncols, 3.6 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    for k in range(n):
        ax = axes[k]
        ax.imshow(image_to_array(images[k], normalized=normalized))
        ax.set_xticks([])
        ax.set_yticks([])
        lines = []
        truth = None
        if labels_list is not None:
            truth = label_indices(labels_list[k], class_names, threshold)
            lines.append(wrap_text("true: " + (", ".join(class_names[i] for i in truth) or "(none)"), 34))
        colour = "black"
        if predicted is not None:
            pred = label_indices(predicted[k], class_names, threshold)
            names = []
            for i in pred:
                wrong = truth is not None and i not in truth
                names.append(class_names[i] + (" \u2717" if wrong else ""))
            lines.append(wrap_text("pred: " + (", ".join(names) or "(none)"), 34))
            if truth is not None:
                colour = OKABE_ITO[0] if set(pred) == set(truth) else OKABE_ITO[3]
        ax.set_title("\n".join(lines), fontsize=9, color=colour, loc="left")
    return root_figure(fig)


def _upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (K, h, w) maps to (K, H, W)."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(np.ascontiguousarray(maps), dtype=torch.float32)[None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0].numpy()


def _scale_maps(maps: np.ndarray, normalize: str) -> tuple[np.ndarray, float, float]:
    """(K, h, w) maps on the colour scale of ``normalize``, with that scale's (vmin, vmax)."""
    if normalize == "sigmoid":
        return 1.0 / (1.0 + np.exp(-maps)), 0.0, 1.0
    if normalize == "each":
        flat = maps.reshape(len(maps), -1)
        lo, hi = flat.min(axis=1)[:, None, None], flat.max(axis=1)[:, None, None]
        return (maps - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0, 1.0
    if normalize == "none":
        return maps, float(maps.min()), float(maps.max())
    raise ValueError(f"normalize must be 'sigmoid', 'each' or 'none', got {normalize!r}")


def activation_maps_overlay(
    image,
    maps,
    class_names: Sequence[str],
    classes=None,
    top_k: int = 4,
    *,
    scores=None,
    alpha: float = 0.5,
    cmap: str = "inferno",
    normalize: str = "sigmoid",
    smooth: bool = False,
    ncols: int | None = None,
    fig=None,
    figsize=None,
) -> Figure:
    """The image, then one panel per class with its activation map over it, and one shared colour bar.

    ``maps``: (C, h, w) class activation maps (pre-sigmoid M; a leading batch of 1 is dropped).
    ``classes`` (names or indices) picks the panels; otherwise the ``top_k`` classes by ``scores`` (C,)
    if given, else by the map's spatial max (the s_m score), which each panel's title gives.
    Each map cell is drawn as one block over the part of the image it covers, so a 3x3 map shows as
    3x3 blocks with their borders; ``smooth=True`` upsamples bilinearly instead and every panel's
    title says "(smoothed)". ``normalize``: "sigmoid" (sigma(M) in [0, 1], the attention SAM pools
    with), "each" (min-max per map: its shape only) or "none" (M on one scale for all panels).
    Axes: the image, one per class, then the colour bar.
    """
    img = image_to_array(image)
    m = to_numpy(maps).astype(np.float32)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3 or m.shape[0] != len(class_names):
        raise ValueError(f"maps must be (C, h, w) with C = {len(class_names)}, got {m.shape}")
    peak = m.reshape(m.shape[0], -1).max(axis=1)
    rank_by = to_numpy(scores).reshape(-1) if scores is not None else peak
    if classes is None:
        idx = np.argsort(-rank_by, kind="stable")[: max(1, top_k)].tolist()
    else:
        idx = class_indices(classes, class_names)
    chosen = _upsample(m[idx], img.shape[:2]) if smooth else m[idx]
    heats, vmin, vmax = _scale_maps(chosen, normalize)
    height, width = img.shape[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # the image's own pixel extent
    n = len(idx) + 1
    nrows, ncols = grid_shape(n, ncols or min(n, 5))
    fig = new_figure(fig, figsize or (2.8 * ncols + 0.8, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    axes[0].imshow(img)
    axes[0].set_title("image", fontsize=10)
    h, w = m.shape[1:]
    for ax, c, heat in zip(axes[1:n], idx, heats):
        ax.imshow(img)
        shown = ax.imshow(
            heat,
            cmap=cmap,
            alpha=alpha,
            vmin=vmin,
            vmax=vmax,
            extent=extent,
            interpolation="bilinear" if smooth else "nearest",
        )
        if not smooth and max(h, w) <= GRID_LINES_UP_TO:
            lines = {"colors": "white", "linewidth": 0.6, "alpha": 0.6}
            ax.vlines(np.linspace(-0.5, width - 0.5, w + 1)[1:-1], -0.5, height - 0.5, **lines)
            ax.hlines(np.linspace(-0.5, height - 0.5, h + 1)[1:-1], -0.5, width - 0.5, **lines)
        detail = f"score {float(rank_by[c]):.2f}" if scores is not None else f"max M {float(peak[c]):.2f}"
        ax.set_title(f"{class_names[c]}\n{detail}" + (" (smoothed)" if smooth else ""), fontsize=10)
    for ax in axes[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=list(axes[1:n]), shrink=0.85, label=MAP_SCALES[normalize])
    return root_figure(fig)


def feature_maps(
    x3,
    x4,
    n: int = 8,
    *,
    select: str = "mean",
    scale: str = "row",
    names: tuple[str, str] = ("layer3 (X3)", "layer4 (X4)"),
    cmap: str = "viridis",
    fig=None,
    figsize=None,
) -> Figure:
    """``n`` channels of each scale: row 1 from X3 (C3, H, W), row 2 from X4 (C4, h, w), with colour bars.

    A leading batch dimension of 1 is dropped. ``select``: "mean" shows the channels with the highest
    mean activation, "first" the first n. ``scale``: "row" puts the channels of one layer on one
    colour scale (a colour bar per row), "all" puts both layers on one scale (one colour bar), so a
    brighter map is a larger activation. Axes: 2n maps, then the colour bar(s).
    """
    if scale not in ("row", "all"):
        raise ValueError(f"scale must be 'row' or 'all', got {scale!r}")
    if select not in ("mean", "first"):
        raise ValueError(f"select must be 'mean' or 'first', got {select!r}")
    shown = []
    for x, name in zip((x3, x4), names):
        a = to_numpy(x).astype(np.float32)
        if a.ndim == 4:
            a = a[0]
        if a.ndim != 3:
            raise ValueError(f"{name} must be (C, H, W) or (1, C, H, W), got {a.shape}")
        if select == "mean":
            chans = np.argsort(-a.mean(axis=(1, 2)), kind="stable")[:n]
        else:
            chans = np.arange(min(n, a.shape[0]))
        shown.append((a, chans))
    limits = [(float(a[chans].min()), float(a[chans].max())) for a, chans in shown]
    if scale == "all":
        both = (min(lo for lo, _ in limits), max(hi for _, hi in limits))
        limits = [both, both]
    fig = new_figure(fig, figsize or (1.7 * n + 1.0, 4.0))
    axes = fig.subplots(2, n, squeeze=False)
    first_image = []  # per row: the map its colour bar is read from
    for row, ((a, chans), name, (lo, hi)) in enumerate(zip(shown, names, limits)):
        for col in range(n):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(chans):
                drawn = ax.imshow(a[chans[col]], cmap=cmap, vmin=lo, vmax=hi)
                if col == 0:
                    first_image.append(drawn)
                ax.set_title(f"ch {int(chans[col])}", fontsize=8)
            else:
                ax.set_axis_off()
        axes[row, 0].set_ylabel(f"{name}\n{a.shape[0]}x{a.shape[1]}x{a.shape[2]}", fontsize=9)
    if scale == "row":
        for row, drawn in enumerate(first_image):
            fig.colorbar(drawn, ax=list(axes[row]), shrink=0.9, label="activation")
    else:
        fig.colorbar(first_image[0], ax=list(axes.ravel()), shrink=0.9, label="activation")
    return root_figure(fig)
