"""CocoMultiLabel and load_labels: labels, class order, cache, errors; the transforms."""

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO

from dbdgcn_lib.data import (
    AnnotationError,
    CocoMultiLabel,
    CorruptImageError,
    DatasetError,
    DatasetNotFoundError,
    load_labels,
    make_synthetic,
    train_transform,
    transforms,
)
from dbdgcn_lib.data import coco as coco_module

# MS-COCO 2014's 80 categories with their ids (instances_train2014.json)
COCO_2014 = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck",
    9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench",
    16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear",
    24: "zebra", 25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase",
    34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle",
    46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut",
    61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet",
    72: "tv", 73: "laptop", 74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave",
    79: "oven", 80: "toaster", 81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase",
    87: "scissors", 88: "teddy bear", 89: "hair drier", 90: "toothbrush",
}  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("pristine") / "synthetic", size="tiny")


@pytest.fixture
def root(pristine, tmp_path):
    """A private copy of the tiny set (without label caches), free to damage."""
    return shutil.copytree(pristine, tmp_path / "synthetic", ignore=shutil.ignore_patterns(".labels_*"))


def _edit_annotations(root, split, edit):
    path = root / "annotations" / f"instances_{split}.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("split", ["train", "rare"])
def test_labels_equal_pycocotools(pristine, split):
    ds = CocoMultiLabel(pristine, split, image_size=64)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(pristine / "annotations" / f"instances_{split}.json"))
    cats = sorted(coco.loadCats(coco.getCatIds()), key=lambda c: c["name"])
    assert ds.categories == [c["name"] for c in cats]
    annotated = sorted(i for i in coco.getImgIds() if coco.getAnnIds(imgIds=[i]))
    assert ds.image_ids.tolist() == annotated
    for image_id, row, path in zip(ds.image_ids, ds.labels, ds.image_paths):
        present = {a["category_id"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[int(image_id)]))}
        assert row.tolist() == [int(c["id"] in present) for c in cats]
        assert path.name == coco.loadImgs([int(image_id)])[0]["file_name"]
    image, target = ds[3]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert target.dtype == torch.float32 and target.tolist() == ds.labels[3].tolist()
    with Image.open(ds.image_paths[3]) as raw:
        assert torch.equal(image, transforms.test_transform(64)(raw.convert("RGB")))


def test_class_order(pristine):
    alphabetical = CocoMultiLabel(pristine, "train", image_size=32)
    by_id = CocoMultiLabel(pristine, "train", image_size=32, class_order="coco")
    assert alphabetical.categories == sorted(by_id.categories)
    assert list(by_id.category_ids) == sorted(by_id.category_ids)
    assert by_id.categories != alphabetical.categories
    permutation = [by_id.categories.index(name) for name in alphabetical.categories]
    np.testing.assert_array_equal(alphabetical.labels, by_id.labels[:, permutation])
    with pytest.raises(ValueError, match="class_order"):
        CocoMultiLabel(pristine, "train", class_order="random")


def test_coco_2014_order_puts_person_at_49(tmp_path):
    (tmp_path / "annotations").mkdir()
    data = {
        "images": [{"id": 9, "file_name": "a.jpg", "width": 8, "height": 8}],
        "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0}],
        "categories": [{"id": k, "name": name, "supercategory": "x"} for k, name in COCO_2014.items()],
    }
    (tmp_path / "annotations" / "instances_val2014.json").write_text(json.dumps(data))
    table = load_labels(tmp_path, "val2014")
    assert len(table.categories) == 80
    assert (table.categories[0], table.categories[49], table.categories[79]) == (
        "airplane",
        "person",
        "zebra",
    )
    assert table.labels[0].nonzero()[0].tolist() == [49]
    assert load_labels(tmp_path, "val2014", class_order="coco").categories[:2] == ["person", "bicycle"]


def test_empty_images_dropped_unless_kept(root):
    def add_empty(data):
        data["images"].append(
            {"id": 999_999, "file_name": "synthetic_train_000000.jpg", "width": 128, "height": 128}
        )

    _edit_annotations(root, "train", add_empty)
    dropped = CocoMultiLabel(root, "train", image_size=32)
    kept = CocoMultiLabel(root, "train", image_size=32, keep_empty=True)
    assert 999_999 not in dropped.image_ids and 999_999 in kept.image_ids
    assert np.all(dropped.labels.sum(1) > 0)
    assert len(kept) - len(dropped) == int((kept.labels.sum(1) == 0).sum()) >= 1
    index = kept.image_ids.tolist().index(999_999)
    assert kept[index][1].sum() == 0


