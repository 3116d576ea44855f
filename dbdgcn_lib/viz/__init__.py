"""Figures and widgets for the notebooks.

The figures are pure functions from numpy/torch arrays to a matplotlib ``Figure`` (no pyplot state;
show with ``display(fig)`` or as a cell's last expression), one module per topic: ``images`` (image
grids, activation maps, feature maps), ``graphs`` (co-occurrence heatmaps, the label graph, static vs
dynamic adjacency), ``evaluation`` (PR curves, threshold sweeps, metric tables, per-class AP, the
worst mistakes), ``training`` (training curves, plain vs residual, parameter counts); ``core`` holds
what they share and ``save_figure`` (any figure to PNG/SVG/PDF for slides). ``widgets``: ipywidgets
explorers (label graph, image, threshold), imported on first use so that the figures work without
ipywidgets installed.
"""

from dbdgcn_lib.viz.core import VizFigure, figure_to_png, image_to_array, save_figure
from dbdgcn_lib.viz.evaluation import (
    metrics_table_figure,
    mistakes_gallery,
    per_class_ap_bars,
    pr_curves,
    threshold_sweep,
    threshold_sweep_data,
    worst_mistakes,
)
from dbdgcn_lib.viz.graphs import (
    adjacency_pair,
    cooccurrence_heatmap,
    graph_layout,
    label_graph,
    label_graph_data,
)
from dbdgcn_lib.viz.images import activation_maps_overlay, feature_maps, show_images
from dbdgcn_lib.viz.training import param_bars, residual_vs_plain, training_curves

_WIDGETS = ("ImageExplorer", "LabelGraphExplorer", "ThresholdExplorer")

__all__ = [
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
    "mistakes_gallery",
    "param_bars",
    "per_class_ap_bars",
    "pr_curves",
    "residual_vs_plain",
    "save_figure",
    "show_images",
    "threshold_sweep",
    "threshold_sweep_data",
    "training_curves",
    "worst_mistakes",
    *_WIDGETS,
]


def __getattr__(name):
    if name in _WIDGETS:
        from dbdgcn_lib.viz import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'dbdgcn_lib.viz' has no attribute {name!r}")
