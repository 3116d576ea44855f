"""Figures for the notebooks: pure functions that take numpy/torch arrays and return a matplotlib Figure.

Conventions:

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
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import networkx as nx
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dbdgcn_lib.metrics import METRIC_KEYS, multilabel_metrics, pr_curve

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OKABE_ITO",
    "VizFigure",
    "activation_maps_overlay",
    "adjacency_pair",
    "cooccurrence_heatmap",
    "feature_maps",
    "figure_to_png",
    "graph_layout",
    "image_to_array",
    "label_graph",
    "label_graph_data",
    "metrics_table_figure",
    "param_bars",
    "pr_curves",
    "residual_vs_plain",
    "save_figure",
    "show_images",
    "threshold_sweep",
    "threshold_sweep_data",
    "training_curves",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Okabe & Ito (2008), ordered so the first colours are the most distinct on white (yellow last).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
THRESHOLD_METRICS = ("CP", "CR", "CF1", "OP", "OR", "OF1")


# ----------------------------------------------------------------------------------------------------
# helpers


class VizFigure(Figure):
    """A Figure that displays as PNG in IPython/Jupyter even when pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def _np(x) -> np.ndarray:
    """numpy view of a numpy array, torch tensor (any device/dtype) or nested sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _new_ax(ax, figsize):
    if ax is None:
        fig = VizFigure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    return ax.get_figure(root=False), ax


def _new_fig(fig, figsize):
    return VizFigure(figsize=figsize, layout="constrained") if fig is None else fig


def _root(fig) -> Figure:
    """The top-level Figure of a Figure or SubFigure."""
    return fig.get_figure(root=True)


def _class_indices(classes, class_names: Sequence[str]) -> list[int]:
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


def _label_indices(labels, class_names: Sequence[str], threshold: float = 0.5) -> list[int]:
    """Class indices from a list of indices/names, or from a multi-hot/probability array of length C."""
    if labels is None:
        return []
    if isinstance(labels, str):
        return _class_indices([labels], class_names)
    if isinstance(labels, (list, tuple)):
        return _class_indices(labels, class_names)
    arr = _np(labels).reshape(-1)
    if arr.shape[0] != len(class_names):
        raise ValueError(f"a label array must have length C = {len(class_names)}, got {arr.shape[0]}")
    return np.flatnonzero(arr >= threshold).tolist()


def _tick_fontsize(n: int) -> float:
    return float(np.clip(360.0 / max(n, 1), 4.5, 10.0))


def _wrap(text: str, width: int) -> str:
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
    arr = _np(image)
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


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (K, h, w) maps to (K, H, W)."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(np.ascontiguousarray(maps), dtype=torch.float32)[None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0].numpy()


# ----------------------------------------------------------------------------------------------------
# images, maps and features


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
    nrows, ncols = _grid(n, ncols)
    fig = _new_fig(fig, figsize or (3.2 * ncols, 3.6 * nrows))
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
            truth = _label_indices(labels_list[k], class_names, threshold)
            lines.append(_wrap("true: " + (", ".join(class_names[i] for i in truth) or "(none)"), 34))
        colour = "black"
        if predicted is not None:
            pred = _label_indices(predicted[k], class_names, threshold)
            names = []
            for i in pred:
                wrong = truth is not None and i not in truth
                names.append(class_names[i] + (" \u2717" if wrong else ""))
            lines.append(_wrap("pred: " + (", ".join(names) or "(none)"), 34))
            if truth is not None:
                colour = OKABE_ITO[0] if set(pred) == set(truth) else OKABE_ITO[3]
        ax.set_title("\n".join(lines), fontsize=9, color=colour, loc="left")
    return _root(fig)


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
    normalize: str = "each",
    ncols: int | None = None,
    fig=None,
    figsize=None,
) -> Figure:
    """The image, then one panel per class with its activation map upsampled over it.

    ``maps``: (C, h, w) class activation maps (pre-sigmoid M). ``classes`` (names or indices) picks the
    panels; otherwise the ``top_k`` classes by ``scores`` (C,) if given, else by the map's spatial max
    (the s_m score). ``normalize``: "each" (min-max per map, shape only), "sigmoid" or "none".
    """
    img = image_to_array(image)
    m = _np(maps).astype(np.float32)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3 or m.shape[0] != len(class_names):
        raise ValueError(f"maps must be (C, h, w) with C = {len(class_names)}, got {m.shape}")
    peak = m.reshape(m.shape[0], -1).max(axis=1)
    rank_by = _np(scores).reshape(-1) if scores is not None else peak
    if classes is None:
        idx = np.argsort(-rank_by, kind="stable")[: max(1, top_k)].tolist()
    else:
        idx = _class_indices(classes, class_names)
    up = _upsample(m[idx], img.shape[:2])
    if normalize == "each":
        lo = up.reshape(len(idx), -1).min(axis=1)[:, None, None]
        hi = up.reshape(len(idx), -1).max(axis=1)[:, None, None]
        up = (up - lo) / np.where(hi > lo, hi - lo, 1.0)
        vmin, vmax = 0.0, 1.0
    elif normalize == "sigmoid":
        up = 1.0 / (1.0 + np.exp(-up))
        vmin, vmax = 0.0, 1.0
    elif normalize == "none":
        vmin, vmax = float(up.min()), float(up.max())
    else:
        raise ValueError(f"normalize must be 'each', 'sigmoid' or 'none', got {normalize!r}")
    n = len(idx) + 1
    nrows, ncols = _grid(n, ncols or min(n, 5))
    fig = _new_fig(fig, figsize or (2.8 * ncols, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    axes[0].imshow(img)
    axes[0].set_title("image", fontsize=10)
    for ax, c, heat in zip(axes[1:n], idx, up):
        ax.imshow(img)
        ax.imshow(heat, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax)
        detail = f"score {float(rank_by[c]):.2f}" if scores is not None else f"max {float(peak[c]):.2f}"
        ax.set_title(f"{class_names[c]}\n{detail}", fontsize=10)
    for ax in axes[:n]:
        ax.set_xticks([])
        ax.set_yticks([])
    return _root(fig)


def feature_maps(
    x3,
    x4,
    n: int = 8,
    *,
    select: str = "mean",
    names: tuple[str, str] = ("layer3 (X3)", "layer4 (X4)"),
    cmap: str = "viridis",
    fig=None,
    figsize=None,
) -> Figure:
    """``n`` channels of each scale: row 1 from X3 (C3, H, W), row 2 from X4 (C4, h, w); 2n axes.

    A leading batch dimension of 1 is dropped. ``select``: "mean" shows the channels with the highest
    mean activation, "first" the first n.
    """
    fig = _new_fig(fig, figsize or (1.7 * n, 4.0))
    axes = fig.subplots(2, n, squeeze=False)
    for row, (x, name) in enumerate(zip((x3, x4), names)):
        a = _np(x).astype(np.float32)
        if a.ndim == 4:
            a = a[0]
        if a.ndim != 3:
            raise ValueError(f"{name} must be (C, H, W) or (1, C, H, W), got {a.shape}")
        if select == "mean":
            chans = np.argsort(-a.mean(axis=(1, 2)), kind="stable")[:n]
        elif select == "first":
            chans = np.arange(min(n, a.shape[0]))
        else:
            raise ValueError(f"select must be 'mean' or 'first', got {select!r}")
        for col in range(n):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(chans):
                ax.imshow(a[chans[col]], cmap=cmap)
                ax.set_title(f"ch {int(chans[col])}", fontsize=8)
            else:
                ax.set_axis_off()
        axes[row, 0].set_ylabel(f"{name}\n{a.shape[0]}x{a.shape[1]}x{a.shape[2]}", fontsize=9)
    return _root(fig)


# ----------------------------------------------------------------------------------------------------
# label co-occurrence and graphs


def cooccurrence_heatmap(
    matrix,
    class_names: Sequence[str],
    title: str = "P(j | i)",
    annotate: bool = False,
    *,
    cmap: str = "viridis",
    fmt: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    xlabel: str = "j",
    ylabel: str = "i",
    cbar_label: str | None = None,
    ax=None,
    figsize=None,
) -> Figure:
    """A seaborn heatmap of a (C, C) matrix (counts, P(j | i) or an adjacency) with class names on both
    axes; two axes (the map and its colour bar)."""
    import seaborn as sns

    mat = _np(matrix)
    c = len(class_names)
    if mat.shape != (c, c):
        raise ValueError(f"matrix must be ({c}, {c}), got {mat.shape}")
    side = float(np.clip(0.16 * c + 3.0, 4.5, 14.0))
    fig, ax = _new_ax(ax, figsize or (side + 1.2, side))
    if fmt is None:
        fmt = "d" if np.issubdtype(mat.dtype, np.integer) else ".2f"
    size = _tick_fontsize(c)
    sns.heatmap(
        mat,
        ax=ax,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        square=True,
        annot=annotate,
        fmt=fmt,
        annot_kws={"fontsize": max(5.0, size - 1)},
        xticklabels=list(class_names),
        yticklabels=list(class_names),
        cbar_kws={"shrink": 0.8, "label": cbar_label or title},
        linewidths=0.3 if c <= 30 else 0.0,
        linecolor="white",
    )
    ax.tick_params(axis="both", labelsize=size, length=0)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=90)
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _root(fig)


def label_graph_data(
    P_or_A,
    class_names: Sequence[str],
    nums=None,
    tau: float = 0.4,
    categories=None,
    *,
    include_isolated: bool = True,
) -> nx.DiGraph:
    """The label graph as a networkx DiGraph: nodes are class names, edge i -> j when
    ``matrix[i, j] >= tau`` and > 0 (i != j), with ``weight = matrix[i, j]``.

    ``P_or_A``: P(j | i) (``graph.conditional_probability``) or an adjacency (pass a small tau). Node
    attributes: ``index`` and ``count`` (``nums[i]``, or None). ``categories`` (names or indices) keeps
    the subgraph on those classes; ``include_isolated=False`` drops nodes without edges.
    """
    mat = _np(P_or_A).astype(np.float64)
    c = len(class_names)
    if mat.shape != (c, c):
        raise ValueError(f"matrix must be ({c}, {c}), got {mat.shape}")
    counts = None if nums is None else _np(nums).reshape(-1)
    keep = range(c) if not categories else sorted(set(_class_indices(categories, class_names)))
    keep = list(keep)
    graph = nx.DiGraph()
    for i in keep:
        graph.add_node(class_names[i], index=i, count=None if counts is None else int(counts[i]))
    sub = mat[np.ix_(keep, keep)]
    rows, cols = np.nonzero((sub >= tau) & (sub > 0))
    for r, q in zip(rows.tolist(), cols.tolist()):
        if r != q:
            graph.add_edge(class_names[keep[r]], class_names[keep[q]], weight=float(sub[r, q]))
    if not include_isolated:
        graph.remove_nodes_from([v for v in list(graph.nodes) if graph.degree(v) == 0])
    return graph


def graph_layout(
    P_or_A, class_names: Sequence[str], seed: int = 0, layout: str = "spring", *, tau: float = 0.1
) -> dict:
    """Node positions {name: (x, y)} computed once from the whole matrix, so that a graph redrawn at
    another tau or with a category filter keeps its nodes in place.

    "spring": a force layout of the pairs with max(P_ij, P_ji) >= ``tau`` (pulled by that weight), so
    classes that co-occur sit together; classes without such a pair go on an outer ring.
    "circular": all classes on a circle in class order.
    """
    names = list(class_names)
    c = len(names)
    if layout == "circular":
        return nx.circular_layout(names)
    if layout != "spring":
        raise ValueError(f"layout must be 'spring' or 'circular', got {layout!r}")
    mat = _np(P_or_A).astype(np.float64)
    sym = np.maximum(mat, mat.T)
    np.fill_diagonal(sym, 0.0)
    linked = (sym >= tau) & (sym > 0)
    g = nx.Graph()
    connected = [names[i] for i in range(c) if linked[i].any()]
    g.add_nodes_from(connected)
    rows, cols = np.nonzero(np.triu(linked))
    for r, q in zip(rows.tolist(), cols.tolist()):
        g.add_edge(names[r], names[q], weight=float(sym[r, q]))
    pos = {}
    if connected:
        k = 1.8 / math.sqrt(len(connected))
        inner = nx.spring_layout(g, seed=seed, weight="weight", k=k, iterations=200)
        pts = np.array([inner[v] for v in connected])
        pts = pts - pts.mean(axis=0)
        pts = pts / max(float(np.linalg.norm(pts, axis=1).max()), 1e-9)
        pos.update({v: pts[n] for n, v in enumerate(connected)})
    lonely = [v for v in names if v not in pos]
    radius = 1.25 if connected else 1.0
    for n, v in enumerate(lonely):
        angle = 2 * math.pi * n / len(lonely) + math.pi / 2
        pos[v] = np.array([radius * math.cos(angle), radius * math.sin(angle)])
    return pos


def label_graph(
    P_or_A,
    class_names: Sequence[str],
    nums=None,
    tau: float = 0.4,
    categories=None,
    layout_seed: int = 0,
    *,
    pos: dict | None = None,
    layout: str = "spring",
    include_isolated: bool = True,
    title: str | None = None,
    weight_label: str = "P(j | i)",
    node_color: str = "#BFE1F5",
    cmap: str = "viridis",
    ax=None,
    figsize=None,
) -> Figure:
    """Draw the label graph of :func:`label_graph_data`: node size by frequency (``nums``), arrow i -> j
    for P(j | i) >= tau with width and colour by P(j | i). One axes, plus a colour bar when there are edges.

    ``pos`` (from :func:`graph_layout`) fixes node positions; otherwise they come from the whole matrix
    with ``layout_seed``, so the nodes do not move as tau changes.
    """
    graph = label_graph_data(P_or_A, class_names, nums, tau, categories, include_isolated=include_isolated)
    if pos is None:
        pos = graph_layout(P_or_A, class_names, seed=layout_seed, layout=layout)
    n = graph.number_of_nodes()
    side = float(np.clip(0.09 * n + 5.0, 5.0, 13.0))
    fig, ax = _new_ax(ax, figsize or (side + 1.5, side))
    nodes = list(graph.nodes)
    counts = [graph.nodes[v]["count"] for v in nodes]
    if nodes and all(k is not None for k in counts):
        top = max(max(counts), 1)
        biggest = float(np.clip(60000.0 / max(n, 1), 700.0, 1800.0))
        sizes = [biggest * (0.12 + 0.88 * math.sqrt(k / top)) for k in counts]
    else:
        sizes = [float(np.clip(12000.0 / max(n, 1), 250.0, 700.0))] * n
    nx.draw_networkx_nodes(
        graph, pos, nodelist=nodes, node_size=sizes, node_color=node_color, edgecolors="#33617A", ax=ax
    )
    edges = list(graph.edges(data="weight"))
    if edges:
        weights = np.array([w for _, _, w in edges])
        norm = Normalize(vmin=min(tau, float(weights.min())) if tau > 0 else 0.0, vmax=1.0)
        colormap = matplotlib.colormaps[cmap]
        nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=[(u, v) for u, v, _ in edges],
            width=((0.6 + 4.4 * weights) * float(np.clip(60.0 / len(edges), 0.4, 1.0))).tolist(),
            edge_color=[colormap(norm(w)) for w in weights],
            node_size=sizes,
            nodelist=nodes,
            arrows=True,
            arrowstyle="-|>",
            arrowsize=12,
            connectionstyle="arc3,rad=0.12",
            alpha=0.85,
            ax=ax,
        )
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap)
        ax.get_figure(root=False).colorbar(mappable, ax=ax, shrink=0.6, label=weight_label)
    font = float(np.clip(260.0 / max(n, 1), 7.5, 11.0))
    nx.draw_networkx_labels(graph, pos, labels={v: v for v in nodes}, font_size=font, ax=ax)
    ax.set_axis_off()
    ax.margins(0.08)
    if title is None:
        title = f"Label graph: {graph.number_of_edges()} edges with {weight_label} \u2265 {tau:.2f}"
    ax.set_title(title)
    return _root(fig)


def adjacency_pair(
    static_A,
    dynamic_A,
    class_names: Sequence[str],
    classes=None,
    *,
    annotate: bool | None = None,
    cmap: str = "viridis",
    fig=None,
    figsize=None,
) -> Figure:
    """Static prior A, one image's dynamic A_d, and A_d - A side by side (3 maps + 3 colour bars).

    ``dynamic_A``: (C, C), or (1, C, C). ``classes`` (names or indices) restricts all three to a subset,
    e.g. the image's true and predicted labels; values are written in the cells when there are at most
    12 classes (``annotate``).
    """
    s = _np(static_A).astype(np.float32)
    d = _np(dynamic_A).astype(np.float32)
    if d.ndim == 3:
        if d.shape[0] != 1:
            raise ValueError(f"pass one image's dynamic adjacency (C, C), got a batch {d.shape}")
        d = d[0]
    c = len(class_names)
    if s.shape != (c, c) or d.shape != (c, c):
        raise ValueError(f"both matrices must be ({c}, {c}), got {s.shape} and {d.shape}")
    idx = list(range(c)) if classes is None else _class_indices(classes, class_names)
    s, d = s[np.ix_(idx, idx)], d[np.ix_(idx, idx)]
    names = [class_names[i] for i in idx]
    k = len(idx)
    annotate = k <= 12 if annotate is None else annotate
    side = float(np.clip(0.25 * k + 2.5, 3.5, 7.0))
    fig = _new_fig(fig, figsize or (3 * side + 2.0, side + 0.6))
    axes = fig.subplots(1, 3, squeeze=True)
    diff = d - s
    span = float(max(np.abs(diff).max(), 1e-6))
    panels = (
        (s, "static A (prior)", cmap, 0.0, 1.0),
        (d, "dynamic A_d (this image)", cmap, 0.0, 1.0),
        (diff, "A_d \u2212 A", "RdBu_r", -span, span),
    )
    size = _tick_fontsize(k)
    for j, (ax, (mat, title, cm, lo, hi)) in enumerate(zip(axes, panels)):
        im = ax.imshow(mat, cmap=cm, vmin=lo, vmax=hi)
        ax.get_figure(root=False).colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(title)
        ax.set_xticks(range(k), names, rotation=90, fontsize=size)
        ax.set_yticks(range(k), names if j == 0 else [], fontsize=size)
        ax.set_xlabel("j (aggregated)", fontsize=9)
        if j == 0:
            ax.set_ylabel("i (node)", fontsize=9)
        if annotate:
            for r in range(k):
                for q in range(k):
                    value = mat[r, q]
                    bright = (value - lo) / (hi - lo) if hi > lo else 0.5
                    dark_cell = bright < 0.55 if cm == cmap else abs(bright - 0.5) > 0.3
                    ax.text(
                        q,
                        r,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=max(5.0, size - 2),
                        color="white" if dark_cell else "black",
                    )
    return _root(fig)


# ----------------------------------------------------------------------------------------------------
# evaluation


def pr_curves(
    scores,
    targets,
    class_names: Sequence[str],
    classes=None,
    *,
    max_classes: int = 8,
    ax=None,
    figsize=None,
) -> Figure:
    """Precision-recall curves (one line per class, AP in the legend), from ``metrics.pr_curve``.

    ``scores`` (N, C) probabilities, ``targets`` (N, C) 0/1. ``classes`` (names or indices); by default
    all classes when C <= ``max_classes``, else the ``max_classes`` with the most positives.
    """
    t = _np(targets)
    c = len(class_names)
    if classes is None:
        positives = t.reshape(-1, c).sum(axis=0)
        idx = list(range(c)) if c <= max_classes else np.argsort(-positives, kind="stable")[:max_classes]
        idx = [int(i) for i in idx]
    else:
        idx = _class_indices(classes, class_names)
    fig, ax = _new_ax(ax, figsize or (6.5, 5.0))
    for n, i in enumerate(idx):
        curve = pr_curve(scores, targets, i)
        recall = np.concatenate([[0.0], curve.recall])
        precision = np.concatenate([[curve.precision[0] if len(curve.precision) else 1.0], curve.precision])
        ax.plot(
            recall,
            precision,
            drawstyle="steps-pre",  # precision p_k over (r_{k-1}, r_k]: the area under it is the AP
            color=OKABE_ITO[n % len(OKABE_ITO)],
            linestyle=("-", "--", "-.", ":")[(n // len(OKABE_ITO)) % 4],
            linewidth=1.8,
            label=f"{class_names[i]} (AP {100 * curve.ap:.1f})",
        )
    ax.set_xlim(0.0, 1.01)
    ax.set_ylim(0.0, 1.03)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall per class")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _root(fig)


def threshold_sweep_data(scores, targets, thresholds=None, top_k: int | None = None) -> dict:
    """CP, CR, CF1, OP, OR, OF1 (percent) at each threshold, via ``metrics.multilabel_metrics``.

    Returns ``{"threshold": (T,), "CP": (T,), ...}``; thresholds default to 0.05, 0.10, ..., 0.95.
    """
    ths = np.round(np.arange(0.05, 0.951, 0.05), 4) if thresholds is None else _np(thresholds).reshape(-1)
    out = {"threshold": ths.astype(np.float64)}
    rows = []
    with warnings.catch_warnings():
        for n, th in enumerate(ths):
            if n == 1:  # a class without positives warns once, not once per threshold
                warnings.simplefilter("ignore", RuntimeWarning)
            rows.append(multilabel_metrics(scores, targets, threshold=float(th), top_k=top_k))
    for key in THRESHOLD_METRICS:
        out[key] = np.array([r[key] for r in rows], dtype=np.float64)
    return out


def threshold_sweep(
    scores,
    targets,
    thresholds=None,
    *,
    top_k: int | None = None,
    mark: float | None = 0.5,
    data: dict | None = None,
    ax=None,
    figsize=None,
) -> Figure:
    """CP, CR, CF1 (solid) and OP, OR, OF1 (dashed) against the threshold: 6 lines, plus a vertical
    line at ``mark`` (the paper's 0.5). Pass ``data`` from :func:`threshold_sweep_data` to skip the sweep."""
    data = threshold_sweep_data(scores, targets, thresholds, top_k) if data is None else data
    fig, ax = _new_ax(ax, figsize or (6.5, 4.5))
    for key in THRESHOLD_METRICS:
        colour = OKABE_ITO[{"P": 0, "R": 1, "F": 3}[key[1]]]
        ax.plot(
            data["threshold"],
            data[key],
            color=colour,
            linestyle="-" if key[0] == "C" else "--",
            marker="o" if key.endswith("F1") else None,
            markersize=3,
            label=key,
        )
    if mark is not None:
        ax.axvline(mark, color="0.4", linestyle=":", linewidth=1.2)
    ax.set_xlabel("threshold" + (f" (top-{top_k})" if top_k else ""))
    ax.set_ylabel("percent")
    ax.set_ylim(0, 101)
    ax.set_title("Metrics vs threshold")
    ax.grid(alpha=0.3)
    ax.legend(ncols=2, fontsize=8)
    return _root(fig)


def metrics_table_figure(
    rows: Mapping[str, Mapping[str, float]],
    columns: Sequence[str] = METRIC_KEYS,
    *,
    title: str | None = None,
    highlight_best: bool = True,
    fmt: str = "{:.1f}",
    ax=None,
    figsize=None,
) -> Figure:
    """A table (e.g. the paper's Table 1 beside this run): ``rows`` maps a method to its metrics;
    missing values show as a dash; the best value of each column is bold."""
    names = list(rows)
    values = np.array(
        [
            [float(rows[r].get(col, np.nan)) if rows[r].get(col) is not None else np.nan for col in columns]
            for r in names
        ],
        dtype=np.float64,
    ).reshape(len(names), len(columns))
    fig, ax = _new_ax(
        ax,
        figsize
        or (1.0 + 0.9 * len(columns) + 0.08 * max(map(len, names), default=4), 0.6 + 0.32 * (len(names) + 1)),
    )
    ax.set_axis_off()
    cells = [[("\u2013" if np.isnan(v) else fmt.format(v)) for v in row] for row in values]
    table = ax.table(cellText=cells, rowLabels=names, colLabels=list(columns), loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.3)
    if highlight_best and len(names):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            best = np.nanmax(values, axis=0)
        for (r, q), cell in table.get_celld().items():
            if r >= 1 and q >= 0 and not np.isnan(values[r - 1, q]) and values[r - 1, q] == best[q]:
                cell.get_text().set_fontweight("bold")
    if title:
        ax.set_title(title)
    return _root(fig)


# ----------------------------------------------------------------------------------------------------
# training


_CURVE_LABELS = {
    "map": "mAP (s)",
    "map_s_r": "mAP (s_r)",
    "map_s_m": "mAP (s_m)",
    "val_map": "mAP (s)",  # the trainer's log.jsonl keys
    "val_map_r": "mAP (s_r)",
    "val_map_m": "mAP (s_m)",
}


def training_curves(history: Sequence[Mapping], *, fig=None, figsize=None) -> Figure:
    """Loss (every key containing "loss") and mAP (keys starting with "map" or "val_map", any case) per epoch.

    ``history``: a list of dicts with ``epoch`` and e.g. ``train_loss``, ``map``, ``map_s_r``, ``map_s_m``,
    or the trainer's rows as they are (``val_mAP``, ``val_mAP_r``, ``val_mAP_m``: ``Trainer.history``,
    ``log.jsonl``). A missing or None value leaves a gap. Two axes (one if there is no mAP), the best
    mAP of s (``map`` or ``val_mAP``) marked.
    """
    if not history:
        raise ValueError("empty history")
    keys = []
    for row in history:
        keys.extend(k for k in row if k not in keys)
    loss_keys = [k for k in keys if "loss" in k.lower()]
    map_keys = [k for k in keys if k.lower().startswith(("map", "val_map"))]
    epochs = np.array([row.get("epoch", n + 1) for n, row in enumerate(history)], dtype=np.float64)

    def series(key):
        return np.array([np.nan if row.get(key) is None else float(row[key]) for row in history])

    groups = [(loss_keys, "loss")] + ([(map_keys, "mAP (%)")] if map_keys else [])
    fig = _new_fig(fig, figsize or (5.0 * len(groups), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    for ax, (group, ylabel) in zip(axes, groups):
        for n, key in enumerate(group):
            style = "--" if key.lower().startswith(("val", "test")) else "-"
            ax.plot(
                epochs,
                series(key),
                marker="o",
                markersize=3,
                linestyle=style,
                color=OKABE_ITO[n % len(OKABE_ITO)],
                label=_CURVE_LABELS.get(key.lower(), key),
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if group:
            ax.legend(fontsize=8)
    if map_keys:
        main = next((k for k in map_keys if k.lower() in ("map", "val_map")), map_keys[0])
        values = series(main)
        if np.isfinite(values).any():
            best = int(np.nanargmax(values))
            axes[-1].plot(
                epochs[best],
                values[best],
                marker="*",
                markersize=12,
                linestyle="none",
                color=OKABE_ITO[0],
                label=f"best {values[best]:.1f} (epoch {epochs[best]:g})",
            )
            axes[-1].legend(fontsize=8)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title("Training loss")
    if map_keys:
        axes[-1].set_title("Validation mAP")
    return _root(fig)


def residual_vs_plain(
    curves: Mapping[str, Sequence[float] | tuple],
    *,
    log_y: bool = False,
    xlabel: str = "step",
    ylabel: str = "training loss",
    ax=None,
    figsize=None,
) -> Figure:
    """Loss curves of plain and residual stacks (one line each): names containing "plain" are dashed,
    the others solid, so the comparison survives greyscale printing.

    ``curves``: {name: losses} or {name: (steps, losses)}.
    """
    fig, ax = _new_ax(ax, figsize or (6.5, 4.2))
    for n, (name, curve) in enumerate(curves.items()):
        if isinstance(curve, tuple) and len(curve) == 2:
            x, y = _np(curve[0]).reshape(-1), _np(curve[1]).reshape(-1)
        else:
            y = _np(curve).reshape(-1)
            x = np.arange(1, len(y) + 1)
        ax.plot(
            x,
            y,
            color=OKABE_ITO[n % len(OKABE_ITO)],
            linewidth=1.8,
            linestyle="--" if "plain" in name.lower() else "-",
            label=name,
        )
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("Plain vs residual stacks")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return _root(fig)


def param_bars(
    counts: Mapping[str, int | Mapping[str, int]],
    *,
    unit: float = 1e6,
    unit_name: str = "M",
    ax=None,
    figsize=None,
) -> Figure:
    """Horizontal bars of parameter counts, totals written at the bar ends (in millions by default).

    ``counts``: {model: n} (one bar each) or {model: {part: n}} (stacked bars, one segment per part)."""
    names = list(counts)
    nested = any(isinstance(v, Mapping) for v in counts.values())
    fig, ax = _new_ax(ax, figsize or (7.0, 0.9 + 0.55 * len(names)))
    y = np.arange(len(names))
    if nested:
        parts = []
        for v in counts.values():
            parts.extend(p for p in (v if isinstance(v, Mapping) else {"total": v}) if p not in parts)
        left = np.zeros(len(names))
        for n, part in enumerate(parts):
            vals = (
                np.array(
                    [
                        (v.get(part, 0) if isinstance(v, Mapping) else (v if part == "total" else 0))
                        for v in counts.values()
                    ],
                    dtype=np.float64,
                )
                / unit
            )
            ax.barh(y, vals, left=left, color=OKABE_ITO[n % len(OKABE_ITO)], label=part, height=0.6)
            left += vals
        totals = left
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        totals = np.array([counts[k] for k in names], dtype=np.float64) / unit
        ax.barh(y, totals, color=OKABE_ITO[0], height=0.6)
    for yi, total in zip(y, totals):
        ax.text(total, yi, f" {total:.2f} {unit_name}", va="center", fontsize=9)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, max(float(totals.max(initial=0.0)), 1e-9) * 1.22)
    ax.set_xlabel(f"parameters ({unit_name})")
    ax.set_title("Parameter counts")
    ax.grid(axis="x", alpha=0.3)
    return _root(fig)


# ----------------------------------------------------------------------------------------------------
# export


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (what the widgets display)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def save_figure(
    fig: Figure, path, *, formats: Sequence[str] | None = None, dpi: int = 200, transparent: bool = False
) -> list[Path]:
    """Write the figure for slides; returns the files written (parent folders are created).

    The format comes from the suffix (.png, .svg, .pdf); with ``formats=("png", "svg")`` or a path
    without suffix, one file per format is written beside ``path``.
    """
    path = Path(path).expanduser()
    if formats is None:
        formats = [path.suffix.lstrip(".").lower()] if path.suffix else ["png", "svg"]
    written = []
    for f in formats:
        f = f.lower().lstrip(".")
        if f not in ("png", "svg", "pdf"):
            raise ValueError(f"unsupported format {f!r}: use png, svg or pdf")
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
