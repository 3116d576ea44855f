"""CocoMultiLabel and load_labels: labels, class order, cache, errors; the transforms."""

import contextlib
import io
import json
import re
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO

from dbdgcn_lib.data import (
    COCO_SUPERCATEGORIES,
    SPLITS,
    AnnotationError,
    CocoMultiLabel,
    CorruptImageError,
    DatasetError,
    DatasetNotFoundError,
    coco_label_statistics,
    label_statistics_from_annotations,
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

    def no_parsing(*args, **kwargs):
        raise AssertionError("the annotation file should not be parsed: the cache is valid")

    monkeypatch.setattr(coco_module, "_read_annotations", no_parsing)
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
    assert not list((root / "annotations").glob("*labels_rare*"))


def test_missing_root_split_and_images(tmp_path, root):
    with pytest.raises(DatasetNotFoundError, match="data synthetic --root") as err:
        CocoMultiLabel(tmp_path / "nowhere", "train")
    assert str(tmp_path / "nowhere") in str(err.value) and isinstance(err.value, FileNotFoundError)
    with pytest.raises(DatasetNotFoundError, match="data coco --root"):
        CocoMultiLabel(tmp_path / "nowhere", "train2014")
    splits_here = re.escape(", ".join(sorted(SPLITS)))
    with pytest.raises(DatasetNotFoundError, match=rf"instances_test\.json.*splits here: {splits_here}\)"):
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
    with pytest.raises(DatasetError, match="'images' is missing"):
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


# --- malformed annotation files: one line naming the file and the field -------------------------------


def _small_coco():
    """3 images (one without annotations), 2 categories listed out of id order."""
    return {
        "images": [
            {"id": 10, "file_name": "a.jpg", "width": 8, "height": 8},
            {"id": 11, "file_name": "sub/b.jpg", "width": 8, "height": 8},
            {"id": 12, "file_name": "c.jpg", "width": 8, "height": 8},
        ],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [0, 0, 1, 1], "iscrowd": 0},
            {"id": 2, "image_id": 11, "category_id": 3, "bbox": [0, 0, 1, 1], "iscrowd": 0},
            {"id": 3, "image_id": 11, "category_id": 7, "bbox": [0, 0, 1, 1], "iscrowd": 1},
        ],
        "categories": [
            {"id": 7, "name": "zebra", "supercategory": "animal"},
            {"id": 3, "name": "car", "supercategory": "vehicle"},
        ],
    }


def _write(root, split, data):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    path = root / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps(data))
    return path


