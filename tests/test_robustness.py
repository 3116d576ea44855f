"""Robustness without context: recall beside absent labels, the look-alikes' context-free level,
exclusive against co-occur AP, biased pairs, the background swap of the generator, the feature split,
and ``evaluate --robustness``."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from dbdgcn_lib.cli import main
from dbdgcn_lib.data import (
    BackgroundSwap,
    SyntheticDatasetError,
    biased_pairs,
    coco_label_statistics,
    ensure_synthetic,
    load_labels,
    make_synthetic,
    pair_masks,
    pairs_for,
    read_generator,
    sample_labels,
)
from dbdgcn_lib.data.synthetic import (
    PLAIN_BACKGROUND,
    SCENES,
    SyntheticSize,
    alphabetical_names,
    render_image,
)
from dbdgcn_lib.graph import cooccurrence
from dbdgcn_lib.metrics import (
    average_precision,
    context_free_ap,
    exclusive_cooccur_metrics,
    label_recall,
    lookalike_auc,
    out_of_scene_metrics,
)
from dbdgcn_lib.models import build_model
from dbdgcn_lib.training import FeatureSplit, compute_loss
from dbdgcn_lib.training.feature_split import split_context
from dbdgcn_lib.training.robustness import coco_context_pairs

pytestmark = pytest.mark.filterwarnings("ignore:.*no positive example:RuntimeWarning")


# --- recall beside the share of absent labels predicted ---------------------------------------------


def test_label_recall_by_hand():
    scores = np.array([[0.9, 0.2, 0.6], [0.4, 0.7, 0.1], [0.5, 0.5, 0.0]])
    targets = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0]])
    m = label_recall(scores, targets)
    # positives 0.9, 0.6, 0.4, 0.5 -> 3 of 4 at >= 0.5; absent 0.2, 0.7, 0.1, 0.5, 0.0 -> 2 of 5
    assert m == {"recall": 75.0, "absent_predicted": 40.0, "labels": 4, "absent_labels": 5}
    only = np.zeros_like(targets, dtype=bool)
    only[1, 0] = True
    assert label_recall(scores, targets, 0.3, labels=only)["recall"] == 100.0
    with pytest.raises(ValueError, match="subset"):
        label_recall(scores, targets, labels=~only)


def test_out_of_scene_metrics_give_the_absent_share_of_the_measured_images():
    scores = np.array([[0.9, 0.6, 0.2], [0.1, 0.8, 0.7], [0.99, 0.99, 0.99]])
    targets = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 0]])
    mask = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=bool)
    m = out_of_scene_metrics(scores, targets, mask)
    # image 2 holds no out-of-scene label: its three absent labels, all predicted, do not count
    assert (m["absent_labels"], m["absent_predicted"]) == (2, 0.0)
    assert (m["out_of_scene_recall"], m["in_scene_recall"]) == (100.0, 100.0)


# --- the look-alikes ----------------------------------------------------------------------------------


def test_context_free_ap_is_the_share_of_blob_images_holding_the_class():
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 4)) < 0.3).astype(int)
    targets[:, 1] *= 1 - targets[:, 2]  # columns 1 and 2 never share an image, like mouse and stone
    ap = context_free_ap(targets, [1, 2])
    blob = targets[:, [1, 2]].any(axis=1)
    assert ap == pytest.approx(100 * targets[blob][:, [1, 2]].mean(axis=0))
    assert (ap > 100 * targets[:, [1, 2]].mean(axis=0)).all()  # far above prevalence
    with pytest.raises(ValueError, match="distinct"):
        context_free_ap(targets, [1, 1])


def test_context_free_level_on_the_embedded_val_split():
    _, labels = sample_labels(500, split="val")  # the default val split's labels, without drawing
    names = alphabetical_names()
    columns = [names.index(name) for name in ("mouse", "stone")]
    assert context_free_ap(labels, columns) == pytest.approx([36.3, 63.7], abs=0.05)


def test_lookalike_auc_by_hand():
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]])
    perfect = np.array([[0.9, 0.1], [0.6, 0.5], [0.2, 0.8], [0.4, 0.45], [0.0, 1.0], [1.0, 0.0]])
    assert lookalike_auc(perfect, targets, (0, 1)) == {"auc": 100.0, "images_a": 2, "images_b": 2}
    assert lookalike_auc(perfect, targets, (1, 0))["auc"] == 100.0  # the same question either way
    assert lookalike_auc(perfect[:, ::-1], targets, (0, 1))["auc"] == 0.0  # always the wrong one
    blob = np.where(targets.any(axis=1, keepdims=True), 0.7, 0.1).repeat(2, axis=1)
    assert lookalike_auc(blob, targets, (0, 1))["auc"] == 50.0  # a shape detector: all ties
    # a-images score +0.5 and -0.1, b-images -0.6 and +0.5: of 4 couples 2 won, 1 tied, 1 lost
    mixed = np.array([[0.9, 0.4], [0.4, 0.5], [0.2, 0.8], [0.5, 0.0], [0.5, 0.5], [0.5, 0.5]])
    assert lookalike_auc(mixed, targets, (0, 1))["auc"] == pytest.approx(100 * 2.5 / 4)
    assert np.isnan(lookalike_auc(perfect, targets[:, ::-1] * [1, 0], (0, 1))["auc"])


# --- exclusive against co-occur AP ------------------------------------------------------------------------


def _reference_pair_ap(scores, targets, b, c):
    """Singh et al.'s protocol written out: AP of b over (kind of b images + images without b)."""
    cooccur = (targets[:, b] == 1) & (targets[:, c] == 1)
    exclusive = (targets[:, b] == 1) & (targets[:, c] == 0)
    other = targets[:, b] == 0
    ap = {}
    for name, kind in (("exclusive", exclusive), ("cooccur", cooccur)):
        keep = kind | other
        ap[name] = 100 * average_precision(scores[keep, b], targets[keep, b])[0]
    return ap, int(exclusive.sum()), int(cooccur.sum())


