"""Figures of evaluation: precision-recall curves, the six thresholded metrics against the threshold,
and a metrics table (a run beside the paper's numbers)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from dbdgcn_lib.metrics import METRIC_KEYS, multilabel_metrics, pr_curve
from dbdgcn_lib.viz.core import OKABE_ITO, class_indices, new_axes, root_figure, to_numpy

__all__ = [
    "THRESHOLD_METRICS",
    "metrics_table_figure",
    "pr_curves",
    "threshold_sweep",
    "threshold_sweep_data",
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
