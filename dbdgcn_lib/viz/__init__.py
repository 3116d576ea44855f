"""Figures and widgets for the notebooks.

``dbdgcn_lib.viz.figures``: pure functions from numpy/torch arrays to a matplotlib ``Figure`` (no
pyplot state; show with ``display(fig)`` or as a cell's last expression; ``save_figure`` for slides).
``dbdgcn_lib.viz.widgets``: ipywidgets explorers (label graph, image, threshold), imported on first use
so that the figures work without ipywidgets installed.
"""

from dbdgcn_lib.viz.figures import (
    VizFigure,
    activation_maps_overlay,
    adjacency_pair,
    cooccurrence_heatmap,
    feature_maps,
    figure_to_png,
    graph_layout,
    image_to_array,
    label_graph,
    label_graph_data,
    metrics_table_figure,
    param_bars,
    pr_curves,
    residual_vs_plain,
    save_figure,
    show_images,
    threshold_sweep,
    threshold_sweep_data,
    training_curves,
)

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
    "param_bars",
    "pr_curves",
    "residual_vs_plain",
    "save_figure",
    "show_images",
    "threshold_sweep",
    "threshold_sweep_data",
    "training_curves",
    *_WIDGETS,
]


def __getattr__(name):
    if name in _WIDGETS:
        from dbdgcn_lib.viz import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'dbdgcn_lib.viz' has no attribute {name!r}")
