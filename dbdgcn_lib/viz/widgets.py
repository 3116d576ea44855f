"""Interactive explorers for the notebooks: thin ipywidgets wrappers around the figures of ``dbdgcn_lib.viz``.

Each explorer holds its controls as attributes (``explorer.tau``, ``explorer.index`` ...), the whole
widget (``.widget``; the explorer also displays itself), the current figure (``.figure``) and its PNG
bytes (``.png``), shown in an ``ipywidgets.Image`` (renders the same in JupyterLab, classic Notebook,
VS Code and a headless browser; no interactive backend needed). Moving a control redraws;
``update(**values)`` sets several controls and redraws once, which is how tests drive them;
``save(path)`` writes the current view for slides::

    ex = LabelGraphExplorer(nums, counts, names)
    ex.tau.value = 0.6          # same as ex.update(tau=0.6)
    ex.edge_count, ex.png       # the graph and picture now shown
    ex.save("slides/graph")     # graph.png and graph.svg

A saved notebook keeps no widget state (``scripts/run_notebooks.py`` removes it): where no kernel
draws the widget (a notebook just opened, GitHub, an HTML export), its text form is one line saying
what it is and how to bring it to life, under a static figure of the same thing that the notebook
draws first.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from dbdgcn_lib.graph import conditional_probability, static_adjacency
from dbdgcn_lib.metrics import METRIC_KEYS, multilabel_metrics, per_class_table
from dbdgcn_lib.viz.core import OKABE_ITO, VizFigure, figure_to_png, label_indices, save_figure, to_numpy
from dbdgcn_lib.viz.evaluation import THRESHOLD_METRICS, threshold_sweep, threshold_sweep_data
from dbdgcn_lib.viz.graphs import (
    adjacency_pair,
    cooccurrence_heatmap,
    graph_layout,
    label_graph,
    label_graph_data,
)
from dbdgcn_lib.viz.images import activation_maps_overlay, show_images

__all__ = ["ImageExplorer", "LabelGraphExplorer", "ThresholdExplorer"]


class _Explorer:
    """Shared plumbing: controls -> redraw -> PNG in an Image widget; saving; the text form."""

    dpi = 90
    kind = "Explorer"  # what the text form calls it

    def _init_display(self) -> None:
        self.figure: Figure | None = None
        self.png: bytes = b""
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self._hold = False
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    @property
    def controls(self) -> dict[str, widgets.ValueWidget]:
        """The controls ``update`` accepts, by name."""
        raise NotImplementedError

    def _draw(self) -> Figure:
        raise NotImplementedError

    def _on_change(self, _change) -> None:
        if not self._hold:
            self.redraw()

    def update(self, **values) -> Figure:
        """Set controls by name (e.g. ``update(tau=0.5, p=0.3)``), redraw once, return the new figure."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise TypeError(f"unknown control(s) {sorted(unknown)}; known: {sorted(self.controls)}")
        self._hold = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._hold = False
        self.redraw()
        return self.figure

    def redraw(self) -> None:
        """Rebuild the figure from the current control values and show it."""
        self.figure = self._draw()
        self.png = figure_to_png(self.figure, dpi=self.dpi)
        self.image.value = self.png

    def save(self, path: str | Path, formats: Sequence[str] | None = None, *, dpi: int = 200) -> list[Path]:
        """Write the current figure for slides with ``save_figure`` (no suffix = PNG and SVG); returns
        the files written."""
        return save_figure(self.figure, path, formats=formats, dpi=dpi)

    def __repr__(self) -> str:
        return (
            f"{self.kind}: run the notebook from the top (Run \u25b8 Run All Cells) to use it; "
            "a figure above shows what it draws."
        )

    def _repr_mimebundle_(self, **kwargs):
        """The widget's view for a live kernel, and one readable line as its text form."""
        bundle = self.widget._repr_mimebundle_(**kwargs) if self.widget._repr_mimebundle_ else {}
        return {**bundle, "text/plain": repr(self)}


# ----------------------------------------------------------------------------------------------------


