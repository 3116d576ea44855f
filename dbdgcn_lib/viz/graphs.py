"""Figures of label co-occurrence and the label graph: heatmaps of (C, C) matrices, the directed
graph of P(j | i) >= tau with stable node positions, and a static prior beside one image's dynamic
adjacency."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
import networkx as nx
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dbdgcn_lib.viz.core import (
    DISPLAY_WIDTH_IN,
    OKABE_ITO,
    class_indices,
    new_axes,
    new_figure,
    root_figure,
    tick_fontsize,
    to_numpy,
)

__all__ = ["adjacency_pair", "cooccurrence_heatmap", "graph_layout", "label_graph", "label_graph_data"]

MANY_CLASSES = 40  # beyond this many names a heatmap fills the notebook's width and sizes names to its rows


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
    highlight: Sequence[str] = (),
    ax=None,
    figsize=None,
) -> Figure:
    """A seaborn heatmap of a (C, C) matrix (counts, P(j | i) or an adjacency) with class names on both
    axes; two axes (the map and its colour bar). ``highlight``: class names whose row and column are
    framed and whose names are set in bold colour (the rows a text talks about).

    With more than ``MANY_CLASSES`` names (COCO's 80) the figure is as wide as a notebook shows a figure
    unscaled (``DISPLAY_WIDTH_IN``), with the largest names its rows leave room for: about 8 px for 80.
    """
    import seaborn as sns

    mat = to_numpy(matrix)
    c = len(class_names)
    if mat.shape != (c, c):
        raise ValueError(f"matrix must be ({c}, {c}), got {mat.shape}")
    unknown = sorted(set(highlight) - set(class_names))
    if unknown:
        raise ValueError(f"highlight: unknown class name(s) {unknown[:5]}")
    side = float(np.clip(0.16 * c + 3.0, 4.5, 14.0))
    size = tick_fontsize(c)
    default_size = (side + 1.2, side)
    if c > MANY_CLASSES:
        default_size = (DISPLAY_WIDTH_IN, DISPLAY_WIDTH_IN + 0.2)
        size = min(10.0, 480.0 / c)  # 0.9 of the row pitch that width leaves for c rows
    fig, ax = new_axes(ax, figsize or default_size)
    if fmt is None:
        fmt = "d" if np.issubdtype(mat.dtype, np.integer) else ".2f"
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
    for name in highlight:
        k = list(class_names).index(name)
        for label in (ax.get_xticklabels()[k], ax.get_yticklabels()[k]):
            label.set(color=OKABE_ITO[3], fontweight="bold")
        for xy, w, h in (((0, k), c, 1), ((k, 0), 1, c)):  # its row and its column
            frame = Rectangle(xy, w, h, fill=False, edgecolor=OKABE_ITO[3], linewidth=1.2, clip_on=False)
            ax.add_patch(frame)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return root_figure(fig)


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
    mat = to_numpy(P_or_A).astype(np.float64)
    c = len(class_names)
    if mat.shape != (c, c):
        raise ValueError(f"matrix must be ({c}, {c}), got {mat.shape}")
    counts = None if nums is None else to_numpy(nums).reshape(-1)
    keep = range(c) if not categories else sorted(set(class_indices(categories, class_names)))
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
    mat = to_numpy(P_or_A).astype(np.float64)
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
    fig, ax = new_axes(ax, figsize or (side + 1.5, side))
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
    return root_figure(fig)


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

    The difference is for orientation only (its title says so): the prior's rows sum to 1 with most
    weight on the diagonal, while every entry of A_d is a sigmoid of its own, so the scales differ.

    ``dynamic_A``: (C, C), or (1, C, C). ``classes`` (names or indices) restricts all three to a subset,
    e.g. the image's true and predicted labels; values are written in the cells when there are at most
    12 classes (``annotate``).
    """
    s = to_numpy(static_A).astype(np.float32)
    d = to_numpy(dynamic_A).astype(np.float32)
    if d.ndim == 3:
        if d.shape[0] != 1:
            raise ValueError(f"pass one image's dynamic adjacency (C, C), got a batch {d.shape}")
        d = d[0]
    c = len(class_names)
    if s.shape != (c, c) or d.shape != (c, c):
        raise ValueError(f"both matrices must be ({c}, {c}), got {s.shape} and {d.shape}")
    idx = list(range(c)) if classes is None else class_indices(classes, class_names)
    s, d = s[np.ix_(idx, idx)], d[np.ix_(idx, idx)]
    names = [class_names[i] for i in idx]
    k = len(idx)
    annotate = k <= 12 if annotate is None else annotate
    side = float(np.clip(0.25 * k + 2.5, 3.5, 7.0))
    fig = new_figure(fig, figsize or (3 * side + 2.0, side + 0.6))
    axes = fig.subplots(1, 3, squeeze=True)
    diff = d - s
    span = float(max(np.abs(diff).max(), 1e-6))
    panels = (
        (s, "static A (prior)", cmap, 0.0, 1.0),
        (d, "dynamic A_d (this image)", cmap, 0.0, 1.0),
        (diff, "A_d \u2212 A\n(for orientation only)", "RdBu_r", -span, span),
    )
    size = tick_fontsize(k)
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
    return root_figure(fig)