def test_cache_is_used_and_rebuilt_when_annotations_change(root, monkeypatch):
    first = load_labels(root, "train")
    cache = root / "annotations" / ".labels_train.npz"
    assert cache.is_file()

    def no_pycocotools(*args, **kwargs):
        raise AssertionError("pycocotools should not be needed: the cache is valid")

    monkeypatch.setattr(coco_module, "COCO", no_pycocotools)
    np.testing.assert_array_equal(load_labels(root, "train").labels, first.labels)
    monkeypatch.undo()

    mouse_id = next(k for k, name in zip(first.category_ids, first.categories) if name == "mouse")
    column = first.categories.index("mouse")
    assert first.labels[:, column].any()

    def drop_mice(data):
        data["annotations"] = [a for a in data["annotations"] if a["category_id"] != mouse_id]

    _edit_annotations(root, "train", drop_mice)
    after = load_labels(root, "train", keep_empty=True)
    assert not after.labels[:, after.categories.index("mouse")].any()


def test_corrupt_cache_is_rebuilt(root):
    expected = load_labels(root, "val").labels
    cache = root / "annotations" / ".labels_val.npz"
    cache.write_bytes(b"PK\x03\x04 this is not a cache")
    np.testing.assert_array_equal(load_labels(root, "val").labels, expected)
    with np.load(cache) as stored:  # rewritten, valid
        np.testing.assert_array_equal(stored["labels"].any(axis=1).sum(), len(expected))


def test_cache_write_failure_leaves_no_partial_file(root, monkeypatch):
    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(coco_module.os, "replace", crash)
    with pytest.warns(UserWarning, match="could not cache"):
        table = load_labels(root, "rare")
    assert len(table.labels) == 8
    assert not list((root / "annotations").glob(".labels_rare*"))


def test_missing_root_split_and_images(tmp_path, root):
    with pytest.raises(DatasetNotFoundError, match="data synthetic --root") as err:
        CocoMultiLabel(tmp_path / "nowhere", "train")
    assert str(tmp_path / "nowhere") in str(err.value) and isinstance(err.value, FileNotFoundError)
    with pytest.raises(DatasetNotFoundError, match="data coco --root"):
        CocoMultiLabel(tmp_path / "nowhere", "train2014")
    with pytest.raises(DatasetNotFoundError, match=r"instances_test\.json.*splits here: rare, train, val"):
        CocoMultiLabel(root, "test")
    shutil.rmtree(root / "val")
    with pytest.raises(DatasetNotFoundError, match=r"image folder .*val.*data synthetic --root"):
        CocoMultiLabel(root, "val")
    assert len(load_labels(root, "val").labels) > 0  # labels alone still load


def test_corrupt_image_error_or_counted_skip(root):
    ds = CocoMultiLabel(root, "train", image_size=32)
    bad = ds.image_paths[2]
    bad.write_bytes(bad.read_bytes()[:300])  # truncated JPEG
    with pytest.raises(CorruptImageError, match=bad.name):
        ds[2]
    skipping = CocoMultiLabel(root, "train", image_size=32, skip_corrupt=True)
    with pytest.warns(UserWarning, match=bad.name):
        image, target = skipping[2]
    assert skipping.skipped == 1
    assert torch.equal(target, skipping[3][1]) and torch.equal(image, skipping[3][0])
    ds.image_paths[4].unlink()
    with pytest.raises(CorruptImageError, match="missing"):
        ds[4]
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_unknown_category_and_malformed_files(root):
    def stray_category(data):
        data["annotations"][0]["category_id"] = 4242

    _edit_annotations(root, "train", stray_category)
    with pytest.raises(AnnotationError, match="4242"):
        CocoMultiLabel(root, "train")
    (root / "annotations" / "instances_val.json").write_text('{"images": [')
    with pytest.raises(AnnotationError, match="instances_val.json"):
        load_labels(root, "val")
    (root / "annotations" / "instances_rare.json").write_text('{"annotations": []}')
    with pytest.raises(DatasetError, match="no 'images' list"):
        load_labels(root, "rare")


def test_transforms_shapes_and_normalisation():
    grey = Image.new("RGB", (150, 100), (124, 116, 104))  # about the ImageNet mean
    out = transforms.test_transform(96)(grey)
    assert out.shape == (3, 96, 96) and out.abs().max() < 0.02
    resize = next(t for t in train_transform(448).transforms if type(t).__name__ == "Resize")
    assert tuple(resize.size) == (512, 512)
    half = Image.new("RGB", (64, 64))
    half.paste((255, 255, 255), (0, 0, 32, 64))  # left half white
    flips = {float(train_transform(32, resize=32)(half)[0, 0, 0]) > 0 for _ in range(40)}
    assert flips == {True, False}  # the horizontal flip happens, sometimes
    with pytest.raises(ValueError, match="resize"):
        train_transform(64, resize=32)
    picture = torch.rand(3, 8, 8)
    normalised = transforms.test_transform(8)(
        Image.fromarray((picture.permute(1, 2, 0) * 255).byte().numpy())
    )
    assert torch.allclose(transforms.denormalize(normalised), picture, atol=1 / 255 + 1e-6)