def _group_members(groups, class_names: Sequence[str]) -> dict[str, list[str]]:
    """{group: [class names in class order]} from any of three forms: {group: [names]} (e.g. the
    synthetic scenes), {class name: group}, or one group name per class (C,) (e.g. COCO's
    supercategories, aligned with ``class_names``); the last two list the groups alphabetically."""
    names = list(class_names)
    if isinstance(groups, Mapping):
        values = list(groups.values())
        if values and all(isinstance(v, str) for v in values):
            unknown = sorted(set(groups) - set(names))
            if unknown:
                raise ValueError(f"groups: unknown class name(s) {unknown[:5]}; keys must be class names")
            of_class = dict(groups)
        elif all(not isinstance(v, str) and isinstance(v, Iterable) for v in values):
            members = {str(group): list(v) for group, v in groups.items()}
            unknown = sorted({n for v in members.values() for n in v} - set(names))
            if unknown:
                raise ValueError(f"groups: unknown class name(s) {unknown[:5]}; list class names per group")
            return {group: [n for n in names if n in set(v)] for group, v in members.items()}
        else:
            raise ValueError("groups: give {group: [class names]} or {class name: group}, not a mix")
    else:
        per_class = [str(g) for g in groups]
        if len(per_class) != len(names):
            raise ValueError(f"groups: one group per class needs {len(names)} entries, got {len(per_class)}")
        of_class = dict(zip(names, per_class))
    out: dict[str, list[str]] = {}
    for name in names:
        if name in of_class:
            out.setdefault(of_class[name], []).append(name)
    return dict(sorted(out.items()))


