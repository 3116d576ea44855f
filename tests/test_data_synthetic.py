"""The synthetic dataset: format, determinism, scene design, rare split."""

import json

import numpy as np
import pytest
from PIL import Image

from dbdgcn_lib.data import (
    CATEGORIES,
    LOOKALIKES,
    SCENES,
    SyntheticDatasetError,
    SyntheticSize,
    ensure_synthetic,
    expected_statistics,
    load_labels,
    make_synthetic,
    read_generator,
    sample_labels,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("tiny") / "synthetic", size="tiny", seed=0)


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_coco_layout_and_fields(tiny):
    truth = read_generator(tiny)
    for split in ("train", "val", "rare"):
        coco = json.loads((tiny / "annotations" / f"instances_{split}.json").read_text())
        assert len(coco["images"]) == truth["size"][split]
        assert {c["name"] for c in coco["categories"]} == {c.name for c in CATEGORIES}
        assert all(c["supercategory"] for c in coco["categories"])
        sizes = {}
        for image in coco["images"]:
            with Image.open(tiny / split / image["file_name"]) as im:
                assert im.format == "JPEG" and im.size == (image["width"], image["height"]) == (128, 128)
            sizes[image["id"]] = image["width"]
        for ann in coco["annotations"]:
            x, y, w, h = ann["bbox"]
            assert ann["iscrowd"] == 0 and ann["area"] == pytest.approx(w * h, abs=0.01)
            assert 0 <= x and 0 <= y and x + w <= sizes[ann["image_id"]] and y + h <= sizes[ann["image_id"]]
            assert len(ann["segmentation"][0]) == 8
    assert len({c.name for c in CATEGORIES}) >= 15


def test_many_small_objects(tiny):
    coco = json.loads((tiny / "annotations" / "instances_train.json").read_text())
    sides = np.array([max(a["bbox"][2:]) for a in coco["annotations"]])
    assert (sides < 128 * 0.15).mean() > 0.4  # COCO-style "small" objects dominate
    assert sides.max() > 128 * 0.3  # but sizes vary


def test_deterministic_for_a_seed(tmp_path, tiny):
    again = make_synthetic(tmp_path / "again", size="tiny", seed=0)
    assert _files(again) == _files(tiny)
    other = make_synthetic(tmp_path / "other", size="tiny", seed=1)
    first = "train/synthetic_train_000000.jpg"
    assert (other / first).read_bytes() != (tiny / first).read_bytes()


def test_smaller_size_is_a_prefix_of_a_bigger_one(tmp_path, tiny):
    small = make_synthetic(tmp_path / "small", size=SyntheticSize(train=5, val=2, rare=1), seed=0)
    for name in (
        "train/synthetic_train_000004.jpg",
        "val/synthetic_val_000001.jpg",
        "rare/synthetic_rare_000000.jpg",
    ):
        assert (small / name).read_bytes() == (tiny / name).read_bytes()


def test_lookalikes_share_their_drawing():
    shapes = {c.name: c for c in CATEGORIES}
    for a, b in LOOKALIKES:
        assert (shapes[a].shape, shapes[a].aspect, shapes[a].scale, shapes[a].band) == (
            shapes[b].shape,
            shapes[b].aspect,
            shapes[b].scale,
            shapes[b].band,
        )
        scenes_a = {s.name for s in SCENES if s.objects.get(a)}
        scenes_b = {s.name for s in SCENES if s.objects.get(b)}
        assert scenes_a and scenes_b and not scenes_a & scenes_b  # told apart only by the scene


def test_generator_json_holds_the_truth(tiny):
    truth = read_generator(tiny)
    names = truth["expected"]["class_names"]
    assert names == sorted(c.name for c in CATEGORIES)
    assert sum(s["probability"] for s in truth["scenes"]) == pytest.approx(1.0)
    frequency, conditional = expected_statistics(names)
    np.testing.assert_allclose(truth["expected"]["conditional_probability"], conditional, atol=1e-9)
    np.testing.assert_allclose(truth["expected"]["label_frequency"], frequency, atol=1e-9)
    # P(j|i) by hand for one pair, straight from the scene table
    pi = {s["name"]: s["probability"] for s in truth["scenes"]}
    q = {s["name"]: s["objects"] for s in truth["scenes"]}
    both = sum(pi[s] * q[s].get("mouse", 0) * q[s].get("keyboard", 0) for s in pi)
    mouse = sum(pi[s] * q[s].get("mouse", 0) for s in pi)
    assert conditional[names.index("mouse"), names.index("keyboard")] == pytest.approx(both / mouse)