def test_exclusive_cooccur_metrics_match_the_protocol_written_out():
    rng = np.random.default_rng(1)
    for trial in range(20):
        targets = (rng.random((40, 5)) < 0.4).astype(int)
        scores = rng.random((40, 5)) if trial % 2 else rng.integers(0, 4, (40, 5)) / 4  # ties too
        pairs = [(0, 1), (2, 4), (3, 0)]
        m = exclusive_cooccur_metrics(scores, targets, pairs)
        for (b, c), row in zip(pairs, m["pairs"]):
            ap, n_exclusive, n_cooccur = _reference_pair_ap(scores, targets, b, c)
            assert row["exclusive_AP"] == pytest.approx(ap["exclusive"])
            assert row["cooccur_AP"] == pytest.approx(ap["cooccur"])
            assert (row["exclusive_images"], row["cooccur_images"]) == (n_exclusive, n_cooccur)
            with_c = scores[(targets[:, b] == 1) & (targets[:, c] == 1), b].mean()
            without_c = scores[(targets[:, b] == 1) & (targets[:, c] == 0), b].mean()
            assert row["bias"] == pytest.approx(with_c / without_c)
        assert m["exclusive_mAP"] == pytest.approx(np.mean([r["exclusive_AP"] for r in m["pairs"]]))


def test_a_model_that_needs_the_context_loses_exclusive_ap():
    rng = np.random.default_rng(2)
    targets = (rng.random((200, 3)) < 0.5).astype(int)
    leaning = 0.4 * targets[:, 0:1] + 0.5 * targets[:, 1:2] + 0.1 * rng.random((200, 1))
    scores = np.concatenate([leaning, rng.random((200, 2))], axis=1)
    row = exclusive_cooccur_metrics(scores, targets, [(0, 1)])["pairs"][0]
    assert row["cooccur_AP"] == 100.0 and row["exclusive_AP"] < 80 and row["bias"] > 1.5
    with pytest.raises(ValueError, match="two columns"):
        exclusive_cooccur_metrics(scores, targets, [(0, 0)])


# --- biased pairs -------------------------------------------------------------------------------------