class LabelGraphExplorer(_Explorer):
    """The label graph for instructors: tau and p sliders, a class (or group) filter, export for slides.

    ``nums`` (C,) and ``counts`` (C, C) come from ``graph.cooccurrence(labels)`` (or COCO's shipped
    statistics). The graph draws P(j | i) >= tau (node size by frequency, edge width by P(j | i));
    beside it, the static adjacency A that tau and p give the model (rows of the whole graph,
    restricted to the selected classes). ``groups`` makes the filter list groups instead of classes:
    {"kitchen": ["fork", ...]} (the synthetic scenes), {"fork": "kitchen", ...}, or one group per class
    (COCO's supercategories); an empty selection shows everything. ``categories`` is the selection it
    opens on (groups, or classes without ``groups``); by default everything, unless that is more than
    ``MAX_OPEN_CLASSES`` classes (COCO's 80), whose names no figure can show legibly: then the group
    with the most edges at the opening tau (without groups: the most frequent classes). ``convention``
    picks the direction: ``"paper"`` (node i listens to j when P(j | i) >= tau) or ``"ml_gcn_code"``
    (ML-GCN's released code: when P(i | j) >= tau, the transpose). ``export`` (the button) and ``save``
    write PNG and SVG.
    """

    kind = "Label-graph explorer"
    MAX_OPEN_CLASSES = 30

    def __init__(
        self,
        nums,
        counts,
        class_names: Sequence[str],
        *,
        tau: float = 0.4,
        p: float = 0.2,
        groups: Mapping[str, Sequence[str]] | None = None,
        categories: Sequence[str] | None = None,
        convention: str = "paper",
        layout_seed: int = 0,
        layout: str = "spring",
        show_adjacency: bool = True,
        export_path: str | Path = "label_graph.png",
        figsize: tuple[float, float] | None = None,
    ):
        self.class_names = list(class_names)
        self.nums = to_numpy(nums).reshape(-1)
        self.counts = to_numpy(counts)
        c = len(self.class_names)
        if self.nums.shape != (c,) or self.counts.shape != (c, c):
            raise ValueError(
                f"LabelGraphExplorer: nums {self.nums.shape} and counts {self.counts.shape} must be "
                f"({c},) and ({c}, {c}) for {c} class names"
            )
        self.P = conditional_probability(self.nums, self.counts)
        self.groups = _group_members(groups, self.class_names) if groups is not None and len(groups) else None
        self.pos = graph_layout(self.P, self.class_names, seed=layout_seed, layout=layout)
        self.figsize = figsize
        self.exported: list[Path] = []

        slider = {"min": 0.0, "max": 1.0, "step": 0.05, "readout_format": ".2f", "continuous_update": False}
        self.tau = widgets.FloatSlider(value=tau, description="tau", **slider)
        self.p = widgets.FloatSlider(value=p, description="p", **slider)
        options = list(self.groups) if self.groups else self.class_names
        self.categories = widgets.SelectMultiple(
            options=options,
            value=tuple(categories) if categories is not None else self._opening_selection(tau, convention),
            rows=min(8, len(options)),
            description="groups" if self.groups else "classes",
        )
        self.convention = widgets.ToggleButtons(
            options=[("paper: P(j | i)", "paper"), ("ML-GCN code: P(i | j)", "ml_gcn_code")],
            value=convention,
            description="direction",
            style={"button_width": "auto"},  # as wide as each label: "ML-GCN code: P(i | j)" in full
        )
        self.show_isolated = widgets.Checkbox(value=True, description="isolated nodes", indent=False)
        self.show_adjacency = widgets.Checkbox(value=show_adjacency, description="adjacency A", indent=False)
        self.path = widgets.Text(value=str(export_path), description="export to")
        self.export_button = widgets.Button(description="Export PNG/SVG", icon="download")
        self.export_button.on_click(lambda _button: self.export())
        self.status = widgets.HTML()
        self._init_display()
        hint = widgets.HTML("<small>none selected = all; ctrl/shift-click for several</small>")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.tau, self.p]),
                self.convention,
                widgets.HBox(
                    [
                        widgets.VBox([self.categories, hint]),
                        widgets.VBox([self.show_isolated, self.show_adjacency]),
                    ]
                ),
                widgets.HBox([self.path, self.export_button]),
                self.status,
                self.image,
            ]
        )
        self.redraw()

    @property
    def controls(self):
        return {
            "tau": self.tau,
            "p": self.p,
            "convention": self.convention,
            "categories": self.categories,
            "show_isolated": self.show_isolated,
            "show_adjacency": self.show_adjacency,
        }

    def _opening_selection(self, tau: float, convention: str) -> tuple[str, ...]:
        """What the filter selects when the explorer opens (see the class docstring)."""
        if len(self.class_names) <= self.MAX_OPEN_CLASSES:
            return ()
        if not self.groups:
            order = np.argsort(-self.nums, kind="stable")[: self.MAX_OPEN_CLASSES]
            return tuple(self.class_names[i] for i in sorted(order))
        edges = (self.P if convention == "paper" else self.P.T) >= tau
        np.fill_diagonal(edges, False)

        def inner_edges(group: str) -> int:
            members = [self.class_names.index(name) for name in self.groups[group]]
            return int(edges[np.ix_(members, members)].sum())

        return (max(self.groups, key=inner_edges),)

    def selected_classes(self) -> list[str]:
        """Class names the filter keeps (all when nothing is selected), in class order."""
        chosen = list(self.categories.value)
        if not chosen:
            return list(self.class_names)
        if self.groups:
            chosen = {name for group in chosen for name in self.groups[group]}
        return [name for name in self.class_names if name in set(chosen)]

    @property
    def listens(self) -> np.ndarray:
        """(C, C): entry [i, j] decides whether node i listens to j: P(j | i) in the paper's direction,
        P(i | j) in ML-GCN's code."""
        return self.P if self.convention.value == "paper" else self.P.T

    @property
    def graph(self):
        """The networkx DiGraph currently drawn (an edge i -> j: node i listens to j)."""
        return label_graph_data(
            self.listens,
            self.class_names,
            self.nums,
            tau=self.tau.value,
            categories=self.selected_classes(),
            include_isolated=self.show_isolated.value,
        )

    @property
    def edge_count(self) -> int:
        return self.graph.number_of_edges()

    @property
    def adjacency(self) -> np.ndarray:
        """The static adjacency A(tau, p) of the selected classes (rows computed on the whole graph)."""
        keep = [self.class_names.index(n) for n in self.selected_classes()]
        A = static_adjacency(
            self.nums, self.counts, tau=self.tau.value, p=self.p.value, convention=self.convention.value
        )
        return A[np.ix_(keep, keep)]

    def _draw(self) -> Figure:
        tau, p = self.tau.value, self.p.value
        selected = self.selected_classes()
        graph = self.graph
        with_a = self.show_adjacency.value
        size = self.figsize or ((12.0, 5.8) if with_a else (8.0, 6.5))
        fig = VizFigure(figsize=size, layout="constrained")
        if with_a:
            ax_graph, ax_adj = fig.subplots(1, 2, width_ratios=[1.25, 1.0])
        else:
            ax_graph = fig.add_subplot()
        label_graph(
            self.listens,
            self.class_names,
            self.nums,
            tau=tau,
            categories=selected,
            pos=self.pos,
            include_isolated=self.show_isolated.value,
            weight_label="P(j | i)" if self.convention.value == "paper" else "P(i | j)",
            ax=ax_graph,
        )
        if with_a:
            cooccurrence_heatmap(
                self.adjacency,
                selected,
                title=f"static A (tau = {tau:.2f}, p = {p:.2f}, {self.convention.value})",
                vmin=0.0,
                vmax=1.0,
                cmap="cividis",
                xlabel="j (aggregated)",
                ylabel="i (node)",
                cbar_label="A[i, j]",
                annotate=len(selected) <= 12,
                ax=ax_adj,
            )
        n_edges = graph.number_of_edges()
        n_nodes = graph.number_of_nodes()
        lonely = sum(1 for v in graph if graph.out_degree(v) == 0)
        self.status.value = (
            f"<b>{n_edges}</b> edges among {n_nodes} classes; mean out-degree "
            f"{n_edges / max(n_nodes, 1):.2f}; {lonely} classes listen to no neighbour (A row = self only)"
        )
        return fig

    def export(self, path: str | Path | None = None, formats: Sequence[str] | None = None) -> list[Path]:
        """Save the current figure (path from the text box by default; no suffix = PNG and SVG)."""
        path = Path(path if path is not None else self.path.value)
        try:
            self.exported = self.save(path, formats)
        except (OSError, ValueError) as err:
            self.status.value = (
                f"<span style='color:{OKABE_ITO[3]}'>export failed: {html.escape(str(err))}</span>"
            )
            raise
        self.status.value = "exported " + ", ".join(html.escape(str(f)) for f in self.exported)
        return self.exported


