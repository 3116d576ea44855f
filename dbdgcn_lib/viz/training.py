"""Figures of training: loss and validation mAP per epoch, plain against residual stacks, and
parameter counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dbdgcn_lib.viz.core import OKABE_ITO, new_axes, new_figure, root_figure, to_numpy

__all__ = ["param_bars", "residual_vs_plain", "training_curves"]


_CURVE_LABELS = {
    "loss": "training loss",  # quick_train's rows
    "train_loss": "training loss",  # the trainer's rows
    "val_loss": "validation loss",
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
    or the rows of ``Trainer.history`` / ``log.jsonl`` (``train_loss``, ``val_loss``, ``val_mAP``,
    ``val_mAP_r``, ``val_mAP_m``) or of ``quick_train``'s history (``loss``, ``val_loss``, ``val_mAP``)
    as they are. Validation curves are dashed; with a validation loss the loss panel shows it beside
    the training loss and marks its lowest epoch (where a rising curve after it means overfitting).
    A missing or None value leaves a gap. Two axes, loss then mAP (one if there is no mAP), the best
    mAP of s (``map`` or ``val_mAP``) marked.
    """
    if not history:
        raise ValueError("empty history")
    keys = []
    for row in history:
        keys.extend(k for k in row if k not in keys)
    loss_keys = [k for k in keys if "loss" in k.lower()]
    val_loss = next((k for k in loss_keys if k.lower().startswith("val")), None)
    map_keys = [k for k in keys if k.lower().startswith(("map", "val_map"))]
    epochs = np.array([row.get("epoch", n + 1) for n, row in enumerate(history)], dtype=np.float64)

    def series(key):
        return np.array([np.nan if row.get(key) is None else float(row[key]) for row in history])

    groups = [(loss_keys, "loss")] + ([(map_keys, "mAP (%)")] if map_keys else [])
    fig = new_figure(fig, figsize or (5.0 * len(groups), 3.8))
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
    if val_loss is not None and np.isfinite(series(val_loss)).any():
        values = series(val_loss)
        low = int(np.nanargmin(values))
        axes[0].plot(
            epochs[low],
            values[low],
            marker="v",
            markersize=9,
            linestyle="none",
            color="0.25",
            label=f"lowest validation {values[low]:.3f} (epoch {epochs[low]:g})",
        )
        axes[0].legend(fontsize=8)
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
    axes[0].set_title("Training and validation loss" if val_loss is not None else "Training loss")
    if map_keys:
        axes[-1].set_title("Validation mAP")
    return root_figure(fig)


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
    fig, ax = new_axes(ax, figsize or (6.5, 4.2))
    for n, (name, curve) in enumerate(curves.items()):
        if isinstance(curve, tuple) and len(curve) == 2:
            x, y = to_numpy(curve[0]).reshape(-1), to_numpy(curve[1]).reshape(-1)
        else:
            y = to_numpy(curve).reshape(-1)
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
    return root_figure(fig)


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
    fig, ax = new_axes(ax, figsize or (7.0, 0.9 + 0.55 * len(names)))
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
    return root_figure(fig)