def test_biased_pairs_rule_by_hand():
    names = ["skis", "person", "cup", "table"]
    labels = np.array(
        [[1, 1, 0, 0]] * 9 + [[1, 0, 0, 0]] * 1 + [[0, 1, 1, 1]] * 3 + [[0, 0, 1, 1]] * 2 + [[0, 0, 1, 0]] * 3
    )
    nums, counts = cooccurrence(labels)
    pairs = biased_pairs(nums, counts, names, top=None)
    # table is always with cup (P = 1): no exclusive image, dropped; person's context is skis (9 of 12)
    assert [(p.object, p.context) for p in pairs] == [
        ("skis", "person"),
        ("person", "skis"),
        ("cup", "table"),
    ]
    skis = pairs[0]
    assert (skis.images, skis.cooccur_images, skis.exclusive_images) == (10, 9, 1)
    assert skis.probability == pytest.approx(0.9)
    assert [p.object for p in biased_pairs(nums, counts, names, top=None, min_exclusive=2)] == [
        "person",
        "cup",
    ]
    assert len(biased_pairs(nums, counts, names, top=1)) == 1
    cooccur, exclusive = pair_masks(labels, pairs[:1])
    assert cooccur[:, 0].sum() == 9 and exclusive[:, 0].sum() == 1 and np.flatnonzero(exclusive[:, 0]) == [9]
    moved = pairs_for(pairs[:1], ["person", "skis"])
    assert (moved[0].object_index, moved[0].context_index) == (1, 0)
    with pytest.raises(ValueError, match="cup"):
        pairs_for(pairs, ["person", "skis"])


def test_coco_pairs_from_the_shipped_statistics():
    stats = coco_label_statistics()
    pairs = coco_context_pairs(stats.names)
    assert len(pairs) == 20 and pairs[0].object == "sports ball" and pairs[0].context == "person"
    assert ("mouse", "keyboard") in [(p.object, p.context) for p in pairs]
    assert all(p.exclusive_images >= 100 for p in pairs)
    assert [p.probability for p in pairs] == sorted((p.probability for p in pairs), reverse=True)
    assert all(stats.names[p.object_index] == p.object for p in pairs)


def _coco_like(root, images):
    """A COCO-format annotation file (no pictures) with COCO's names: each image a list of names."""
    names = ["person", "keyboard", "mouse", "dining table", "fork", "sports ball"]
    categories = [{"id": 10 + k, "name": n, "supercategory": "x"} for k, n in enumerate(names)]
    annotations = []
    for image_id, held in enumerate(images, start=1):
        for name in held:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 10 + names.index(name),
                    "bbox": [0, 0, 4, 4],
                    "area": 16,
                    "iscrowd": 0,
                }
            )
    data = {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 8} for i in range(1, len(images) + 1)
        ],
        "annotations": annotations,
        "categories": categories,
    }
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2014.json").write_text(json.dumps(data))


def test_exclusive_and_cooccur_images_from_a_coco_annotation_file(tmp_path):
    images = [["mouse", "keyboard"], ["mouse"], ["mouse", "person"], ["fork", "dining table"], ["fork"]]
    images += [["sports ball", "person"], ["keyboard"], ["person"]]
    _coco_like(tmp_path, images)
    table = load_labels(tmp_path, "val2014")
    pairs = coco_context_pairs(list(table.categories))
    chosen = {(p.object, p.context) for p in pairs}
    assert chosen == {("sports ball", "person"), ("fork", "dining table"), ("mouse", "keyboard")}
    cooccur, exclusive = pair_masks(table.labels, pairs)
    by_pair = {(p.object, p.context): k for k, p in enumerate(pairs)}
    mouse = by_pair["mouse", "keyboard"]
    assert (cooccur[:, mouse].sum(), exclusive[:, mouse].sum()) == (1, 2)
    fork = by_pair["fork", "dining table"]
    assert (cooccur[:, fork].sum(), exclusive[:, fork].sum()) == (1, 1)


# --- the background swap ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("tiny") / "synthetic", size="tiny")


@pytest.fixture(scope="module")
def swapped(tmp_path_factory):
    base = tmp_path_factory.mktemp("swap")
    size = SyntheticSize(train=48, val=4, rare=2)  # tiny's train split; the first images of the others
    return {
        share: make_synthetic(base / f"s{share}", size=size, swap=BackgroundSwap(share))
        for share in (0.0, 0.2, 0.5)
    }


def _coco(root, split):
    return json.loads((root / "annotations" / f"instances_{split}.json").read_text())


def test_swap_validates_and_names_its_folder():
    assert BackgroundSwap(0.2).name == "swap20" and BackgroundSwap(0.05, "plain").name == "plainbg5"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BackgroundSwap(1.5)
    with pytest.raises(ValueError, match="unknown background swap"):
        BackgroundSwap(0.2, "sky")