# ----------------------------------------------------------------------------------------------------


class ImageExplorer(_Explorer):
    """One image at a time: its labels and predictions, activation maps, dynamic graph beside the static.

    Give precomputed outputs, index-aligned with ``images`` (N, ...):
    ``probabilities`` (N, C), ``activation_maps`` (N, C, h, w), ``dynamic_adjacency`` (N, C, C);
    or ``predict_fn(x)`` taking a (1, 3, H, W) tensor and returning the model's mapping
    (``logits`` or ``probabilities``, optionally ``activation_maps`` and ``dynamic_adjacency``), e.g.
    ``functools.partial(model, return_intermediates=True)``; it runs under ``torch.no_grad`` and is
    cached per image. ``static_adjacency`` (C, C) and ``targets`` (N, C) are optional.
    The graphs show the image's true and predicted labels and its top-k classes (``max_graph_classes``).
    ``index`` is the image it opens on (e.g. one whose predictions are right). The activation maps are
    drawn as blocks of their grid, on the sigma(M) scale (``activation_maps_overlay``).
    """

    kind = "Image explorer"

    def __init__(
        self,
        images,
        class_names: Sequence[str],
        *,
        predict_fn: Callable | None = None,
        probabilities=None,
        activation_maps=None,
        dynamic_adjacency=None,
        static_adjacency=None,
        targets=None,
        index: int = 0,
        threshold: float = 0.5,
        top_k: int = 4,
        max_graph_classes: int = 10,
        figsize: tuple[float, float] | None = None,
    ):
        if predict_fn is None and probabilities is None:
            raise ValueError("give predict_fn or precomputed probabilities")
        self.images = images
        self.class_names = list(class_names)
        self.predict_fn = predict_fn
        self._given = {
            "probabilities": probabilities,
            "activation_maps": activation_maps,
            "dynamic_adjacency": dynamic_adjacency,
        }
        self.static_adjacency = None if static_adjacency is None else to_numpy(static_adjacency)
        self.targets = targets
        self.max_graph_classes = max_graph_classes
        self.figsize = figsize
        self._cache: dict[int, dict] = {}
        n, c = len(images), len(self.class_names)
        if not 0 <= index < n:
            raise ValueError(f"ImageExplorer: index {index} is out of range for {n} images; use 0..{n - 1}")
        self.index = widgets.IntSlider(
            value=int(index), min=0, max=max(n - 1, 0), description="image", continuous_update=False
        )
        self.top_k = widgets.IntSlider(
            value=min(top_k, c), min=1, max=min(8, c), description="maps", continuous_update=False
        )
        self.threshold = widgets.FloatSlider(
            value=threshold, min=0.05, max=0.95, step=0.05, description="threshold", continuous_update=False
        )
        self.labels = widgets.HTML()
        self._init_display()
        self.widget = widgets.VBox(
            [widgets.HBox([self.index, self.top_k, self.threshold]), self.labels, self.image]
        )
        self.redraw()

    @property
    def controls(self):
        return {"index": self.index, "top_k": self.top_k, "threshold": self.threshold}

    def outputs(self, i: int) -> dict:
        """Image i's numpy ``probabilities`` (C,), ``activation_maps`` (C, h, w), ``dynamic_adjacency``
        (C, C); the last two None when unavailable."""
        if i in self._cache:
            return self._cache[i]
        if self.predict_fn is not None and self._given["probabilities"] is None:
            import torch

            x = self.images[i]
            x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
            with torch.no_grad():
                raw = self.predict_fn(x[None] if x.ndim == 3 else x)
            if "probabilities" in raw:
                probs = to_numpy(raw["probabilities"])
            else:
                probs = 1.0 / (1.0 + np.exp(-to_numpy(raw["logits"]).astype(np.float64)))
            out = {
                "probabilities": probs.reshape(-1),
                "activation_maps": None
                if raw.get("activation_maps") is None
                else to_numpy(raw["activation_maps"])[0],
                "dynamic_adjacency": None
                if raw.get("dynamic_adjacency") is None
                else to_numpy(raw["dynamic_adjacency"])[0],
            }
        else:
            out = {k: None if v is None else to_numpy(v[i]) for k, v in self._given.items()}
            out["probabilities"] = out["probabilities"].reshape(-1)
        self._cache[i] = out
        return out

    def _draw(self) -> Figure:
        i, k, th = self.index.value, self.top_k.value, self.threshold.value
        out = self.outputs(i)
        probs = out["probabilities"]
        names = self.class_names
        truth = [] if self.targets is None else label_indices(to_numpy(self.targets[i]), names)
        pred = np.flatnonzero(probs >= th).tolist()
        ranked = np.argsort(-probs, kind="stable").tolist()

        def fmt(idx, mark_wrong):
            parts = []
            for c in idx:
                text = f"{html.escape(names[c])} ({probs[c]:.2f})"
                if mark_wrong and self.targets is not None and c not in truth:
                    text = f"<span style='color:{OKABE_ITO[3]}'>{text} \u2717</span>"
                parts.append(text)
            return ", ".join(parts) or "(none)"

        rows = [f"<b>image {i}</b>"]
        if self.targets is not None:
            rows.append(f"true: {', '.join(html.escape(names[c]) for c in truth) or '(none)'}")
        rows.append(f"predicted (p \u2265 {th:.2f}): {fmt(pred, True)}")
        self.labels.value = "<br>".join(rows)

        graph_idx = list(dict.fromkeys(truth + pred + ranked[:k]))[: self.max_graph_classes]
        graph_idx = sorted(graph_idx, key=lambda c: -probs[c])
        has_graph = out["dynamic_adjacency"] is not None
        width = 13.0
        top_height = min(width / min(k + 1, 5) + 0.9, 4.5)  # square panels plus two title lines
        bottom_height = 4.8
        size = self.figsize or (width, top_height + (bottom_height if has_graph else 0.0))
        fig = VizFigure(figsize=size, layout="constrained")
        if has_graph:
            top, bottom = fig.subfigures(2, 1, height_ratios=[top_height, bottom_height])
        else:
            top, bottom = fig, None
        title = f"pred: {', '.join(names[c] for c in pred) or '(none)'}"
        if self.targets is not None:
            title = f"true: {', '.join(names[c] for c in truth) or '(none)'}\n" + title
        if out["activation_maps"] is not None:
            activation_maps_overlay(
                self.images[i], out["activation_maps"], names, classes=ranked[:k], scores=probs, fig=top
            )
        else:
            show_images([self.images[i]], fig=top)
        top.suptitle(title, fontsize=10)
        if has_graph:
            if self.static_adjacency is not None:
                adjacency_pair(
                    self.static_adjacency, out["dynamic_adjacency"], names, classes=graph_idx, fig=bottom
                )
            else:
                dyn = out["dynamic_adjacency"][np.ix_(graph_idx, graph_idx)]
                cooccurrence_heatmap(
                    dyn,
                    [names[c] for c in graph_idx],
                    title="dynamic A_d (this image)",
                    vmin=0.0,
                    vmax=1.0,
                    annotate=len(graph_idx) <= 12,
                    xlabel="j (aggregated)",
                    ylabel="i (node)",
                    ax=bottom.add_subplot(),
                )
        return fig


