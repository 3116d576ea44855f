"""dbdgcn_lib.viz: every figure on small inputs, the label graph against a hand example, the explorers
driven by setting widget values."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from PIL import Image

from dbdgcn_lib import viz
from dbdgcn_lib.data import coco_label_statistics
from dbdgcn_lib.data.constants import IMAGENET_MEAN, IMAGENET_STD
from dbdgcn_lib.graph import conditional_probability, cooccurrence, static_adjacency
from dbdgcn_lib.metrics import average_precision, multilabel_metrics
from dbdgcn_lib.viz.evaluation import THRESHOLD_METRICS

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
    out = viz.image_to_array(normalised_zero, normalized=True)
    assert out.shape == (5, 6, 3)
    np.testing.assert_allclose(out[0, 0], IMAGENET_MEAN, atol=1e-6)
    auto = viz.image_to_array(torch.full((3, 4, 4), -1.0))  # out of [0, 1] -> un-normalised, clipped
    np.testing.assert_allclose(auto[0, 0], np.clip(-1.0 * np.array(IMAGENET_STD) + IMAGENET_MEAN, 0, 1))
    plain = torch.full((3, 4, 4), 0.25)  # already in [0, 1]: left alone
    np.testing.assert_allclose(viz.image_to_array(plain), 0.25)
    u8 = np.full((4, 4, 3), 255, dtype=np.uint8)
    np.testing.assert_allclose(viz.image_to_array(u8), 1.0)
    pil = Image.new("RGB", (7, 3), (0, 255, 0))
    arr = viz.image_to_array(pil)
    assert arr.shape == (3, 7, 3) and arr[0, 0].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        viz.image_to_array(np.zeros((5, 5, 5)))


def test_show_images_one_axes_per_image_and_marks_wrong_predictions():
    imgs = torch.randn(5, 3, 8, 8)
    labels = [np.array([1, 0, 0, 1]), [1], ["c"], [], [0, 2]]
    predicted = [[0, 3], [1, 2], ["c"], [], [0]]
    fig = viz.show_images(imgs, labels, NAMES, ncols=3, predicted=predicted)
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
    fig = viz.show_images([Image.new("RGB", (6, 6)), np.zeros((6, 6, 3), np.uint8)])
    assert len(fig.axes) == 2


def test_activation_maps_overlay_top_k_by_map_max_and_grid_blocks():
    image = torch.rand(3, 32, 32)
    maps = torch.zeros(4, 4, 4)
    maps[2, 1, 1] = 5.0  # c strongest
    maps[0, 3, 3] = 2.0  # then a
    fig = viz.activation_maps_overlay(image, maps, NAMES, top_k=2)
    assert len(fig.axes) == 4  # image + 2 overlays + the shared colour bar
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:3]] == ["image", "c", "a"]
    assert fig.axes[1].get_title() == "c\nmax M 5.00"
    assert fig.axes[-1].get_ylabel() == "\u03c3(M)"
    overlay = fig.axes[1].images
    assert len(overlay) == 2  # image, then the map over it
    heat = overlay[1]
    assert heat.get_array().shape == (4, 4)  # one block per map cell, not upsampled
    assert heat.get_interpolation() == "nearest"
    assert heat.get_extent() == overlay[0].get_extent() == [-0.5, 31.5, 31.5, -0.5]
    np.testing.assert_allclose(heat.get_array(), torch.sigmoid(maps[2]).numpy(), rtol=1e-6)
    assert heat.get_clim() == (0.0, 1.0)
    borders = fig.axes[1].collections
    assert len(borders) == 2 and len(borders[0].get_segments()) == 3  # 3 inner borders each way
    chosen = viz.activation_maps_overlay(
        image, maps, NAMES, classes=["b"], scores=np.array([0.1, 0.9, 0.2, 0.3])
    )
    assert len(chosen.axes) == 3 and chosen.axes[1].get_title() == "b\nscore 0.90"
    with pytest.raises(ValueError):
        viz.activation_maps_overlay(image, torch.zeros(3, 4, 4), NAMES)
    with pytest.raises(ValueError):
        viz.activation_maps_overlay(image, maps, NAMES, normalize="softmax")


def test_activation_maps_overlay_smoothed_says_so_and_each_is_min_max():
    image = torch.rand(3, 32, 32)
    maps = torch.zeros(4, 4, 4)
    maps[2, 1, 1] = 5.0
    smooth = viz.activation_maps_overlay(image, maps, NAMES, classes=["c"], smooth=True, normalize="each")
    heat = smooth.axes[1].images[1].get_array()
    assert heat.shape == (32, 32)  # bilinear upsampling to the image
    assert heat.max() == pytest.approx(1.0) and heat.min() == pytest.approx(0.0)  # min-max per map
    assert smooth.axes[1].get_title().endswith("(smoothed)")
    assert not smooth.axes[1].collections  # no cell borders on a smoothed map
    assert smooth.axes[-1].get_ylabel() == "M, min-max scaled per map"
    raw = viz.activation_maps_overlay(image, maps, NAMES, classes=["a", "c"], normalize="none")
    assert raw.axes[1].images[1].get_clim() == raw.axes[2].images[1].get_clim() == (0.0, 5.0)
    assert "(smoothed)" not in raw.axes[1].get_title()


def test_feature_maps_two_rows_strongest_channels_first_with_colour_bars():
    x3 = torch.zeros(1, 6, 8, 8)
    x3[0, 4] = 3.0
    x3[0, 1, 0, 0] = 1.0
    x4 = torch.rand(10, 4, 4, generator=torch.Generator().manual_seed(0))
    fig = viz.feature_maps(x3, x4, n=3)
    assert len(fig.axes) == 6 + 2  # the maps, then one colour bar per row
    assert fig.axes[0].get_title() == "ch 4"
    assert "6x8x8" in fig.axes[0].get_ylabel() and "10x4x4" in fig.axes[3].get_ylabel()
    assert [ax.get_ylabel() for ax in fig.axes[6:]] == ["activation", "activation"]
    row3 = [ax.images[0].get_clim() for ax in fig.axes[:3]]
    assert row3 == [(0.0, 3.0)] * 3  # one scale for the row: min and max of the shown channels
    shown4 = x4[np.argsort(-x4.mean(dim=(1, 2)).numpy(), kind="stable")[:3]]
    expected4 = pytest.approx((float(shown4.min()), float(shown4.max())))
    assert all(ax.images[0].get_clim() == expected4 for ax in fig.axes[3:6])
    first = viz.feature_maps(x3, x4, n=2, select="first", scale="all")
    assert [ax.get_title() for ax in first.axes[:4]] == ["ch 0", "ch 1", "ch 0", "ch 1"]
    assert len(first.axes) == 4 + 1  # one colour bar for both layers
    both = pytest.approx((0.0, max(1.0, float(x4[:2].max()))))
    assert all(ax.images[0].get_clim() == both for ax in first.axes[:4])
    with pytest.raises(ValueError):
        viz.feature_maps(x3, x4, scale="column")


# ----------------------------------------------------------------------------------------------------
# label graph


@pytest.mark.parametrize("tau, expected", [(0.4, 8), (0.5, 6), (0.6, 4), (0.8, 2), (0.9, 1), (1.0, 1)])
def test_label_graph_data_edges_match_hand_count(tau, expected):
    graph = viz.label_graph_data(P, NAMES, NUMS, tau=tau)
    assert graph.number_of_edges() == expected
    assert graph.number_of_nodes() == 4


def test_label_graph_data_direction_weights_filter_and_isolated():
    graph = viz.label_graph_data(P, NAMES, NUMS, tau=0.6)
    assert set(graph.edges) == {("a", "b"), ("b", "a"), ("c", "a"), ("d", "b")}
    assert graph.edges["b", "a"]["weight"] == pytest.approx(0.75)
    assert graph.nodes["a"]["count"] == 10 and graph.nodes["d"]["index"] == 3
    sub = viz.label_graph_data(P, NAMES, tau=0.4, categories=["a", "b"])
    assert set(sub.edges) == {("a", "b"), ("b", "a")}
    assert sub.nodes["a"]["count"] is None
    assert viz.label_graph_data(P, NAMES, tau=0.4, categories=[0, "c"]).number_of_edges() == 2
    lonely = viz.label_graph_data(P, NAMES, tau=0.9, include_isolated=False)
    assert set(lonely.nodes) == {"a", "c"}


def test_label_graph_data_no_self_loops_and_no_zero_edges():
    A = static_adjacency(NUMS, COUNTS, tau=0.5, p=0.2)  # diagonal 0.8
    graph = viz.label_graph_data(A, NAMES, tau=0.0)
    assert nx_self_loops(graph) == 0
    assert graph.number_of_edges() == 6  # the binarised pairs at tau 0.5, nothing from zeros
    with pytest.raises(ValueError):
        viz.label_graph_data(P[:3, :3], NAMES)


def nx_self_loops(graph):
    return sum(1 for u, v in graph.edges if u == v)


def test_label_graph_draws_one_arrow_per_edge_and_colour_bar():
    pos = viz.graph_layout(P, NAMES, seed=0)
    fig = viz.label_graph(P, NAMES, NUMS, tau=0.5, pos=pos)
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 6
    assert len(fig.axes) == 2  # graph + colour bar
    assert ax.get_title().startswith("Label graph: 6 edges")
    labels = {t.get_text() for t in ax.texts}
    assert labels == set(NAMES)
    widths = sorted(a.get_linewidth() for a in arrows)
    assert widths[0] < widths[-1]  # width follows P(j | i)
    empty = viz.label_graph(P, NAMES, NUMS, tau=1.0, categories=["a", "b"], pos=pos)
    assert len(empty.axes) == 1 and not [p for p in empty.axes[0].patches if isinstance(p, FancyArrowPatch)]


def test_label_graph_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    out = viz.label_graph(P, NAMES, tau=0.5, ax=ax)
    assert out is fig


def test_graph_layout_deterministic_and_isolated_on_outer_ring():
    P5 = np.zeros((5, 5))
    P5[:4, :4] = P
    names = NAMES + ["e"]  # e never co-occurs
    one = viz.graph_layout(P5, names, seed=3)
    two = viz.graph_layout(P5, names, seed=3)
    assert set(one) == set(names)
    for v in names:
        np.testing.assert_allclose(one[v], two[v])
    assert np.linalg.norm(one["e"]) == pytest.approx(1.25)
    assert max(np.linalg.norm(one[v]) for v in NAMES) <= 1.0 + 1e-9
    assert set(viz.graph_layout(P5, names, layout="circular")) == set(names)


def test_cooccurrence_heatmap_axes_labels_and_annotations():
    fig = viz.cooccurrence_heatmap(COUNTS, NAMES, title="counts", annotate=True)
    assert len(fig.axes) == 2  # map + colour bar
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in COUNTS.ravel())
    assert ax.get_title() == "counts"
    with pytest.raises(ValueError):
        viz.cooccurrence_heatmap(COUNTS, NAMES[:3])


def test_adjacency_pair_three_maps_and_difference():
    static = static_adjacency(NUMS, COUNTS)
    dynamic = torch.rand(1, 4, 4)
    fig = viz.adjacency_pair(static, dynamic, NAMES, classes=["a", "c", "d"])
    assert len(fig.axes) == 6  # 3 maps + 3 colour bars
    maps = [ax.images[0].get_array() for ax in fig.axes[:3]]
    idx = [0, 2, 3]
    np.testing.assert_allclose(maps[0], static[np.ix_(idx, idx)])
    np.testing.assert_allclose(
        maps[2], dynamic[0].numpy()[np.ix_(idx, idx)] - static[np.ix_(idx, idx)], atol=1e-6
    )
    assert len(fig.axes[0].texts) == 9  # small: values written in the cells
    assert len(viz.adjacency_pair(static, dynamic[0], NAMES, annotate=False).axes[0].texts) == 0
    with pytest.raises(ValueError):
        viz.adjacency_pair(static, torch.rand(2, 4, 4), NAMES)


# ----------------------------------------------------------------------------------------------------
# evaluation and training


def test_pr_curves_area_under_drawn_curve_is_the_ap():
    scores, targets = _scores_targets()
    fig = viz.pr_curves(scores, targets, NAMES, classes=["a", 2])
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    ap = average_precision(scores, targets)
    for line, c in zip(lines, [0, 2]):
        assert line.get_drawstyle() == "steps-pre"
        recall, precision = line.get_xdata(), line.get_ydata()
        area = float(np.sum(np.diff(recall) * precision[1:]))  # steps-pre: p_k over (r_{k-1}, r_k]
        assert area == pytest.approx(ap[c])
        assert f"AP {100 * ap[c]:.1f}" in line.get_label()
    assert len(viz.pr_curves(scores, targets, NAMES).axes[0].get_lines()) == 4  # default: all (C <= 8)
    assert len(viz.pr_curves(scores, targets, NAMES, max_classes=3).axes[0].get_lines()) == 3


def test_threshold_sweep_matches_library_metrics():
    scores, targets = _scores_targets()
    data = viz.threshold_sweep_data(scores, targets, thresholds=[0.2, 0.5, 0.8])
    at_half = multilabel_metrics(scores, targets, threshold=0.5)
    for key in ("CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert data[key][1] == pytest.approx(at_half[key])
    assert data["CR"][0] >= data["CR"][1] >= data["CR"][2]  # recall falls as the threshold rises
    top3 = viz.threshold_sweep_data(scores, targets, thresholds=[0.5], top_k=3)
    assert top3["OP"][0] == pytest.approx(multilabel_metrics(scores, targets, top_k=3)["OP"])
    fig = viz.threshold_sweep(scores, targets, thresholds=[0.2, 0.5, 0.8])
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
    fig = viz.training_curves(history)
    loss_ax, map_ax = fig.axes
    assert len(loss_ax.get_lines()) == 1 and loss_ax.get_title() == "Training loss"
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
    loss_ax, map_ax = viz.training_curves(logged).axes
    labels = [line.get_label() for line in map_ax.get_lines()]
    assert labels == ["mAP (s_r)", "mAP (s)", "mAP (s_m)", "best 35.0 (epoch 2)"]
    only_loss = viz.training_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    assert len(only_loss.axes) == 1
    with pytest.raises(ValueError):
        viz.training_curves([])


def test_training_curves_validation_loss_beside_training_loss():
    curves = [(1, 0.7, 0.6, 30.0, 29.0), (2, 0.5, 0.45, 40.0, 38.0), (3, 0.3, 0.52, 39.0, 38.5)]
    trainer_rows = [
        {"epoch": e, "lr_head": 0.1, "train_loss": t, "val_loss": v, "val_mAP": m, "val_mAP_r": r}
        for e, t, v, m, r in curves
    ]
    quick_rows = [{"epoch": e, "loss": t, "val_loss": v, "val_mAP": m} for e, t, v, m, _ in curves]
    for rows in (trainer_rows, quick_rows):
        loss_ax, map_ax = viz.training_curves(rows).axes
        train, val, lowest = loss_ax.get_lines()
        assert [train.get_label(), val.get_label()] == ["training loss", "validation loss"]
        assert train.get_linestyle() == "-" and val.get_linestyle() == "--"
        assert list(val.get_ydata()) == [0.60, 0.45, 0.52]
        assert lowest.get_label() == "lowest validation 0.450 (epoch 2)"
        assert lowest.get_xdata()[0] == 2 and lowest.get_ydata()[0] == 0.45
        assert loss_ax.get_title() == "Training and validation loss"
        assert [t.get_text() for t in loss_ax.get_legend().get_texts()][:2] == [
            "training loss",
            "validation loss",
        ]
        assert map_ax.get_lines()[-1].get_label() == "best 40.0 (epoch 2)"
    without = viz.training_curves([{"epoch": 1, "loss": 0.7, "val_mAP": 30.0}, {"epoch": 2, "loss": 0.5}])
    assert [line.get_label() for line in without.axes[0].get_lines()] == ["training loss"]
    assert without.axes[0].get_title() == "Training loss"


def test_residual_vs_plain_one_line_each_plain_dashed():
    fig = viz.residual_vs_plain({"plain-20": [2.3, 2.2, 2.2], "residual-20": ([0, 10, 20], [2.3, 1.0, 0.5])})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["plain-20", "residual-20"]
    assert lines[0].get_linestyle() == "--" and lines[1].get_linestyle() == "-"
    assert list(lines[1].get_xdata()) == [0, 10, 20]


def test_param_bars_flat_and_stacked():
    flat = viz.param_bars({"resnet": 42_500_000, "db_dgcn": 60_000_000})
    assert len(flat.axes[0].patches) == 2
    assert {t.get_text().strip() for t in flat.axes[0].texts} == {"42.50 M", "60.00 M"}
    stacked = viz.param_bars(
        {"add_gcn": {"backbone": 40e6, "head": 5e6}, "db_dgcn": {"backbone": 40e6, "head": 9e6}}
    )
    assert len(stacked.axes[0].patches) == 4
    assert "49.00 M" in {t.get_text().strip() for t in stacked.axes[0].texts}


def test_metrics_table_no_winner_by_default_bold_on_request_and_dashes_missing():
    rows = {"paper": {"mAP": 82.9, "CP": 85.2}, "ours": {"mAP": 60.0, "CP": 90.0, "CR": None}}
    plain = viz.metrics_table_figure(rows, columns=("mAP", "CP", "CR"))
    cells = plain.axes[0].tables[0].get_celld()
    assert cells[(1, 0)].get_text().get_text() == "82.9"
    assert cells[(2, 2)].get_text().get_text() == "\u2013"
    assert all(cell.get_text().get_fontweight() != "bold" for (r, _), cell in cells.items() if r >= 1)
    fig = viz.metrics_table_figure(rows, columns=("mAP", "CP", "CR"), highlight_best=True)
    cells = fig.axes[0].tables[0].get_celld()
    assert cells[(1, 0)].get_text().get_fontweight() == "bold"
    assert cells[(2, 1)].get_text().get_fontweight() == "bold"
    assert cells[(2, 0)].get_text().get_fontweight() != "bold"


def test_per_class_ap_bars_sorted_by_the_first_series_with_prevalence_ticks():
    ap = {"val": [0.5, 0.9, np.nan, 0.7], "plain": [0.4, 0.8, np.nan, 0.2]}
    fig = viz.per_class_ap_bars(ap, NAMES, prevalence={"val": [0.1, 0.2, 0.3, 0.4]})
    ax = fig.axes[0]
    ticks = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])  # top to bottom
    assert [t.get_text() for t in ticks] == ["b", "d", "a", "c"]  # by val's AP, NaN (no positives) last
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx([90, 70, 50, 0, 80, 20, 40, 0])  # val's bars, then plain's, in row order
    (ticks_line,) = ax.get_lines()
    assert list(ticks_line.get_xdata()) == pytest.approx([20, 40, 10, 30])  # prevalence of b, d, a, c
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend == {"val", "plain", "random scores (prevalence)"}
    assert ax.get_xlabel() == "AP (%)"
    with pytest.raises(ValueError, match="prevalence names series"):
        viz.per_class_ap_bars(ap, NAMES, prevalence={"rare": [0.1] * 4})
    with pytest.raises(ValueError, match="one value per class"):
        viz.per_class_ap_bars({"val": [0.5, 0.9]}, NAMES)


def test_worst_mistakes_by_hand():
    scores = np.array([[0.9, 0.2, 0.6], [0.1, 0.8, 0.95], [0.4, 0.3, 0.05]])
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    # absent labels, highest score first; present labels, lowest score first
    assert viz.worst_mistakes(scores, targets, k=3) == [(1, 2, 0.95), (0, 2, 0.6), (0, 1, 0.2)]
    missed = [(2, 1, 0.3), (2, 0, 0.4), (1, 1, 0.8), (0, 0, 0.9)]
    assert viz.worst_mistakes(scores, targets, "missed", k=10) == missed
    first_column = np.zeros((3, 3), dtype=bool)
    first_column[:, 0] = True
    assert viz.worst_mistakes(scores, targets, "missed", among=first_column) == [(2, 0, 0.4), (0, 0, 0.9)]
    one_each = viz.worst_mistakes(scores, targets, "missed", per_class=1)
    assert one_each == [(2, 1, 0.3), (2, 0, 0.4)]  # the worst missed label of each class
    ties = viz.worst_mistakes(torch.full((2, 2), 0.5), torch.zeros(2, 2), k=4)
    assert [(i, c) for i, c, _ in ties] == [(0, 0), (0, 1), (1, 0), (1, 1)]  # image order, then class order
    with pytest.raises(ValueError, match="kind must be one of"):
        viz.worst_mistakes(scores, targets, "wrong")
    with pytest.raises(ValueError, match="among has shape"):
        viz.worst_mistakes(scores, targets, among=first_column[:2])


def test_mistakes_gallery_overlays_the_mistaken_class_map_and_lists_the_truth():
    images = torch.rand(2, 3, 16, 16)
    maps = torch.randn(2, 4, 2, 2)
    mistakes = [(5, 1, 0.9), (7, 3, 0.8)]
    fig = viz.mistakes_gallery(images, maps, mistakes, NAMES, truths=[[1, 0, 1, 0], [0, 1, 0, 0]])
    first, second, colour_bar = fig.axes
    assert first.get_title() == "image 5: b 0.9\n(predicted, absent)"
    assert first.get_xlabel() == "true: a, c" and second.get_xlabel() == "true: b"
    overlay = first.get_images()[1].get_array()
    assert np.allclose(overlay, torch.sigmoid(maps[0, 1]).numpy())  # the map of class b, as sigma(M)
    assert np.allclose(second.get_images()[1].get_array(), torch.sigmoid(maps[1, 3]).numpy())
    assert first.get_images()[1].get_extent() == [-0.5, 15.5, 15.5, -0.5]  # over the whole image
    assert colour_bar.get_ylabel().startswith("\u03c3(M)")
    missed = viz.mistakes_gallery(images, maps, [(5, 1, 0.9), (7, 3, 0.000123)], NAMES, kind="missed")
    assert missed.axes[1].get_title() == "image 7: d 0.00012\n(present, missed)"
    with pytest.raises(ValueError, match="one image and one"):
        viz.mistakes_gallery(images[:1], maps, mistakes, NAMES)


# ----------------------------------------------------------------------------------------------------
# export


def test_save_figure_png_svg_and_both(tmp_path):
    fig = viz.param_bars({"x": 1_000_000})
    (png,) = viz.save_figure(fig, tmp_path / "deep" / "fig.png", dpi=40)
    assert png.read_bytes().startswith(PNG_MAGIC)
    (svg,) = viz.save_figure(fig, tmp_path / "fig.svg")
    assert b"<svg" in svg.read_bytes()[:500]
    both = viz.save_figure(fig, tmp_path / "slide", dpi=40)
    assert sorted(p.name for p in both) == ["slide.png", "slide.svg"]
    assert all(p.stat().st_size > 0 for p in both)
    with pytest.raises(ValueError):
        viz.save_figure(fig, tmp_path / "fig.gif")


def _every_figure():
    """One small call of every figure function, by name."""
    scores, targets = _scores_targets(n=12)
    image = torch.rand(3, 16, 16)
    return {
        "show_images": lambda: viz.show_images(torch.rand(2, 3, 8, 8), [[0], [1]], NAMES),
        "activation_maps_overlay": lambda: viz.activation_maps_overlay(image, torch.randn(4, 3, 3), NAMES),
        "feature_maps": lambda: viz.feature_maps(torch.rand(4, 8, 8), torch.rand(6, 4, 4), n=2),
        "cooccurrence_heatmap": lambda: viz.cooccurrence_heatmap(P, NAMES),
        "label_graph": lambda: viz.label_graph(P, NAMES, NUMS, tau=0.5),
        "adjacency_pair": lambda: viz.adjacency_pair(P, P.T, NAMES),
        "pr_curves": lambda: viz.pr_curves(scores, targets, NAMES),
        "threshold_sweep": lambda: viz.threshold_sweep(scores, targets, thresholds=[0.3, 0.6]),
        "metrics_table_figure": lambda: viz.metrics_table_figure({"ours": {"mAP": 50.0}}),
        "training_curves": lambda: viz.training_curves([{"epoch": 1, "loss": 0.5, "val_loss": 0.6}]),
        "residual_vs_plain": lambda: viz.residual_vs_plain({"plain": [1.0, 0.9]}),
        "param_bars": lambda: viz.param_bars({"x": 1_000_000}),
        "per_class_ap_bars": lambda: viz.per_class_ap_bars({"val": [0.5, 0.9, 0.1, 0.7]}, NAMES),
        "mistakes_gallery": lambda: viz.mistakes_gallery(
            image[None], torch.randn(1, 4, 3, 3), [(0, 1, 0.9)], NAMES
        ),
    }


NOT_FIGURES = {
    "VizFigure",
    "figure_to_png",
    "graph_layout",
    "image_to_array",
    "label_graph_data",
    "save_figure",
}
NOT_FIGURES |= {"threshold_sweep_data", "ImageExplorer", "LabelGraphExplorer", "ThresholdExplorer"}
NOT_FIGURES |= {"worst_mistakes"}


def test_every_figure_function_is_covered_by_the_export_test():
    assert set(_every_figure()) == set(viz.__all__) - NOT_FIGURES


@pytest.mark.parametrize("name", sorted(_every_figure()))
def test_save_figure_writes_png_and_svg_of_every_figure(name, tmp_path):
    fig = _every_figure()[name]()
    written = viz.save_figure(fig, tmp_path / name, formats=("png", "svg"), dpi=30)
    assert [p.name for p in written] == [f"{name}.png", f"{name}.svg"]
    assert written[0].read_bytes().startswith(PNG_MAGIC)
    assert b"<svg" in written[1].read_bytes()[:600]


def test_save_figure_of_pyplot_axes_and_subfigures(tmp_path):
    outer = Figure()
    left, _ = outer.subfigures(1, 2)
    drawn = viz.param_bars({"x": 1}, ax=left.add_subplot())
    assert drawn is outer
    (whole,) = viz.save_figure(left, tmp_path / "sub.png", dpi=30)  # a SubFigure saves its whole figure
    assert whole.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="unsupported format 'gif'"):
        viz.save_figure(drawn, tmp_path / "x", formats=("png", "gif"))
    assert not (tmp_path / "x.png").exists()  # nothing written before the check
    with pytest.raises(TypeError):
        viz.save_figure("not a figure", tmp_path / "x.png")


def test_viz_exports_every_public_name_and_no_module_imports_private_names():
    import ast
    import importlib
    from pathlib import Path

    names = {
        "VizFigure", "activation_maps_overlay", "adjacency_pair", "cooccurrence_heatmap", "feature_maps",
        "figure_to_png", "graph_layout", "image_to_array", "label_graph", "label_graph_data",
        "metrics_table_figure", "param_bars", "pr_curves", "residual_vs_plain", "save_figure", "show_images",
        "mistakes_gallery", "per_class_ap_bars", "worst_mistakes",
        "threshold_sweep", "threshold_sweep_data", "training_curves",
        "ImageExplorer", "LabelGraphExplorer", "ThresholdExplorer",
    }  # fmt: skip
    assert set(viz.__all__) == names
    for source in sorted(Path(viz.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dbdgcn_lib"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{source.name} imports {private} from {node.module}"
        if source.stem not in ("__init__", "widgets"):
            module = importlib.import_module(f"dbdgcn_lib.viz.{source.stem}")
            assert all(hasattr(module, n) for n in module.__all__)


def test_figures_display_themselves_without_pyplot():
    fig = viz.param_bars({"x": 1})
    assert isinstance(fig, viz.VizFigure)
    assert fig._repr_png_().startswith(PNG_MAGIC)
    assert viz.figure_to_png(fig, dpi=30).startswith(PNG_MAGIC)


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
    assert len(ex.figure.axes) == 4 + 6  # image, 2 maps, colour bar; then 3 adjacency maps + colour bars
    before = ex.png
    ex.index.value = 1
    assert "true: b, d" in ex.labels.value and "\u2717" not in ex.labels.value
    assert ex.png != before
    ex.threshold.value = 0.75
    assert "b (0.80)" in ex.labels.value and "d (0.70)" not in ex.labels.value.split("predicted")[1]
    ex.update(top_k=3)
    assert len(ex.figure.axes) == 5 + 6


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
    assert len(ex.figure.axes) == 4  # image, 2 maps, colour bar; no dynamic adjacency: no graph row
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
    assert [b.get_height() for b in bars] == pytest.approx([ex.metrics[k] for k in THRESHOLD_METRICS])
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


@needs_widgets
def test_image_explorer_opens_on_the_given_image(small_pngs):
    probs = np.array([[0.9, 0.1, 0.1, 0.1], [0.1, 0.8, 0.1, 0.7], [0.1, 0.1, 0.9, 0.1]])
    ex = widgets.ImageExplorer(torch.rand(3, 3, 16, 16), NAMES, probabilities=probs, index=2)
    assert ex.index.value == 2
    assert "<b>image 2</b>" in ex.labels.value and "c (0.90)" in ex.labels.value
    ex.index.value = 1
    assert "<b>image 1</b>" in ex.labels.value and "d (0.70)" in ex.labels.value
    with pytest.raises(ValueError, match="index 3 is out of range for 3 images"):
        widgets.ImageExplorer(torch.rand(3, 3, 16, 16), NAMES, probabilities=probs, index=3)


@needs_widgets
def test_explorers_text_form_is_one_line_and_the_widget_view_stays(small_pngs):
    scores, targets = _scores_targets(n=12)
    explorers = {
        "Label-graph explorer": widgets.LabelGraphExplorer(NUMS, COUNTS, NAMES, show_adjacency=False),
        "Image explorer": widgets.ImageExplorer(torch.rand(1, 3, 8, 8), NAMES, probabilities=scores[:1]),
        "Threshold explorer": widgets.ThresholdExplorer(scores, targets, NAMES, thresholds=[0.5]),
    }
    for kind, ex in explorers.items():
        bundle = ex._repr_mimebundle_()
        line = (
            f"{kind}: run the notebook from the top (Run \u25b8 Run All Cells) to use it; "
            "a figure above shows what it draws."
        )
        assert bundle["text/plain"] == repr(ex) == line
        view = bundle["application/vnd.jupyter.widget-view+json"]
        assert view["model_id"] == ex.widget.model_id  # a live kernel still draws the widget
    closed = explorers["Image explorer"]
    closed.widget.close()
    assert closed._repr_mimebundle_() == {"text/plain": repr(closed)}


@needs_widgets
def test_explorers_save_their_current_figure(tmp_path, small_pngs):
    scores, targets = _scores_targets(n=12)
    ex = widgets.ThresholdExplorer(scores, targets, NAMES, thresholds=[0.3, 0.6])
    ex.threshold.value = 0.3
    written = ex.save(tmp_path / "slides" / "threshold", dpi=30)
    assert [p.name for p in written] == ["threshold.png", "threshold.svg"]
    assert written[0].read_bytes().startswith(PNG_MAGIC)
    assert b"<svg" in written[1].read_bytes()[:600]
    assert b"threshold 0.30" in written[1].read_bytes()  # the view after the change, not the first one
    (pdf,) = ex.save(tmp_path / "t.pdf", dpi=30)
    assert pdf.read_bytes().startswith(b"%PDF")


def _coco_sized_statistics(seed=0):
    """80 classes with skewed frequencies and 10 groups of 8, from random multi-hot labels."""
    rng = np.random.default_rng(seed)
    c = 80
    rates = np.clip(rng.exponential(0.05, c), 0.005, 0.6)
    rates[49] = 0.55  # a frequent class, as person is in COCO
    labels = (rng.random((600, c)) < rates).astype(np.int64)
    nums, counts = cooccurrence(torch.as_tensor(labels))
    names = [f"class{i:02d}" for i in range(c)]
    supercategory = [f"group{i // 8}" for i in range(c)]
    return labels, nums, counts, names, supercategory


@needs_widgets
def test_label_graph_explorer_with_80_classes_and_supercategories(tmp_path, small_pngs):
    labels, nums, counts, names, supercategory = _coco_sized_statistics()
    np.testing.assert_array_equal(np.asarray(nums), labels.sum(axis=0))  # the statistics, independently
    by_name = dict(zip(names, supercategory))
    ex = widgets.LabelGraphExplorer(nums, counts, names, tau=0.4, groups=by_name, show_adjacency=False)
    assert list(ex.categories.options) == [f"group{g}" for g in range(10)]
    assert len(ex.categories.value) == 1  # 80 classes: it opens on one group
    pair = labels.T @ labels
    cond = pair / labels.sum(axis=0)[:, None]  # P(j | i) from the labels themselves
    np.fill_diagonal(cond, 0.0)
    ex.update(categories=())  # none selected: every class
    assert ex.edge_count == int((cond >= 0.4).sum())
    before = ex.png
    ex.update(tau=0.3, categories=("group6",), show_adjacency=True)
    assert ex.selected_classes() == names[48:56]
    sub = cond[48:56, 48:56]
    assert ex.edge_count == int((sub >= 0.3).sum()) and ex.adjacency.shape == (8, 8)
    assert ex.png != before and len(ex.figure.axes) == 4  # graph, colour bar, adjacency, colour bar
    assert widgets._group_members(supercategory, names) == ex.groups  # COCO's form: one group per class
    written = ex.export(tmp_path / "coco_graph")
    assert [p.name for p in written] == ["coco_graph.png", "coco_graph.svg"]
    assert written[0].read_bytes().startswith(PNG_MAGIC) and b"class49" in written[1].read_bytes()
    with pytest.raises(ValueError, match="nums"):
        widgets.LabelGraphExplorer(nums[:79], counts, names)


@needs_widgets
def test_label_graph_groups_accept_three_forms_and_reject_unknown_names():
    scenes = widgets._group_members({"right": ["d", "c"], "left": ["a", "b"]}, NAMES)
    assert scenes == {"right": ["c", "d"], "left": ["a", "b"]}  # given order of groups, class order inside
    by_name = widgets._group_members({"b": "y", "a": "x", "c": "x"}, NAMES)
    assert by_name == {"x": ["a", "c"], "y": ["b"]}  # d is in no group
    assert widgets._group_members(np.array(["y", "x", "y", "x"]), NAMES) == {"x": ["b", "d"], "y": ["a", "c"]}
    with pytest.raises(ValueError, match="unknown class name"):
        widgets._group_members({"left": ["a", "zebra"]}, NAMES)
    with pytest.raises(ValueError, match="unknown class name"):
        widgets._group_members({"zebra": "x"}, NAMES)
    with pytest.raises(ValueError, match="4 entries"):
        widgets._group_members(["x", "y"], NAMES)
    with pytest.raises(ValueError, match="not a mix"):
        widgets._group_members({"a": "x", "left": ["b"]}, NAMES)


@needs_widgets
def test_label_graph_explorer_switches_to_ml_gcn_codes_direction(small_pngs):
    ex = widgets.LabelGraphExplorer(NUMS, COUNTS, NAMES, tau=0.6)
    paper_edges = {(u, v) for u, v in ex.graph.edges}
    paper_png = ex.png
    ex.convention.value = "ml_gcn_code"
    code_edges = {(u, v) for u, v in ex.graph.edges}
    assert code_edges == {(v, u) for u, v in paper_edges} and code_edges != paper_edges  # the transpose
    np.testing.assert_allclose(
        ex.adjacency, static_adjacency(NUMS, COUNTS, tau=0.6, p=0.2, convention="ml_gcn_code")
    )
    assert ex.png != paper_png and any("ml_gcn_code" in ax.get_title() for ax in ex.figure.axes)


@needs_widgets
def test_a_large_label_graph_opens_on_its_group_with_the_most_edges(small_pngs):
    stats = coco_label_statistics()
    ex = widgets.LabelGraphExplorer(stats.nums, stats.counts, stats.names, groups=stats.supercategories)
    (opened,) = ex.categories.value
    P = conditional_probability(stats.nums, stats.counts)
    np.fill_diagonal(P, 0.0)

    def inner_edges(group):
        members = [stats.names.index(n) for n in ex.groups[group]]
        return int((P[np.ix_(members, members)] >= 0.4).sum())

    assert inner_edges(opened) == max(inner_edges(g) for g in ex.groups) > 0
    assert ex.selected_classes() == ex.groups[opened] and len(ex.selected_classes()) < 30
    assert widgets.LabelGraphExplorer(NUMS, COUNTS, NAMES).categories.value == ()  # small: everything
    chosen = widgets.LabelGraphExplorer(stats.nums, stats.counts, stats.names, categories=("person", "skis"))
    assert chosen.selected_classes() == ["person", "skis"]
    without_groups = widgets.LabelGraphExplorer(stats.nums, stats.counts, stats.names)
    assert len(without_groups.categories.value) == 30 and "person" in without_groups.categories.value


@needs_widgets
def test_the_direction_toggle_sizes_its_buttons_to_their_labels(small_pngs):
    ex = widgets.LabelGraphExplorer(NUMS, COUNTS, NAMES, show_adjacency=False)
    assert ex.convention.style.button_width == "auto"  # a fixed width cut "ML-GCN code: P(i..."


def _smallest_text_px(fig, display_px=960, dpi=100):
    """The smallest text of ``fig`` in screen pixels where a notebook shows it: drawn at ``dpi`` and
    shrunk to ``display_px`` when wider (``viz.core.DISPLAY_WIDTH_IN``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width_px = fig.get_tightbbox(renderer).width * dpi
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    shown = [t for t in texts if t.get_window_extent(renderer).width > 0]
    return min(t.get_fontsize() for t in shown) * dpi / 72 * min(1.0, display_px / width_px)


@pytest.mark.parametrize("classes", [20, 80])
def test_heatmap_names_are_legible_at_the_notebooks_width(classes):
    """Readable in class: at 960 px, COCO's 80 names were 4 px tall (the figure was 1,520 px wide and
    shown shrunk); now at least 8 px, and the embedded set's 20 far more."""
    stats = coco_label_statistics()
    P = conditional_probability(stats.nums, stats.counts)[:classes, :classes]
    fig = viz.cooccurrence_heatmap(P, stats.names[:classes], vmin=0, vmax=1, highlight=["airplane"])
    assert _smallest_text_px(fig) >= (8.0 if classes == 80 else 12.0)
    bold = [t for t in fig.axes[0].get_yticklabels() if t.get_fontweight() == "bold"]
    assert [t.get_text() for t in bold] == ["airplane"]
    with pytest.raises(ValueError, match="unknown class"):
        viz.cooccurrence_heatmap(P, stats.names[:classes], highlight=["unicorn"])