def test_swap_changes_only_the_backgrounds_of_a_share_of_train(tiny, swapped):
    for share, root in swapped.items():
        for split in ("val", "rare", "plain"):
            for path in sorted((root / split).iterdir()):
                assert path.read_bytes() == (tiny / split / path.name).read_bytes()
            images = _coco(root, split)["images"]
            assert images == _coco(tiny, split)["images"][: len(images)]
        original, swap = _coco(tiny, "train"), _coco(root, "train")
        assert swap["annotations"] == original["annotations"]  # same objects, places and labels
        moved = [image for image in swap["images"] if "background" in image]
        assert all(image["background"] in {s.name for s in SCENES} - {image["scene"]} for image in moved)
        for image in swap["images"]:
            same = (root / "train" / image["file_name"]).read_bytes() == (
                tiny / "train" / image["file_name"]
            ).read_bytes()
            assert same == ("background" not in image)
        truth = read_generator(root)
        assert truth["swap"] == {"share": share, "kind": "scene"} and truth["counts"]["train"] == {
            "images": 48,
            "annotations": len(original["annotations"]),
        }
    counts = {
        share: sum("background" in i for i in _coco(root, "train")["images"])
        for share, root in swapped.items()
    }
    assert counts[0.0] == 0 < counts[0.2] < counts[0.5] < 48
    small, large = (
        {i["id"]: i.get("background") for i in _coco(swapped[s], "train")["images"]} for s in (0.2, 0.5)
    )
    assert all(large[k] == v for k, v in small.items() if v is not None)  # nested: same images, same scenes
    assert "swap" not in read_generator(tiny)


def test_a_swapped_image_keeps_its_objects_on_another_background():
    def draw(background, stream=None):
        rng = np.random.default_rng(7)
        return render_image(rng, 0, [0, 2, 11], 64, background=background, background_rng=stream)

    street, boxes = draw("scene")
    beach, beach_boxes = draw("beach", np.random.default_rng(1))
    grey, grey_boxes = draw("plain")
    assert boxes == beach_boxes == grey_boxes
    assert np.abs(np.asarray(street, float) - np.asarray(beach, float)).mean() > 20
    assert (np.asarray(grey) == PLAIN_BACKGROUND).all(axis=2).mean() > 0.5
    with pytest.raises(ValueError, match="background_rng"):
        draw("beach")
    with pytest.raises(ValueError, match="background must be one of"):
        draw("moon", np.random.default_rng(1))