# ----------------------------------------------------------------------------------------------------


class ThresholdExplorer(_Explorer):
    """What the decision threshold (and the top-k rule) does to CP, CR, CF1, OP, OR, OF1.

    ``scores`` (N, C) probabilities, ``targets`` (N, C) 0/1. Left: the six metrics at the threshold;
    right: the whole sweep with the current threshold marked. The table adds mAP (threshold-free)
    and the classes with the lowest F1.
    """

    kind = "Threshold explorer"

    def __init__(
        self,
        scores,
        targets,
        class_names: Sequence[str],
        *,
        threshold: float = 0.5,
        top_k: bool = False,
        k: int = 3,
        thresholds=None,
        figsize: tuple[float, float] = (11.0, 4.0),
    ):
        self.scores = to_numpy(scores)
        self.targets = to_numpy(targets)
        self.class_names = list(class_names)
        if self.scores.shape != self.targets.shape or self.scores.shape[-1] != len(self.class_names):
            raise ValueError(
                f"scores {self.scores.shape}, targets {self.targets.shape} and "
                f"{len(self.class_names)} class names disagree"
            )
        self.k = k
        self.thresholds = thresholds
        self.figsize = figsize
        self._sweeps: dict = {}
        self.threshold = widgets.FloatSlider(
            value=threshold, min=0.01, max=0.99, step=0.01, description="threshold", continuous_update=False
        )
        self.top_k = widgets.Checkbox(value=top_k, description=f"top-{k} only", indent=False)
        self.table = widgets.HTML()
        self._init_display()
        self.widget = widgets.VBox([widgets.HBox([self.threshold, self.top_k]), self.table, self.image])
        self.redraw()

    @property
    def controls(self):
        return {"threshold": self.threshold, "top_k": self.top_k}

    @property
    def metrics(self) -> dict:
        """mAP, CP ... OF1 (percent) at the current threshold and top-k setting."""
        return multilabel_metrics(
            self.scores,
            self.targets,
            threshold=self.threshold.value,
            top_k=self.k if self.top_k.value else None,
        )

    def _sweep(self) -> dict:
        key = bool(self.top_k.value)
        if key not in self._sweeps:
            self._sweeps[key] = threshold_sweep_data(
                self.scores, self.targets, self.thresholds, top_k=self.k if key else None
            )
        return self._sweeps[key]

    def _draw(self) -> Figure:
        m = self.metrics
        th = self.threshold.value
        header = "".join(f"<th style='padding:0 8px'>{key}</th>" for key in METRIC_KEYS)
        cells = "".join(f"<td style='padding:0 8px'>{m[key]:.1f}</td>" for key in METRIC_KEYS)
        rows = [r for r in per_class_table(self.scores, self.targets, self.class_names, threshold=th)]
        rows = [r for r in rows if not np.isnan(r["F1"])]
        worst = sorted(rows, key=lambda r: r["F1"])[:5]
        worst_text = ", ".join(f"{html.escape(r['name'])} ({r['F1']:.0f})" for r in worst)
        self.table.value = (
            f"<table><tr>{header}</tr><tr>{cells}</tr></table><small>lowest F1: {worst_text}</small>"
        )
        fig = VizFigure(figsize=self.figsize, layout="constrained")
        ax_bar, ax_sweep = fig.subplots(1, 2, width_ratios=[1.0, 1.4])
        values = [m[key] for key in THRESHOLD_METRICS]
        colours = [OKABE_ITO[{"P": 0, "R": 1, "F": 3}[key[1]]] for key in THRESHOLD_METRICS]
        bars = ax_bar.bar(THRESHOLD_METRICS, values, color=colours)
        for bar, key in zip(bars, THRESHOLD_METRICS):
            if key[0] == "O":
                bar.set_hatch("//")
        ax_bar.bar_label(bars, fmt="%.1f", fontsize=8)
        ax_bar.set_ylim(0, 110)
        ax_bar.set_ylabel("percent")
        rule = f", top-{self.k}" if self.top_k.value else ""
        ax_bar.set_title(f"threshold {th:.2f}{rule} (mAP {m['mAP']:.1f})")
        threshold_sweep(
            None, None, data=self._sweep(), mark=th, top_k=self.k if self.top_k.value else None, ax=ax_sweep
        )
        return fig