def _set(path, value):
    """An edit that sets ``data[path[0]][path[1]]... = value`` (or deletes the key for ``DELETE``)."""

    def edit(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        if value is DELETE:
            del data[last]
        else:
            data[last] = value

    return edit


DELETE = object()

MALFORMED = {
    "top level a list": (lambda data: [data], "top level"),
    "no images": (_set(["images"], DELETE), r"'images' is missing"),
    "no annotations": (_set(["annotations"], DELETE), r"'annotations' is missing"),
    "no categories": (_set(["categories"], DELETE), r"'categories' is missing"),
    "images a dict": (_set(["images"], {"10": {}}), r"'images' is a dict, not a list"),
    "categories empty": (_set(["categories"], []), r"'categories' is empty"),
    "category not an object": (_set(["categories", 1], "car"), r"categories\[1\] "),
    "category id a string": (_set(["categories", 1, "id"], "3"), r"categories\[1\]\.id"),
    "category id a float": (_set(["categories", 1, "id"], 3.0), r"categories\[1\]\.id"),
    "category id a bool": (_set(["categories", 1, "id"], True), r"categories\[1\]\.id"),
    "category id missing": (_set(["categories", 1, "id"], DELETE), r"categories\[1\]\.id is missing"),
    "category id beyond int64": (_set(["categories", 1, "id"], 2**70), r"categories\[1\]\.id"),
    "category id twice": (_set(["categories", 1, "id"], 7), r"categories\[1\]\.id.*categories\[0\]"),
    "category name twice": (
        _set(["categories", 1, "name"], "zebra"),
        r"categories\[1\]\.name.*categories\[0\]",
    ),
    "category name missing": (_set(["categories", 0, "name"], DELETE), r"categories\[0\]\.name"),
    "category name empty": (_set(["categories", 0, "name"], ""), r"categories\[0\]\.name"),
    "category name a number": (_set(["categories", 0, "name"], 5), r"categories\[0\]\.name"),
    "supercategory a list": (_set(["categories", 0, "supercategory"], ["x"]), r"\.supercategory"),
    "image not an object": (_set(["images", 0], 10), r"images\[0\] "),
    "image id a string": (_set(["images", 0, "id"], "10"), r"images\[0\]\.id"),
    "image id twice": (_set(["images", 2, "id"], 10), r"images\[2\]\.id.*images\[0\]"),
    "file_name missing": (_set(["images", 0, "file_name"], DELETE), r"images\[0\]\.file_name"),
    "file_name a number": (_set(["images", 0, "file_name"], 5), r"images\[0\]\.file_name"),
    "file_name empty": (_set(["images", 0, "file_name"], ""), r"images\[0\]\.file_name"),
    "file_name up": (_set(["images", 0, "file_name"], "../secret.jpg"), r"images\[0\]\.file_name"),
    "file_name up inside": (_set(["images", 1, "file_name"], "sub/../../x.jpg"), r"images\[1\]\.file_name"),
    "file_name absolute": (_set(["images", 0, "file_name"], "/etc/passwd"), r"images\[0\]\.file_name"),
    "file_name windows up": (_set(["images", 0, "file_name"], "..\\x.jpg"), r"images\[0\]\.file_name"),
    "file_name drive": (_set(["images", 0, "file_name"], "C:\\x.jpg"), r"images\[0\]\.file_name"),
    "file_name NUL": (_set(["images", 0, "file_name"], "a\x00.jpg"), r"images\[0\]\.file_name"),
    "annotation not an object": (_set(["annotations", 2], [11, 7]), r"annotations\[2\] "),
    "annotation image_id missing": (
        _set(["annotations", 0, "image_id"], DELETE),
        r"annotations\[0\]\.image_id is missing",
    ),
    "annotation image_id unknown": (
        _set(["annotations", 0, "image_id"], 77),
        r"annotations\[0\]\.image_id is 77, .*images",
    ),
    "annotation category_id a string": (
        _set(["annotations", 1, "category_id"], "3"),
        r"annotations\[1\]\.category_id",
    ),
    "annotation category_id unknown": (
        _set(["annotations", 1, "category_id"], 4242),
        r"annotations\[1\]\.category_id is 4242, .*categories",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_annotation_file_is_one_line_naming_file_and_field(tmp_path, case):
    edit, field = MALFORMED[case]
    data = _small_coco()
    path = _write(tmp_path, "val2014", edit(data) or data)
    for use_cache in (True, False):
        with pytest.raises(AnnotationError) as err:
            load_labels(tmp_path, "val2014", use_cache=use_cache)
        message = str(err.value)
        assert "\n" not in message and str(path) in message, message
        assert re.search(field, message), message
        assert "data coco --root" in message  # what to do
    assert not list((tmp_path / "annotations").glob("*labels_*"))  # nothing cached from a bad file


@pytest.mark.parametrize(
    "content",
    [b"", b'{"images": [', b"\xff\xfe\x00garbage", b"[" * 100_000, b'{"images": NaN'],
    ids=["empty", "truncated", "binary", "too deep", "truncated after NaN"],
)
def test_not_json_is_one_line(tmp_path, content):
    (tmp_path / "annotations").mkdir()
    path = tmp_path / "annotations" / "instances_train.json"
    path.write_bytes(content)
    with pytest.raises(AnnotationError, match="not valid JSON") as err:
        load_labels(tmp_path, "train")
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_unreadable_annotation_file_is_one_line(tmp_path, monkeypatch):
    import builtins
    import errno

    path = _write(tmp_path, "val2014", _small_coco())
    real_open = builtins.open

    def no_permission(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_permission)
    monkeypatch.setattr(io, "open", no_permission)
    for use_cache in (True, False):
        with pytest.raises(DatasetError, match="Permission denied") as err:
            load_labels(tmp_path, "val2014", use_cache=use_cache)
        assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_small_file_read_exactly(tmp_path):
    _write(tmp_path, "val2014", _small_coco())
    for _ in range(2):  # built, then from the cache
        table = load_labels(tmp_path, "val2014", keep_empty=True)
        assert table.categories == ["car", "zebra"] and table.supercategories == ["vehicle", "animal"]
        assert table.category_ids.tolist() == [3, 7] and table.image_ids.tolist() == [10, 11, 12]
        assert table.file_names == ["a.jpg", "sub/b.jpg", "c.jpg"]
        assert table.labels.tolist() == [[0, 1], [1, 1], [0, 0]]
    assert (tmp_path / "annotations" / ".labels_val2014.npz").is_file()
    by_id = load_labels(tmp_path, "val2014", class_order="coco")
    assert by_id.categories == ["car", "zebra"]  # ids 3 < 7: the same order here
    assert by_id.image_ids.tolist() == [10, 11]


@pytest.mark.parametrize("names", [["b\x00", "a"], ["café", "Café"], ["x ", "x"]], ids=repr)
def test_class_list_is_the_files_through_the_cache(tmp_path, names):
    data = _small_coco()
    data["categories"][0]["name"], data["categories"][1]["name"] = names  # ids 7, 3
    _write(tmp_path, "train", data)
    expected = {"alphabetical": sorted(names), "coco": [names[1], names[0]]}
    for _ in range(2):  # built, then from the cache; orders interleaved
        for order in ("coco", "alphabetical"):
            table = load_labels(tmp_path, "train", class_order=order)
            assert table.categories == expected[order]
            column = table.categories.index(names[0])  # id 7: on images 10 and 11
            assert table.labels[:, column].tolist() == [1, 1]


def test_cache_with_the_right_key_but_wrong_content_is_not_trusted(tmp_path):
    _write(tmp_path, "train", _small_coco())
    expected = load_labels(tmp_path, "train", keep_empty=True)
    cache = tmp_path / "annotations" / ".labels_train.npz"
    with np.load(cache) as stored:
        fields = {name: stored[name] for name in stored.files}
    for name, bad in [
        ("labels", fields["labels"][:, :1]),  # a column short of the categories
        ("image_ids", fields["image_ids"][:2]),
        ("format", np.array(0)),  # an older format, whatever it holds
        ("texts", np.frombuffer(b"[not json", dtype=np.uint8)),
    ]:
        np.savez(cache, **{**fields, name: bad})
        table = load_labels(tmp_path, "train", keep_empty=True)
        assert table.categories == expected.categories and table.file_names == expected.file_names
        np.testing.assert_array_equal(table.labels, expected.labels)
        np.testing.assert_array_equal(table.image_ids, expected.image_ids)
    partial = {k: v for k, v in fields.items() if k != "category_ids"}
    np.savez(cache, **partial)
    assert load_labels(tmp_path, "train").categories == expected.categories


def test_dataset_image_paths_stay_in_the_split_folder(tmp_path):
    data = _small_coco()
    _write(tmp_path, "val2014", data)
    (tmp_path / "val2014" / "sub").mkdir(parents=True)
    ds = CocoMultiLabel(tmp_path, "val2014", image_size=8)
    folder = (tmp_path / "val2014").resolve()
    assert [p.relative_to(folder).as_posix() for p in ds.image_paths] == ["a.jpg", "sub/b.jpg"]
    data["images"][1]["file_name"] = "../../outside.jpg"
    _write(tmp_path, "val2014", data)
    with pytest.raises(AnnotationError, match=r"images\[1\]\.file_name"):
        CocoMultiLabel(tmp_path, "val2014", image_size=8)


# --- a read-only dataset folder: no cache, no warning, same labels ---------------------------------------


@pytest.fixture
def read_only_filesystem(monkeypatch):
    """``protect(folder)``: every write under ``folder`` fails as on a read-only mount (EROFS).

    Simulated (root ignores file modes): writing opens, creation, renames and removals fail, even of
    files that do not exist, as the kernel answers before looking the name up."""
    import builtins
    import errno
    import os

    protected = []

    def inside(path):
        try:
            resolved = os.path.realpath(os.fspath(path))
        except TypeError:  # a file descriptor
            return False
        return any(resolved == p or resolved.startswith(p + os.sep) for p in protected)

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

    real_open, real_os_open = builtins.open, os.open

    def fake_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and inside(file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        if flags & writing and inside(path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def guard(real, *arguments):
        def fake(*args, **kwargs):
            if any(inside(args[k]) for k in arguments if k < len(args)):
                refuse(args[0])
            return real(*args, **kwargs)

        return fake

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    for name, arguments in [("replace", (0, 1)), ("rename", (0, 1)), ("unlink", (0,)), ("remove", (0,))]:
        monkeypatch.setattr(os, name, guard(getattr(os, name), *arguments))
    monkeypatch.setattr(os, "mkdir", guard(os.mkdir, 0))
    return lambda folder: protected.append(os.path.realpath(folder))


def test_read_only_dataset_works_without_cache_simulated(root, read_only_filesystem):
    expected = load_labels(root, "val", use_cache=False)
    read_only_filesystem(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a read-only dataset is normal: nothing to warn about
        table = load_labels(root, "val")
        ds = CocoMultiLabel(root, "val", image_size=32)
    assert table.categories == expected.categories
    np.testing.assert_array_equal(table.labels, expected.labels)
    np.testing.assert_array_equal(ds.labels, expected.labels)
    assert ds[0][1].tolist() == expected.labels[0].tolist()
    assert not [p.name for p in (root / "annotations").iterdir() if "labels" in p.name]


def test_read_only_dataset_works_without_cache_chmod(root):
    expected = load_labels(root, "val", use_cache=False)
    folder = root / "annotations"
    folder.chmod(0o555)
    try:
        try:
            (folder / "probe").write_text("")
        except PermissionError:
            pass
        else:
            pytest.skip("file modes do not stop this user's writes (root): see the simulated test")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = load_labels(root, "val")
            ds = CocoMultiLabel(root, "val", image_size=32)
        np.testing.assert_array_equal(table.labels, expected.labels)
        assert len(ds) == len(expected.labels)
        assert not [p.name for p in folder.iterdir() if "labels" in p.name]
    finally:
        folder.chmod(0o755)


# --- label statistics: COCO 2014 train's, shipped, and recomputed from annotations -----------------------

COCO_GROUP_SIZES = {
    "person": 1,
    "vehicle": 8,
    "outdoor": 5,
    "animal": 10,
    "accessory": 5,
    "sports": 10,
    "kitchen": 7,
    "food": 10,
    "furniture": 6,
    "electronic": 6,
    "appliance": 5,
    "indoor": 7,
}


def test_shipped_coco_statistics_are_self_consistent():
    stats = coco_label_statistics()
    assert stats.names == sorted(COCO_2014.values()) and len(set(stats.names)) == 80
    assert stats.nums.shape == (80,) and stats.counts.shape == (80, 80)
    assert stats.nums.dtype == np.int64 and stats.counts.dtype == np.int64
    assert stats.names.index("person") == 49 and stats.nums[49] == 45_174
    np.testing.assert_array_equal(stats.counts, stats.counts.T)
    assert (np.diag(stats.counts) == 0).all() and (stats.counts >= 0).all() and (stats.nums > 0).all()
    # a pair cannot occur on more images than either class alone, nor a class on more than the images
    assert (stats.counts <= np.minimum.outer(stats.nums, stats.nums)).all()
    assert "82,081" in stats.description and stats.nums.max() <= 82_081
    assert "ML-GCN" in stats.description  # where the numbers come from


def test_coco_supercategories():
    stats = coco_label_statistics()
    sizes = {group: stats.supercategories.count(group) for group in set(stats.supercategories)}
    assert sizes == COCO_GROUP_SIZES
    group = dict(zip(stats.names, stats.supercategories))
    assert (group["person"], group["zebra"], group["hair drier"], group["tv"]) == (
        "person",
        "animal",
        "indoor",
        "electronic",
    )
    assert (group["fork"], group["bench"], group["tie"], group["kite"]) == (
        "kitchen",
        "outdoor",
        "accessory",
        "sports",
    )
    assert sorted(sum(COCO_SUPERCATEGORIES.values(), ())) == stats.names


def test_statistics_file_is_package_data():
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    shipped = repo / "dbdgcn_lib" / "data" / "coco2014_train_label_stats.json"
    assert shipped.is_file()
    package_data = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(fnmatch(shipped.name, pattern) for pattern in package_data["dbdgcn_lib.data"])


def test_statistics_recomputed_from_annotations(tmp_path):
    rng = np.random.default_rng(0)
    names = {3: "car", 7: "zebra", 1: "person", 12: "bench"}  # ids out of name order
    labels = (rng.random((40, 4)) < 0.4).astype(int)  # rows in id order 1, 3, 7, 12
    labels[5] = 0  # an image without annotations: counts in nothing
    ids = sorted(names)
    data = {
        "images": [{"id": 100 + k, "file_name": f"{k}.jpg"} for k in range(len(labels))],
        "annotations": [],
        "categories": [{"id": i, "name": names[i], "supercategory": f"group of {names[i]}"} for i in names],
    }
    for k, row in enumerate(labels):
        for column in np.flatnonzero(row):
            for _ in range(1 + k % 2):  # several instances of one class on an image count once
                data["annotations"].append(
                    {"id": len(data["annotations"]), "image_id": 100 + k, "category_id": ids[column]}
                )
    _write(tmp_path, "train2014", data)
    stats = label_statistics_from_annotations(tmp_path)
    order = sorted(range(4), key=lambda j: names[ids[j]])  # alphabetical
    assert stats.names == ["bench", "car", "person", "zebra"]
    assert stats.supercategories == [f"group of {n}" for n in stats.names]
    expected_nums = labels.sum(axis=0)[order]
    expected_counts = np.array(
        [[0 if a == b else int((labels[:, a] & labels[:, b]).sum()) for b in order] for a in order]
    )
    np.testing.assert_array_equal(stats.nums, expected_nums)
    np.testing.assert_array_equal(stats.counts, expected_counts)
    assert f"{int((labels.sum(axis=1) > 0).sum())} images" in stats.description
    by_id = label_statistics_from_annotations(tmp_path, class_order="coco")
    assert by_id.names == ["person", "car", "zebra", "bench"]
    np.testing.assert_array_equal(by_id.nums, labels.sum(axis=0))
