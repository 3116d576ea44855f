"""Figures of evaluation: precision-recall curves, the six thresholded metrics against the threshold,
a metrics table (a run beside the paper's numbers), per-class AP sorted, and a gallery of the most
confident mistakes with the activation map of the mistaken class."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from dbdgcn_lib.metrics import METRIC_KEYS, multilabel_metrics, pr_curve
from dbdgcn_lib.viz.core import (
    OKABE_ITO,
    class_indices,
    grid_shape,
    image_to_array,
    new_axes,
    new_figure,
    root_figure,
    tick_fontsize,
    to_numpy,
    wrap_text,
)

__all__ = [
    "MISTAKE_KINDS",
    "THRESHOLD_METRICS",
    "metrics_table_figure",
    "mistakes_gallery",
    "per_class_ap_bars",
    "pr_curves",
    "threshold_sweep",
    "threshold_sweep_data",
    "worst_mistakes",
]

# the metrics a decision threshold changes (mAP does not depend on it)
THRESHOLD_METRICS = ("CP", "CR", "CF1", "OP", "OR", "OF1")


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
    t = to_numpy(targets)
    c = len(class_names)
    if classes is None:
        positives = t.reshape(-1, c).sum(axis=0)
        idx = list(range(c)) if c <= max_classes else np.argsort(-positives, kind="stable")[:max_classes]
        idx = [int(i) for i in idx]
    else:
        idx = class_indices(classes, class_names)
    fig, ax = new_axes(ax, figsize or (6.5, 5.0))
    for n, i in enumerate(idx):
        curve = pr_curve(scores, targets, i, class_name=class_names[i])
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
    return root_figure(fig)


def threshold_sweep_data(scores, targets, thresholds=None, top_k: int | None = None) -> dict:
    """CP, CR, CF1, OP, OR, OF1 (percent) at each threshold, via ``metrics.multilabel_metrics``.

    Returns ``{"threshold": (T,), "CP": (T,), ...}``; thresholds default to 0.05, 0.10, ..., 0.95.
    """
    ths = (
        np.round(np.arange(0.05, 0.951, 0.05), 4) if thresholds is None else to_numpy(thresholds).reshape(-1)
    )
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
    fig, ax = new_axes(ax, figsize or (6.5, 4.5))
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
    return root_figure(fig)


def metrics_table_figure(
    rows: Mapping[str, Mapping[str, float]],
    columns: Sequence[str] = METRIC_KEYS,
    *,
    title: str | None = None,
    highlight_best: bool = False,
    fmt: str = "{:.1f}",
    ax=None,
    figsize=None,
) -> Figure:
    """A table (e.g. the paper's Table 1 beside this run): ``rows`` maps a method to its metrics,
    ``columns`` picks them; missing values show as a dash. ``highlight_best=True`` sets the best value
    of each column in bold; it is off by default, because a table cannot tell a real lead from noise."""
    names = list(rows)
    values = np.array(
        [
            [float(rows[r].get(col, np.nan)) if rows[r].get(col) is not None else np.nan for col in columns]
            for r in names
        ],
        dtype=np.float64,
    ).reshape(len(names), len(columns))
    fig, ax = new_axes(
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
    return root_figure(fig)


def per_class_ap_bars(
    ap: Mapping[str, object],
    class_names: Sequence[str],
    *,
    prevalence: Mapping[str, object] | None = None,
    ax=None,
    figsize=None,
) -> Figure:
    """Per-class AP as horizontal bars, one bar per series and class, the classes sorted by the first
    series' AP (highest at the top).

    ``ap``: series name -> (C,) AP in [0, 1] (``metrics.average_precision``; NaN, a class without
    positives, draws no bar). ``prevalence``: series name -> (C,) share of the images holding each class,
    drawn as a black tick on that series' bar: the AP that random scores get, so the distance from the
    tick to the bar's end is what the model adds. Axes: one; x is AP in percent.
    """
    names = list(ap)
    if not names:
        raise ValueError("ap needs at least one series")
    values = {name: 100.0 * to_numpy(ap[name]).astype(np.float64).reshape(-1) for name in names}
    c = len(class_names)
    if any(v.shape != (c,) for v in values.values()):
        raise ValueError(f"each AP series must have one value per class ({c})")
    unknown = sorted(set(prevalence or {}) - set(names))
    if unknown:
        raise ValueError(f"prevalence names series that ap does not have: {unknown}")
    first = values[names[0]]
    order = np.argsort(np.where(np.isnan(first), np.inf, -first), kind="stable")  # best first, NaN last
    height = 0.8 / len(names)
    fig, ax = new_axes(ax, figsize or (6.5, 0.9 + 0.22 * c * max(1, len(names) * 0.6)))
    rows = np.arange(c)[::-1]  # row c-1 at the top: the best class
    tick_label = "random scores (prevalence)"
    for n, name in enumerate(names):
        offset = (len(names) - 1) / 2 * height - n * height
        ax.barh(
            rows + offset,
            np.nan_to_num(values[name][order]),
            height=height,
            color=OKABE_ITO[n % len(OKABE_ITO)],
            hatch=("", "//", "..", "xx")[n % 4],
            edgecolor="white",
            label=name,
        )
        if prevalence is not None and name in prevalence:
            share = 100.0 * to_numpy(prevalence[name]).astype(np.float64).reshape(-1)[order]
            ax.plot(
                share,
                rows + offset,
                linestyle="none",
                marker="|",
                markersize=16.0 * height,  # about the bar's height in points
                markeredgewidth=1.6,
                color="black",
                label=tick_label,
            )
            tick_label = None  # one legend entry for all ticks
    ax.set_yticks(rows, [class_names[i] for i in order], fontsize=tick_fontsize(c))
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, c - 0.4)
    ax.set_xlabel("AP (%)")
    ax.set_ylabel("class (sorted by AP of " + names[0] + ")")
    ax.set_title("Per-class AP")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    return root_figure(fig)


MISTAKE_KINDS = ("false positive", "missed")


def worst_mistakes(
    scores, targets, kind: str = "false positive", k: int = 8, *, among=None, per_class: int | None = None
) -> list:
    """The ``k`` most confident mistakes, most confident first, as ``(image, class, score)`` triples.

    ``kind="false positive"``: absent labels (target 0) with the highest scores; ``"missed"``: present
    labels (target 1) with the lowest scores. ``among`` (N, C) bool limits the candidates (for example
    ``data.out_of_scene_mask`` of a split: its missed out-of-scene labels); ``per_class`` keeps at most
    that many mistakes of one class (1: the worst mistake of each of the k worst classes). ``scores``
    (N, C) probabilities, ``targets`` (N, C) 0/1. Equal scores keep image order, then class order.
    """
    if kind not in MISTAKE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(MISTAKE_KINDS)}, got {kind!r}")
    s = to_numpy(scores).astype(np.float64)
    t = to_numpy(targets)
    if s.ndim != 2 or s.shape != t.shape:
        raise ValueError(f"scores and targets must be (N, C) of one shape, got {s.shape} and {t.shape}")
    candidate = (t < 0.5) if kind == "false positive" else (t > 0.5)
    if among is not None:
        mask = to_numpy(among).astype(bool)
        if mask.shape != s.shape:
            raise ValueError(f"among has shape {mask.shape}, the scores {s.shape}: they must match")
        candidate &= mask
    flat = np.flatnonzero(candidate.reshape(-1))  # row-major: image order, then class order
    key = -s.reshape(-1)[flat] if kind == "false positive" else s.reshape(-1)[flat]
    images, classes = np.divmod(flat[np.argsort(key, kind="stable")], s.shape[1])
    taken: dict[int, int] = {}
    chosen = []
    for i, c in zip(images, classes):
        if len(chosen) == k:
            break
        if per_class is None or taken.get(c, 0) < per_class:
            taken[c] = taken.get(c, 0) + 1
            chosen.append((int(i), int(c), float(s[i, c])))
    return chosen


def mistakes_gallery(
    images,
    maps,
    mistakes: Sequence[tuple[int, int, float]],
    class_names: Sequence[str],
    *,
    truths=None,
    kind: str = "false positive",
    ncols: int = 4,
    alpha: float = 0.5,
    cmap: str = "inferno",
    fig=None,
    figsize=None,
) -> Figure:
    """One panel per mistake: its image under the activation map of the mistaken class, sigma(M) drawn
    as the map's grid of blocks, titled with the image, the class, its score (2 significant digits) and
    what went wrong; the image's true labels below; one colour bar for all panels.

    ``images``: the K images of ``mistakes``, in order ((K, 3, H, W) normalised tensors, or anything
    ``image_to_array`` takes); ``maps``: (K, C, h, w) their pre-sigmoid class activation maps;
    ``mistakes``: K ``(image, class, score)`` triples (``worst_mistakes``); ``truths``: (K, C) 0/1, the
    images' labels; ``kind``: ``"false positive"`` (the class is absent) or ``"missed"`` (present).
    Axes: K panels, then the colour bar.
    """
    if kind not in MISTAKE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(MISTAKE_KINDS)}, got {kind!r}")
    m = to_numpy(maps).astype(np.float32)
    k = len(mistakes)
    if k == 0:
        raise ValueError("no mistakes to show")
    if len(images) != k or m.ndim != 4 or m.shape[0] != k or m.shape[1] != len(class_names):
        raise ValueError(
            f"need one image and one (C, h, w) map per mistake with C = {len(class_names)}: got "
            f"{len(images)} images, maps {m.shape}, {k} mistakes"
        )
    truth = None if truths is None else to_numpy(truths).reshape(k, -1)
    nrows, ncols = grid_shape(k, ncols)
    fig = new_figure(fig, figsize or (2.6 * ncols + 0.9, 3.5 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[k:]:
        ax.remove()
    what = "predicted, absent" if kind == "false positive" else "present, missed"
    for n, (ax, image, grid, (index, c, score)) in enumerate(zip(axes, images, m, mistakes)):
        img = image_to_array(image)
        height, width = img.shape[:2]
        ax.imshow(img)
        heat = 1.0 / (1.0 + np.exp(-grid[c]))
        shown = ax.imshow(
            heat,
            cmap=cmap,
            alpha=alpha,
            vmin=0.0,
            vmax=1.0,
            extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            interpolation="nearest",
        )
        h, w = heat.shape
        lines = {"colors": "white", "linewidth": 0.6, "alpha": 0.6}
        ax.vlines(np.linspace(-0.5, width - 0.5, w + 1)[1:-1], -0.5, height - 0.5, **lines)
        ax.hlines(np.linspace(-0.5, height - 0.5, h + 1)[1:-1], -0.5, width - 0.5, **lines)
        ax.set_title(f"image {index}: {class_names[c]} {score:.2g}\n({what})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if truth is not None:
            present = ", ".join(class_names[j] for j in np.flatnonzero(truth[n] > 0.5)) or "(none)"
            ax.set_xlabel(wrap_text("true: " + present, 30), fontsize=8)
    fig.colorbar(shown, ax=list(axes[:k]), shrink=0.85, label="\u03c3(M) of the class in the title")
    return root_figure(fig)