def test_plain_swap_puts_train_objects_on_grey(tmp_path):
    root = make_synthetic(
        tmp_path / "grey", size=SyntheticSize(train=12, val=2, rare=1), swap=BackgroundSwap(1.0, "plain")
    )
    coco = _coco(root, "train")
    assert all(image["background"] == "plain" for image in coco["images"])
    boxes = {}
    for ann in coco["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    for image in coco["images"]:
        pixels = np.asarray(Image.open(root / "train" / image["file_name"]).convert("RGB"), dtype=float)
        away = np.ones(pixels.shape[:2], dtype=bool)
        for x, y, w, h in boxes.get(image["id"], []):
            away[max(0, int(y) - 3) : int(y + h) + 4, max(0, int(x) - 3) : int(x + w) + 4] = False
        assert np.abs(pixels[away] - PLAIN_BACKGROUND).mean() < 2


def test_ensure_synthetic_keeps_swaps_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("DBDGCN_DATA", str(tmp_path))
    spec = SyntheticSize(train=4, val=2, rare=1)
    root = ensure_synthetic(size=spec, swap=BackgroundSwap(0.5))
    assert root == tmp_path / "synthetic-swap50"
    assert read_generator(root)["swap"]["share"] == 0.5
    other = ensure_synthetic(size=spec, swap=BackgroundSwap(0.2))  # another share: another folder
    assert other == tmp_path / "synthetic-swap20" and read_generator(other)["swap"]["share"] == 0.2
    assert read_generator(ensure_synthetic(size=spec)).get("swap") is None
    with pytest.raises(SyntheticDatasetError, match="50% of train on scene backgrounds.*remove"):
        ensure_synthetic(root, size=spec, swap=BackgroundSwap(0.2))  # never replaced without asking
    assert read_generator(root)["swap"]["share"] == 0.5


# --- the feature split --------------------------------------------------------------------------------------


def _labels():
    """40 images, 4 classes: class 1 comes with class 0 in 8 of its 10 images (pair (1, 0))."""
    labels = np.zeros((40, 4), dtype=np.uint8)
    labels[:8, [0, 1]] = 1
    labels[8:10, 1] = 1
    labels[10:25, 0] = 1
    labels[25:40:2, 2] = 1
    labels[26:40:3, 3] = 1
    return labels


def test_feature_split_pairs_and_weights_from_labels():
    split = FeatureSplit.from_labels(_labels(), min_probability=0.5, min_exclusive=2)
    assert split.pairs == ((1, 0),) and split.weights == pytest.approx((2.0,))  # sqrt(8 / 2)
    targets = torch.from_numpy(_labels()[6:12].astype(np.float32))
    assert split.exclusive(targets)[:, 0].tolist() == [False, False, True, True, False, False]
    weights = split.loss_weights(targets)
    assert weights[2, 1] == weights[3, 1] == 2.0 and weights.sum() == weights.numel() + 2
    with pytest.raises(ValueError, match="lower the limits"):
        FeatureSplit.from_labels(_labels(), min_probability=0.95)
    with pytest.raises(ValueError, match="one weight per pair"):
        FeatureSplit(((1, 0),), ())


def test_split_context_replaces_the_context_half_of_exclusive_rows_by_the_others_mean():
    features = torch.arange(4 * 4 * 2 * 2, dtype=torch.float32).reshape(4, 4, 2, 2)
    exclusive = torch.tensor([False, True, False, True])
    out = split_context(features, exclusive)
    assert torch.equal(out[:, :2], features[:, :2]) and torch.equal(out[[0, 2]], features[[0, 2]])
    mean = features[[0, 2], 2:].mean(dim=0)
    assert torch.equal(out[1, 2:], mean) and torch.equal(out[3, 2:], mean)
    assert torch.equal(split_context(features, torch.zeros(4, dtype=torch.bool)), features)
    everything = split_context(features, torch.ones(4, dtype=torch.bool))
    assert torch.allclose(everything[:, 2:], features[:, 2:].mean(dim=0).expand(4, -1, -1, -1))


class _LeafFeatures:
    """A model whose two feature maps are leaves, so that their gradients can be read."""

    def __init__(self, model):
        self.model, self.features = model, []

    def forward_features(self, images):
        self.features = [x.detach().requires_grad_() for x in self.model.forward_features(images)]
        return self.features

    def forward_head(self, x3, x4):
        return self.model.forward_head(x3, x4)


@pytest.mark.parametrize("variant", ["db_dgcn", "resnet"])
def test_no_gradient_reaches_the_context_half_from_exclusive_images(variant):
    torch.manual_seed(0)
    model = build_model(variant, 4, "tiny", **({"embed_dim": 16} if variant != "resnet" else {}))
    model.train()
    split = FeatureSplit(((1, 0),), (2.0,))
    targets = torch.from_numpy(_labels()[6:12].astype(np.float32))  # rows 2 and 3 are exclusive
    images = torch.randn(6, 3, 32, 32)
    leaves = _LeafFeatures(model)
    compute_loss(split(leaves, images, targets), targets, weights=split.loss_weights(targets)).backward()
    read = leaves.features if variant != "resnet" else leaves.features[1:]  # resnet's head reads layer4 only
    for features in read:
        grad, half = features.grad, features.shape[1] // 2
        assert grad[[2, 3], half:].abs().max() == 0  # exclusive: nothing through x_s
        assert grad[[2, 3], :half].abs().max() > 0  # but through x_o
        assert grad[[0, 1, 4, 5], half:].abs().max() > 0  # the other images train both halves
    # without the split, the exclusive images do reach x_s
    compute_loss(leaves.forward_head(*leaves.forward_features(images)), targets).backward()
    x4 = leaves.features[1]
    assert x4.grad[[2, 3], x4.shape[1] // 2 :].abs().max() > 0


def test_quick_train_with_the_feature_split_trains_another_model(tiny):
    from dbdgcn_lib.training.quick import quick_train

    kwargs = dict(root=tiny, image_size=32, epochs=1, batch_size=8, embed_dim=8)
    plain, split = quick_train(**kwargs), quick_train(**kwargs, feature_split=True)
    weights = [dict(run.model.named_parameters())["head.classifier.weight"] for run in (plain, split)]
    assert not torch.equal(*weights)


def test_quick_run_cache_tells_swapped_data_apart(tiny, swapped, tmp_path):
    from dbdgcn_lib.training.quick import _cache_file

    settings = {"variant": "db_dgcn", "seed": 0}
    files = {_cache_file(tmp_path, root, settings) for root in (tiny, swapped[0.2], swapped[0.5])}
    assert len(files) == 3
    # a run depends on train and val, not on how many rare or plain images are there to evaluate
    sizes = {"more rare": SyntheticSize(4, 2, 3), "more plain": SyntheticSize(4, 2, 1, plain=3)}
    sizes["more val"] = SyntheticSize(4, 3, 1)
    base = _cache_file(tmp_path, make_synthetic(tmp_path / "base", size=SyntheticSize(4, 2, 1)), settings)
    other = {
        name: _cache_file(tmp_path, make_synthetic(tmp_path / name, size=size), settings)
        for name, size in sizes.items()
    }
    assert other["more rare"] == other["more plain"] == base != other["more val"]


# --- evaluate --robustness -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("robust-run") / "run"
    threads = torch.get_num_threads()
    args = ["train", "--preset", "smoke", "--data", str(tiny), "--out", str(out), "--epochs", "1"]
    args += ["--image-size", "64", "--batch-size", "8", "--set", "switches.embed_dim=16", "--no-progress"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0
    torch.set_num_threads(threads)
    return out / "best.pt"


def test_evaluate_robustness_on_the_embedded_data(checkpoint, tmp_path, capsys):
    target = tmp_path / "robust.json"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(checkpoint),
                "--robustness",
                "--workers",
                "0",
                "--json",
                str(target),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "look-alikes on plain" in printed and "recall out" in printed and "absent predicted" in printed
    report = json.loads(target.read_text())["robustness"]
    assert set(report) == {"s", "s_r", "s_m"}
    s = report["s"]
    assert set(s) == {"val", "plain", "rare"}
    assert s["rare"]["images"] == 8 and 0 <= s["val"]["absent_predicted"] <= 100
    assert set(s["plain"]["lookalikes"]) == {"mouse", "stone"}
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--robustness", "--split", "val"]) == 2
    assert "drop --split" in capsys.readouterr().err


def test_evaluate_robustness_on_coco_format_data(checkpoint, tiny, tmp_path, capsys):
    # the tiny set's val split without generator.json reads as COCO; its class names include three of
    # COCO's biased pairs' (bicycle / person, umbrella / person, mouse / keyboard ...)
    other = tmp_path / "coco"
    (other / "annotations").mkdir(parents=True)
    shutil.copy(tiny / "annotations" / "instances_val.json", other / "annotations" / "instances_val.json")
    (other / "val").symlink_to(tiny / "val")
    target = tmp_path / "coco.json"
    args = [
        "evaluate",
        "--checkpoint",
        str(checkpoint),
        "--robustness",
        "--data",
        str(other),
        "--split",
        "val",
    ]
    assert main([*args, "--workers", "0", "--json", str(target)]) == 0
    printed = capsys.readouterr().out
    assert "mean over the pairs" in printed
    report = json.loads(target.read_text())["robustness"]
    table = load_labels(other, "val")
    pairs = coco_context_pairs(list(table.categories))
    cooccur, exclusive = pair_masks(table.labels, pairs)
    rows = report["s"]["pairs"]
    assert [(r["object"], r["context"]) for r in rows] == [(p.object, p.context) for p in pairs]
    assert [r["exclusive_images"] for r in rows] == exclusive.sum(axis=0).tolist()
    assert [r["cooccur_images"] for r in rows] == cooccur.sum(axis=0).tolist()


def test_quick_train_many_makes_the_default_dataset_once_before_its_workers(tiny, monkeypatch):
    from dbdgcn_lib.training import quick

    made = []
    monkeypatch.setattr(quick, "ensure_synthetic", lambda: made.append(1) or tiny)
    jobs = [dict(image_size=32, epochs=1, batch_size=8, embed_dim=8, seed=s) for s in (0, 1)]
    runs = quick.quick_train_many(jobs, workers=1)
    assert made == [1] and all(run.root == tiny for run in runs)
