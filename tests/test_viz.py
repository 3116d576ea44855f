"""dbdgcn_lib.viz: every figure on small inputs, the label graph against a hand example, the explorers
driven by setting widget values."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from PIL import Image

from dbdgcn_lib.graph import conditional_probability, static_adjacency
from dbdgcn_lib.metrics import average_precision, multilabel_metrics
from dbdgcn_lib.viz import figures as F

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["a", "b", "c", "d"]
# Hand example: nums and symmetric pair counts; P(j | i) = counts[i, j] / nums[i] gives
#   a: [0, .6, .4, 0]   b: [.75, 0, 0, .5]   c: [1, 0, 0, .5]   d: [0, .8, .4, 0]
NUMS = np.array([10, 8, 4, 5])
COUNTS = np.array([[0, 6, 4, 0], [6, 0, 0, 4], [4, 0, 0, 2], [0, 4, 2, 0]])
P = conditional_probability(NUMS, COUNTS)


def _scores_targets(n=40, c=4, seed=0):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.4).astype(np.float64)
    targets[0] = 1  # every class has a positive
    scores = np.clip(0.45 * targets + 0.6 * rng.random((n, c)), 0.0, 1.0)
    return scores, targets


# ----------------------------------------------------------------------------------------------------
# images and maps


def test_image_to_array_handles_tensors_arrays_and_pil():
    normalised_zero = torch.zeros(3, 5, 6)  # ImageNet-normalised 0 is the mean colour
    out = F.image_to_array(normalised_zero, normalized=True)
    assert out.shape == (5, 6, 3)
    np.testing.assert_allclose(out[0, 0], F.IMAGENET_MEAN, atol=1e-6)
    auto = F.image_to_array(torch.full((3, 4, 4), -1.0))  # out of [0, 1] -> un-normalised, clipped
    np.testing.assert_allclose(auto[0, 0], np.clip(-1.0 * np.array(F.IMAGENET_STD) + F.IMAGENET_MEAN, 0, 1))
    plain = torch.full((3, 4, 4), 0.25)  # already in [0, 1]: left alone
    np.testing.assert_allclose(F.image_to_array(plain), 0.25)
    u8 = np.full((4, 4, 3), 255, dtype=np.uint8)
    np.testing.assert_allclose(F.image_to_array(u8), 1.0)
    pil = Image.new("RGB", (7, 3), (0, 255, 0))
    arr = F.image_to_array(pil)
    assert arr.shape == (3, 7, 3) and arr[0, 0].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        F.image_to_array(np.zeros((5, 5, 5)))


def test_show_images_one_axes_per_image_and_marks_wrong_predictions():
    imgs = torch.randn(5, 3, 8, 8)
    labels = [np.array([1, 0, 0, 1]), [1], ["c"], [], [0, 2]]
    predicted = [[0, 3], [1, 2], ["c"], [], [0]]
    fig = F.show_images(imgs, labels, NAMES, ncols=3, predicted=predicted)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5  # the sixth grid cell is removed
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0] == "true: a, d\npred: a, d"
    assert "c \u2717" in titles[1] and "b \u2717" not in titles[1]
    assert "(none)" in titles[3]
    right, wrong = fig.axes[0]._left_title.get_color(), fig.axes[1]._left_title.get_color()
    assert right != wrong
    assert all(len(ax.images) == 1 for ax in fig.axes)


def test_show_images_accepts_pil_and_no_labels():
    fig = F.show_images([Image.new("RGB", (6, 6)), np.zeros((6, 6, 3), np.uint8)])
    assert len(fig.axes) == 2


def test_activation_maps_overlay_top_k_by_map_max_and_upsampling():
    image = torch.rand(3, 32, 32)
    maps = torch.zeros(4, 4, 4)
    maps[2, 1, 1] = 5.0  # c strongest
    maps[0, 3, 3] = 2.0  # then a
    fig = F.activation_maps_overlay(image, maps, NAMES, top_k=2)
    assert len(fig.axes) == 3  # image + 2 overlays
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["image", "c", "a"]
    overlay = fig.axes[1].images
    assert len(overlay) == 2  # image, then the map over it
    heat = overlay[1].get_array()
    assert heat.shape == (32, 32)
    assert heat.max() == pytest.approx(1.0) and heat.min() == pytest.approx(0.0)  # min-max per map
    chosen = F.activation_maps_overlay(
        image, maps, NAMES, classes=["b"], scores=np.array([0.1, 0.9, 0.2, 0.3])
    )
    assert len(chosen.axes) == 2 and chosen.axes[1].get_title() == "b\nscore 0.90"
    with pytest.raises(ValueError):
        F.activation_maps_overlay(image, torch.zeros(3, 4, 4), NAMES)


def test_feature_maps_two_rows_strongest_channels_first():
    x3 = torch.zeros(1, 6, 8, 8)
    x3[0, 4] = 3.0
    x4 = torch.rand(10, 4, 4)
    fig = F.feature_maps(x3, x4, n=3)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "ch 4"
    assert "6x8x8" in fig.axes[0].get_ylabel() and "10x4x4" in fig.axes[3].get_ylabel()
    first = F.feature_maps(x3, x4, n=2, select="first")
    assert [ax.get_title() for ax in first.axes] == ["ch 0", "ch 1", "ch 0", "ch 1"]


# ----------------------------------------------------------------------------------------------------
# label graph


@pytest.mark.parametrize("tau, expected", [(0.4, 8), (0.5, 6), (0.6, 4), (0.8, 2), (0.9, 1), (1.0, 1)])
def test_label_graph_data_edges_match_hand_count(tau, expected):
    graph = F.label_graph_data(P, NAMES, NUMS, tau=tau)
    assert graph.number_of_edges() == expected
    assert graph.number_of_nodes() == 4


def test_label_graph_data_direction_weights_filter_and_isolated():
    graph = F.label_graph_data(P, NAMES, NUMS, tau=0.6)
    assert set(graph.edges) == {("a", "b"), ("b", "a"), ("c", "a"), ("d", "b")}
    assert graph.edges["b", "a"]["weight"] == pytest.approx(0.75)
    assert graph.nodes["a"]["count"] == 10 and graph.nodes["d"]["index"] == 3
    sub = F.label_graph_data(P, NAMES, tau=0.4, categories=["a", "b"])
    assert set(sub.edges) == {("a", "b"), ("b", "a")}
    assert sub.nodes["a"]["count"] is None
    assert F.label_graph_data(P, NAMES, tau=0.4, categories=[0, "c"]).number_of_edges() == 2
    lonely = F.label_graph_data(P, NAMES, tau=0.9, include_isolated=False)
    assert set(lonely.nodes) == {"a", "c"}


def test_label_graph_data_no_self_loops_and_no_zero_edges():
    A = static_adjacency(NUMS, COUNTS, tau=0.5, p=0.2)  # diagonal 0.8
    graph = F.label_graph_data(A, NAMES, tau=0.0)
    assert nx_self_loops(graph) == 0
    assert graph.number_of_edges() == 6  # the binarised pairs at tau 0.5, nothing from zeros
    with pytest.raises(ValueError):
        F.label_graph_data(P[:3, :3], NAMES)


def nx_self_loops(graph):
    return sum(1 for u, v in graph.edges if u == v)


def test_label_graph_draws_one_arrow_per_edge_and_colour_bar():
    pos = F.graph_layout(P, NAMES, seed=0)
    fig = F.label_graph(P, NAMES, NUMS, tau=0.5, pos=pos)
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 6
    assert len(fig.axes) == 2  # graph + colour bar
    assert ax.get_title().startswith("Label graph: 6 edges")
    labels = {t.get_text() for t in ax.texts}
    assert labels == set(NAMES)
    widths = sorted(a.get_linewidth() for a in arrows)
    assert widths[0] < widths[-1]  # width follows P(j | i)
    empty = F.label_graph(P, NAMES, NUMS, tau=1.0, categories=["a", "b"], pos=pos)
    assert len(empty.axes) == 1 and not [p for p in empty.axes[0].patches if isinstance(p, FancyArrowPatch)]


def test_label_graph_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    out = F.label_graph(P, NAMES, tau=0.5, ax=ax)
    assert out is fig


def test_graph_layout_deterministic_and_isolated_on_outer_ring():
    P5 = np.zeros((5, 5))
    P5[:4, :4] = P
    names = NAMES + ["e"]  # e never co-occurs
    one = F.graph_layout(P5, names, seed=3)
    two = F.graph_layout(P5, names, seed=3)
    assert set(one) == set(names)
    for v in names:
        np.testing.assert_allclose(one[v], two[v])
    assert np.linalg.norm(one["e"]) == pytest.approx(1.25)
    assert max(np.linalg.norm(one[v]) for v in NAMES) <= 1.0 + 1e-9
    assert set(F.graph_layout(P5, names, layout="circular")) == set(names)


def test_cooccurrence_heatmap_axes_labels_and_annotations():
    fig = F.cooccurrence_heatmap(COUNTS, NAMES, title="counts", annotate=True)
    assert len(fig.axes) == 2  # map + colour bar
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in COUNTS.ravel())
    assert ax.get_title() == "counts"
    with pytest.raises(ValueError):
        F.cooccurrence_heatmap(COUNTS, NAMES[:3])


def test_adjacency_pair_three_maps_and_difference():
    static = static_adjacency(NUMS, COUNTS)
    dynamic = torch.rand(1, 4, 4)
    fig = F.adjacency_pair(static, dynamic, NAMES, classes=["a", "c", "d"])
    assert len(fig.axes) == 6  # 3 maps + 3 colour bars
    maps = [ax.images[0].get_array() for ax in fig.axes[:3]]
    idx = [0, 2, 3]
    np.testing.assert_allclose(maps[0], static[np.ix_(idx, idx)])
    np.testing.assert_allclose(
        maps[2], dynamic[0].numpy()[np.ix_(idx, idx)] - static[np.ix_(idx, idx)], atol=1e-6
    )
    assert len(fig.axes[0].texts) == 9  # small: values written in the cells
    assert len(F.adjacency_pair(static, dynamic[0], NAMES, annotate=False).axes[0].texts) == 0
    with pytest.raises(ValueError):
        F.adjacency_pair(static, torch.rand(2, 4, 4), NAMES)


# ----------------------------------------------------------------------------------------------------
# evaluation and training


def test_pr_curves_area_under_drawn_curve_is_the_ap():
    scores, targets = _scores_targets()
    fig = F.pr_curves(scores, targets, NAMES, classes=["a", 2])
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    ap = average_precision(scores, targets)
    for line, c in zip(lines, [0, 2]):
        assert line.get_drawstyle() == "steps-pre"
        recall, precision = line.get_xdata(), line.get_ydata()
        area = float(np.sum(np.diff(recall) * precision[1:]))  # steps-pre: p_k over (r_{k-1}, r_k]
        assert area == pytest.approx(ap[c])
        assert f"AP {100 * ap[c]:.1f}" in line.get_label()
    assert len(F.pr_curves(scores, targets, NAMES).axes[0].get_lines()) == 4  # default: all (C <= 8)
    assert len(F.pr_curves(scores, targets, NAMES, max_classes=3).axes[0].get_lines()) == 3


def test_threshold_sweep_matches_library_metrics():
    scores, targets = _scores_targets()
    data = F.threshold_sweep_data(scores, targets, thresholds=[0.2, 0.5, 0.8])
    at_half = multilabel_metrics(scores, targets, threshold=0.5)
    for key in ("CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert data[key][1] == pytest.approx(at_half[key])
    assert data["CR"][0] >= data["CR"][1] >= data["CR"][2]  # recall falls as the threshold rises
    top3 = F.threshold_sweep_data(scores, targets, thresholds=[0.5], top_k=3)
    assert top3["OP"][0] == pytest.approx(multilabel_metrics(scores, targets, top_k=3)["OP"])
    fig = F.threshold_sweep(scores, targets, thresholds=[0.2, 0.5, 0.8])
    assert len(fig.axes[0].get_lines()) == 7  # six metrics + the 0.5 marker
    assert {line.get_label() for line in fig.axes[0].get_lines()[:6]} == {
        "CP",
        "CR",
        "CF1",
        "OP",
        "OR",
        "OF1",
    }


def test_training_curves_loss_and_map_panels():
    history = [
        {"epoch": 1, "train_loss": 0.9, "map": 40.0, "map_s_r": 38.0, "map_s_m": 35.0},
        {"epoch": 2, "train_loss": 0.6, "map": 55.0, "map_s_r": None, "map_s_m": 50.0},
        {"epoch": 3, "train_loss": 0.5, "map": 52.0, "map_s_r": 51.0, "map_s_m": 49.0},
    ]
    fig = F.training_curves(history)
    loss_ax, map_ax = fig.axes
    assert len(loss_ax.get_lines()) == 1
    assert len(map_ax.get_lines()) == 4  # s, s_r, s_m + best marker
    assert np.isnan(map_ax.get_lines()[1].get_ydata()[1])  # None -> gap
    best = map_ax.get_lines()[-1]
    assert best.get_xdata()[0] == 2 and best.get_ydata()[0] == 55.0
    # the trainer's log rows as they are: val_mAP* are the mAP panel, other val_ metrics are left out
    logged = [
        {
            "epoch": 1,
            "train_loss": 0.9,
            "val_mAP_r": 30.0,
            "val_mAP": 31.0,
            "val_mAP_m": 29.0,
            "val_CF1": 20.0,
        },
        {
            "epoch": 2,
            "train_loss": 0.7,
            "val_mAP_r": 36.0,
            "val_mAP": 35.0,
            "val_mAP_m": 33.0,
            "val_CF1": 25.0,
        },
    ]
    loss_ax, map_ax = F.training_curves(logged).axes
    labels = [line.get_label() for line in map_ax.get_lines()]
    assert labels == ["mAP (s_r)", "mAP (s)", "mAP (s_m)", "best 35.0 (epoch 2)"]
    only_loss = F.training_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    assert len(only_loss.axes) == 1
    with pytest.raises(ValueError):
        F.training_curves([])


def test_residual_vs_plain_one_line_each_plain_dashed():
    fig = F.residual_vs_plain({"plain-20": [2.3, 2.2, 2.2], "residual-20": ([0, 10, 20], [2.3, 1.0, 0.5])})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["plain-20", "residual-20"]
    assert lines[0].get_linestyle() == "--" and lines[1].get_linestyle() == "-"
    assert list(lines[1].get_xdata()) == [0, 10, 20]


def test_param_bars_flat_and_stacked():
    flat = F.param_bars({"resnet": 42_500_000, "db_dgcn": 60_000_000})
    assert len(flat.axes[0].patches) == 2
    assert {t.get_text().strip() for t in flat.axes[0].texts} == {"42.50 M", "60.00 M"}
    stacked = F.param_bars(
        {"add_gcn": {"backbone": 40e6, "head": 5e6}, "db_dgcn": {"backbone": 40e6, "head": 9e6}}
    )
    assert len(stacked.axes[0].patches) == 4
    assert "49.00 M" in {t.get_text().strip() for t in stacked.axes[0].texts}


def test_metrics_table_bolds_best_and_dashes_missing():
    rows = {"paper": {"mAP": 82.9, "CP": 85.2}, "ours": {"mAP": 60.0, "CP": 90.0, "CR": None}}
    fig = F.metrics_table_figure(rows, columns=("mAP", "CP", "CR"))
    cells = fig.axes[0].tables[0].get_celld()
    assert cells[(1, 0)].get_text().get_text() == "82.9"
    assert cells[(1, 0)].get_text().get_fontweight() == "bold"
    assert cells[(2, 1)].get_text().get_fontweight() == "bold"
    assert cells[(2, 0)].get_text().get_fontweight() != "bold"
    assert cells[(2, 2)].get_text().get_text() == "\u2013"


# ----------------------------------------------------------------------------------------------------
# export


def test_save_figure_png_svg_and_both(tmp_path):
    fig = F.param_bars({"x": 1_000_000})
    (png,) = F.save_figure(fig, tmp_path / "deep" / "fig.png", dpi=40)
    assert png.read_bytes().startswith(PNG_MAGIC)
    (svg,) = F.save_figure(fig, tmp_path / "fig.svg")
    assert b"<svg" in svg.read_bytes()[:500]
    both = F.save_figure(fig, tmp_path / "slide", dpi=40)
    assert sorted(p.name for p in both) == ["slide.png", "slide.svg"]
    assert all(p.stat().st_size > 0 for p in both)
    with pytest.raises(ValueError):
        F.save_figure(fig, tmp_path / "fig.gif")


def test_figures_display_themselves_without_pyplot():
    fig = F.param_bars({"x": 1})
    assert isinstance(fig, F.VizFigure)
    assert fig._repr_png_().startswith(PNG_MAGIC)
    assert F.figure_to_png(fig, dpi=30).startswith(PNG_MAGIC)


# ----------------------------------------------------------------------------------------------------
# widgets

try:
    from dbdgcn_lib.viz import widgets
except ImportError:  # ipywidgets is in the `notebooks` extra
    widgets = None
needs_widgets = pytest.mark.skipif(widgets is None, reason="ipywidgets not installed")


@pytest.fixture
def small_pngs(monkeypatch):
    """Widget PNGs at 30 dpi: the tests compare bytes, not looks."""
    monkeypatch.setattr(widgets._Explorer, "dpi", 30)


@needs_widgets
def test_label_graph_explorer_tau_p_filter_and_export(tmp_path, small_pngs):
    ex = widgets.LabelGraphExplorer(
        NUMS,
        COUNTS,
        NAMES,
        tau=0.4,
        groups={"left": ["a", "b"], "right": ["c", "d"]},
        export_path=tmp_path / "g.png",
    )
    assert ex.widget.children[-1] is ex.image and ex.image.value == ex.png
    assert ex.png.startswith(PNG_MAGIC)
    assert ex.edge_count == 8 and "<b>8</b> edges" in ex.status.value
    before = ex.png
    ex.tau.value = 0.6
    assert ex.edge_count == 4
    assert ex.png != before and ex.image.value == ex.png
    assert ex.figure.axes[0].get_title().startswith("Label graph: 4 edges")

    before_a, before_png = ex.adjacency.copy(), ex.png
    ex.p.value = 0.5
    assert ex.edge_count == 4  # p re-weights A, the graph stays
    assert not np.allclose(ex.adjacency, before_a)
    np.testing.assert_allclose(ex.adjacency, static_adjacency(NUMS, COUNTS, tau=0.6, p=0.5), atol=1e-6)
    assert ex.png != before_png

    ex.categories.value = ("right",)
    assert ex.selected_classes() == ["c", "d"]
    assert ex.edge_count == 0 and ex.adjacency.shape == (2, 2)
    fig = ex.update(tau=0.4, categories=("left", "right"))
    assert fig is ex.figure and ex.edge_count == 8

    n_axes = len(ex.figure.axes)
    ex.show_adjacency.value = False
    assert len(ex.figure.axes) == n_axes - 2  # heatmap and its colour bar gone

    ex.path.value = str(tmp_path / "slides" / "graph")
    ex.export_button.click()
    assert sorted(p.name for p in ex.exported) == ["graph.png", "graph.svg"]
    assert (tmp_path / "slides" / "graph.png").read_bytes().startswith(PNG_MAGIC)
    assert "exported" in ex.status.value
    (only_svg,) = ex.export(tmp_path / "x.svg")
    assert only_svg.exists()
    with pytest.raises(TypeError):
        ex.update(alpha=1)


@needs_widgets
def test_update_redraws_once(monkeypatch, small_pngs):
    ex = widgets.LabelGraphExplorer(NUMS, COUNTS, NAMES, show_adjacency=False)
    calls = []
    original = ex._draw
    monkeypatch.setattr(ex, "_draw", lambda: calls.append(1) or original())
    ex.update(tau=0.7, p=0.3)
    assert len(calls) == 1
    ex.tau.value = 0.9
    assert len(calls) == 2


@needs_widgets
def test_image_explorer_precomputed_outputs(small_pngs):
    n, c = 3, 4
    rng = np.random.default_rng(0)
    probs = np.array([[0.9, 0.1, 0.6, 0.2], [0.2, 0.8, 0.1, 0.7], [0.3, 0.3, 0.3, 0.3]])
    targets = np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
    ex = widgets.ImageExplorer(
        torch.rand(n, 3, 16, 16),
        NAMES,
        probabilities=probs,
        activation_maps=rng.random((n, c, 4, 4)),
        dynamic_adjacency=rng.random((n, c, c)),
        static_adjacency=static_adjacency(NUMS, COUNTS),
        targets=targets,
        top_k=2,
    )
    assert "true: a" in ex.labels.value and "c (0.60)" in ex.labels.value and "\u2717" in ex.labels.value
    assert len(ex.figure.axes) == 3 + 6  # image + 2 maps, then 3 adjacency maps + colour bars
    before = ex.png
    ex.index.value = 1
    assert "true: b, d" in ex.labels.value and "\u2717" not in ex.labels.value
    assert ex.png != before
    ex.threshold.value = 0.75
    assert "b (0.80)" in ex.labels.value and "d (0.70)" not in ex.labels.value.split("predicted")[1]
    ex.update(top_k=3)
    assert len(ex.figure.axes) == 4 + 6


@needs_widgets
def test_image_explorer_with_predict_fn_caches_and_works_without_graph(small_pngs):
    calls = []

    def predict(x):
        calls.append(x.shape)
        return {"logits": torch.tensor([[2.0, -2.0, 0.0, 1.0]]), "activation_maps": torch.rand(1, 4, 4, 4)}

    ex = widgets.ImageExplorer(
        [torch.rand(3, 16, 16), torch.rand(3, 16, 16)], NAMES, predict_fn=predict, top_k=2
    )
    assert calls == [(1, 3, 16, 16)]
    np.testing.assert_allclose(
        ex.outputs(0)["probabilities"], torch.sigmoid(torch.tensor([2.0, -2.0, 0.0, 1.0]))
    )
    assert len(ex.figure.axes) == 3  # no dynamic adjacency: no graph row
    ex.index.value = 1
    ex.index.value = 0
    assert len(calls) == 2  # image 0 came from the cache
    with pytest.raises(ValueError):
        widgets.ImageExplorer(torch.rand(1, 3, 8, 8), NAMES)


@needs_widgets
def test_threshold_explorer_follows_threshold_and_top_k(small_pngs):
    scores, targets = _scores_targets(n=30)
    ex = widgets.ThresholdExplorer(scores, targets, NAMES, thresholds=[0.3, 0.5, 0.7])
    assert ex.metrics == pytest.approx(multilabel_metrics(scores, targets, threshold=0.5))
    bars = ex.figure.axes[0].patches
    assert [b.get_height() for b in bars] == pytest.approx([ex.metrics[k] for k in F.THRESHOLD_METRICS])
    before, before_metrics = ex.png, ex.metrics
    ex.threshold.value = 0.8
    assert ex.metrics != before_metrics and ex.png != before
    assert ex.metrics == pytest.approx(multilabel_metrics(scores, targets, threshold=0.8))
    assert f"{ex.metrics['CP']:.1f}" in ex.table.value
    ex.update(threshold=0.2, top_k=True)
    assert ex.metrics == pytest.approx(multilabel_metrics(scores, targets, threshold=0.2, top_k=3))
    assert "top-3" in ex.figure.axes[0].get_title()
    with pytest.raises(ValueError):
        widgets.ThresholdExplorer(scores, targets, NAMES[:3])
