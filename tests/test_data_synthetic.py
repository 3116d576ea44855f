"""The synthetic dataset: format, determinism, scene design, rare and plain splits."""

import hashlib
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from dbdgcn_lib.data import (
    CATEGORIES,
    LOOKALIKES,
    SCENES,
    SPLITS,
    AnnotationError,
    CocoMultiLabel,
    SyntheticDatasetError,
    SyntheticSize,
    ensure_synthetic,
    expected_statistics,
    load_labels,
    make_synthetic,
    out_of_scene_mask,
    read_generator,
    sample_labels,
)
from dbdgcn_lib.data.synthetic import GENERATOR_VERSION, PLAIN_BACKGROUND


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("tiny") / "synthetic", size="tiny", seed=0)


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _coco(root, split):
    return json.loads((root / "annotations" / f"instances_{split}.json").read_text())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def test_coco_layout_and_fields(tiny):
    truth = read_generator(tiny)
    assert set(truth["splits"]) == set(SPLITS) == {"train", "val", "rare", "plain"}
    for split in SPLITS:
        coco = _coco(tiny, split)
        assert len(coco["images"]) == truth["size"][split] == truth["counts"][split]["images"]
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


def test_old_splits_keep_their_bytes(tiny):
    # pinned from the generator before the plain split existed; a Pillow upgrade that changes how
    # shapes are drawn or JPEGs encoded changes them too
    pinned = {
        "train/synthetic_train_000000.jpg": "32868649e3a508f3",
        "val/synthetic_val_000003.jpg": "4293e4ce77b6ae47",
        "rare/synthetic_rare_000005.jpg": "ba9fa65ece691062",
    }
    assert {name: _sha((tiny / name).read_bytes()) for name in pinned} == pinned
    pinned_annotations = {"train": "88004a2a74b6e3ca", "val": "23809ecaa1cf4933", "rare": "addc82cb636fe3cb"}
    written = {}
    for split in pinned_annotations:
        coco = _coco(tiny, split)
        content = json.dumps([coco["images"], coco["annotations"]], separators=(",", ":"))
        written[split] = _sha(content.encode())
    assert written == pinned_annotations


def test_smaller_size_is_a_prefix_of_a_bigger_one(tmp_path, tiny):
    spec = SyntheticSize(train=5, val=2, rare=1, plain=3)
    small = make_synthetic(tmp_path / "small", size=spec, seed=0)
    for name in (
        "train/synthetic_train_000004.jpg",
        "val/synthetic_val_000001.jpg",
        "rare/synthetic_rare_000000.jpg",
        "plain/synthetic_plain_000002.jpg",  # plain may outnumber val: it follows val's streams
    ):
        assert (small / name).read_bytes() == (tiny / name).read_bytes()
    assert len(list((small / "plain").iterdir())) == 3
    assert SyntheticSize(train=5, val=2, rare=1).plain == 2  # plain defaults to val


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


@pytest.mark.parametrize("split", ["train", "rare", "plain"])
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
    for split in SPLITS:
        coco = _coco(tiny, split)
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


def test_ensure_synthetic_generates_once_and_never_replaces_another_set(tmp_path):
    root = tmp_path / "data"
    assert ensure_synthetic(root, size="tiny") == root
    marker = root / "train" / "synthetic_train_000000.jpg"
    stamp = marker.stat().st_mtime_ns
    ensure_synthetic(root, size="tiny")
    assert marker.stat().st_mtime_ns == stamp  # reused, not rewritten
    truth = read_generator(root)
    truth["version"] = GENERATOR_VERSION - 1
    (root / "generator.json").write_text(json.dumps(truth))
    for size in ("tiny", SyntheticSize(train=2, val=1, rare=1)):  # an older generator's set, another size
        with pytest.raises(SyntheticDatasetError, match=f"{root} holds the embedded set made with"):
            ensure_synthetic(root, size=size)
    assert marker.stat().st_mtime_ns == stamp  # left alone
    make_synthetic(root, size=SyntheticSize(train=2, val=1, rare=1))  # asked for: replaced cleanly
    assert len(list((root / "train").iterdir())) == 2


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


def test_plain_split_mirrors_val_on_a_plain_background(tiny):
    np.testing.assert_array_equal(
        load_labels(tiny, "plain", keep_empty=True).labels, load_labels(tiny, "val", keep_empty=True).labels
    )
    val, plain = _coco(tiny, "val"), _coco(tiny, "plain")
    assert [image["scene"] for image in plain["images"]] == [image["scene"] for image in val["images"]]
    assert all(image["background"] == "plain" for image in plain["images"])
    assert not any("background" in image for image in val["images"])

    def objects(coco):
        index = {image["id"]: k for k, image in enumerate(coco["images"])}
        return sorted((index[a["image_id"]], a["category_id"], a["bbox"]) for a in coco["annotations"])

    assert objects(plain) == objects(val)  # the same objects at the same places and sizes
    boxes = {}
    for ann in plain["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    for image, val_image in zip(plain["images"], val["images"]):
        with Image.open(tiny / "plain" / image["file_name"]) as im:
            pixels = np.asarray(im, dtype=np.int64)
        with Image.open(tiny / "val" / val_image["file_name"]) as im:
            val_pixels = np.asarray(im, dtype=np.int64)
        away = np.ones(pixels.shape[:2], dtype=bool)  # 3 px clear of every object
        for x, y, w, h in boxes[image["id"]]:
            top, left = max(0, int(y) - 3), max(0, int(x) - 3)
            away[top : int(np.ceil(y + h)) + 3, left : int(np.ceil(x + w)) + 3] = False
        assert away.mean() > 0.3
        deviation = np.abs(pixels[away] - np.array(PLAIN_BACKGROUND))
        assert np.percentile(deviation, 99) <= 8 and deviation.max() <= 24  # flat up to JPEG ringing
        assert np.abs(val_pixels[away] - pixels[away]).mean() > 20  # val shows its scene there


def test_out_of_scene_mask_marks_the_rare_intruders(tiny):
    rare = CocoMultiLabel(tiny, "rare", image_size=32)
    mask = out_of_scene_mask(rare)
    assert mask.shape == rare.labels.shape and mask.dtype == bool
    assert (mask.sum(axis=1) == 1).all()
    named = {image["id"]: image["out_of_scene"] for image in _coco(tiny, "rare")["images"]}
    for row, image_id in enumerate(rare.image_ids):
        assert [rare.categories[k] for k in np.flatnonzero(mask[row])] == named[int(image_id)]
    assert rare.labels[mask].all()  # an intruder is a label of its image
    for split in ("val", "plain"):
        dataset = CocoMultiLabel(tiny, split, image_size=32)
        none = out_of_scene_mask(dataset)
        assert none.shape == dataset.labels.shape and not none.any()


def test_out_of_scene_mask_outside_the_generator(tmp_path, tiny):
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    rare = CocoMultiLabel(copy, "rare", image_size=32)
    coco = _coco(copy, "rare")
    coco["images"][0]["out_of_scene"] = ["unicorn"]
    (copy / "annotations" / "instances_rare.json").write_text(json.dumps(coco))
    with pytest.raises(AnnotationError, match="instances_rare.json.*unicorn"):
        out_of_scene_mask(rare)
    (copy / "generator.json").unlink()  # not a synthetic dataset (MS-COCO): nothing is out of scene
    assert not out_of_scene_mask(rare).any()