@pytest.mark.parametrize("split", ["train", "rare"])
def test_label_sampler_matches_the_written_annotations(tiny, split):
    table = load_labels(tiny, split, keep_empty=True)
    scenes, labels = sample_labels(len(table.labels), split=split, seed=0)
    np.testing.assert_array_equal(labels, table.labels)
    coco = json.loads((tiny / "annotations" / f"instances_{split}.json").read_text())
    assert [SCENES[k].name for k in scenes] == [image["scene"] for image in coco["images"]]


def test_measured_cooccurrence_matches_the_design(tiny):
    truth = read_generator(tiny)
    scenes, labels = sample_labels(10_000, seed=3, names=truth["expected"]["class_names"])
    labels = labels.astype(np.int64)
    nums, counts = labels.sum(0), labels.T @ labels
    measured = counts / nums[:, None]
    np.fill_diagonal(measured, 0)
    expected = np.array(truth["expected"]["conditional_probability"])
    off = ~np.eye(len(nums), dtype=bool)
    possible = off & (expected > 0)
    assert np.all(measured[off & (expected == 0)] == 0)  # impossible pairs never occur
    z = (measured - expected)[possible] / np.sqrt(expected * (1 - expected) / nums[:, None])[possible]
    assert np.abs(z).max() < 4.5
    assert np.mean(z**2) < 1.5  # about 1 when the counts follow the design
    # the test has power: an independence model (no scenes) is far off
    independent = np.tile(np.array(truth["expected"]["label_frequency"]), (len(nums), 1))
    z_indep = (measured - independent)[off] / np.sqrt(independent * (1 - independent) / nums[:, None])[off]
    assert np.mean(z_indep**2) > 20
    # and scene by scene, each object appears with its designed probability
    names = truth["expected"]["class_names"]
    for k, scene in enumerate(truth["scenes"]):
        in_scene = labels[scenes == k]
        assert abs(len(in_scene) / len(labels) - scene["probability"]) < 0.02
        designed = np.array([scene["objects"].get(name, 0.0) for name in names])
        np.testing.assert_allclose(in_scene.mean(0), designed, atol=4.5 * np.sqrt(0.25 / len(in_scene)))


def test_rare_split_holds_out_of_scene_objects(tiny):
    truth = read_generator(tiny)
    presence = {s["name"]: s["objects"] for s in truth["scenes"]}
    names = {c["id"]: c["name"] for c in truth["categories"]}
    lookalike = {name for pair in truth["lookalikes"] for name in pair}
    for split in ("train", "val", "rare"):
        coco = json.loads((tiny / "annotations" / f"instances_{split}.json").read_text())
        present = {image["id"]: set() for image in coco["images"]}
        for ann in coco["annotations"]:
            present[ann["image_id"]].add(names[ann["category_id"]])
        for image in coco["images"]:
            outside = {n for n in present[image["id"]] if presence[image["scene"]].get(n, 0) == 0}
            if split == "rare":
                assert outside and outside == set(image["out_of_scene"])
                assert not outside & lookalike
            else:
                assert not outside


def test_ensure_synthetic_generates_once(tmp_path):
    root = tmp_path / "data"
    assert ensure_synthetic(root, size="tiny") == root
    marker = root / "train" / "synthetic_train_000000.jpg"
    stamp = marker.stat().st_mtime_ns
    ensure_synthetic(root, size="tiny")
    assert marker.stat().st_mtime_ns == stamp  # reused, not rewritten
    ensure_synthetic(root, size=SyntheticSize(train=2, val=1, rare=1))
    assert len(list((root / "train").iterdir())) == 2  # another size replaces it cleanly


def test_refuses_to_overwrite_foreign_folder_and_bad_arguments(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(SyntheticDatasetError, match="not empty"):
        make_synthetic(tmp_path / "mine", size="tiny")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    with pytest.raises(ValueError, match="unknown synthetic size"):
        make_synthetic(tmp_path / "x", size="huge")
    with pytest.raises(ValueError, match="seed"):
        make_synthetic(tmp_path / "x", size="tiny", seed=-1)
    assert not list(tmp_path.glob(".*tmp*"))  # no staging folder left behind
