"""Images as tensors (dbdgcn_lib.data: decode, crops, augment, image_files, photolike) on CPU tensors,
and on CUDA where there is one.

The tensor transforms must give what the PIL transforms give (up to interpolation rounding), so that
a model trained through any input pipeline sees the same images.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from dbdgcn_lib import data as g
from dbdgcn_lib.data import IMAGENET_MEAN, IMAGENET_STD, test_transform
from dbdgcn_lib.training.inputs import DevicePrefetcher, create_loader

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
# one grey level is 1 / (255 * std) ~ 0.017 after normalisation: PIL rounds to uint8 between steps
ONE_LEVEL = 1.0 / (255 * min(IMAGENET_STD))


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    """Four photo-like JPEGs of different sizes (as COCO has), one of them grayscale."""
    root = tmp_path_factory.mktemp("jpegs")
    paths = g.make_jpeg_folder(root / "a", 2, size=(160, 120), workers=1)
    paths += g.make_jpeg_folder(root / "b", 1, size=(96, 144), workers=1)
    grey = root / "grey.jpg"
    Image.open(paths[0]).convert("L").save(grey, quality=90)
    return [*paths, grey]


def _pil_train(path, box, resize, flip=False):
    """dbdgcn_lib.data.train_transform's steps with the crop fixed: Resize((r, r)), crop, flip, normalise."""
    image = T.Resize((resize, resize))(Image.open(path).convert("RGB"))
    top, left, h, w = box
    image = image.crop((left, top, left + w, top + h))
    if flip:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(T.ToTensor()(image))


def test_make_jpeg_folder_writes_decodable_photo_like_jpegs(tmp_path):
    paths = g.make_jpeg_folder(tmp_path, 3, workers=2)
    assert [p.name for p in paths] == [f"COCO_bench_{i:012d}.jpg" for i in (1, 2, 3)]
    sizes = []
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.size == (640, 480) and im.mode == "RGB"
        decoded = g.decode_jpegs([g.read_jpeg_bytes(p)])[0]
        assert decoded.shape == (3, 480, 640) and decoded.dtype == torch.uint8
        assert decoded.float().std() > 20  # not a flat image
        sizes.append(p.stat().st_size)
    # photo-like entropy: COCO's 640 x 480 JPEGs average about 160 KB; a flat or smooth image would be ~10-30
    assert 100_000 < np.mean(sizes) < 250_000
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert g.make_jpeg_folder(tmp_path, 3) == paths  # existing files are kept
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    assert np.array_equal(g.photo_like_image(7, (64, 48)), g.photo_like_image(7, (64, 48)))  # deterministic


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision 0.29 deprecates read_file
def test_read_jpeg_bytes_is_torchvision_read_file(jpegs):
    from torchvision.io import read_file

    data = g.read_jpeg_bytes(jpegs[0])
    assert data.dtype == torch.uint8 and data.dim() == 1
    assert torch.equal(data, read_file(str(jpegs[0])))


def test_decode_gives_rgb_even_for_grayscale_and_cmyk(jpegs, tmp_path):
    images = g.decode_jpegs([g.read_jpeg_bytes(p) for p in jpegs])
    assert [tuple(im.shape) for im in images] == [(3, 120, 160), (3, 120, 160), (3, 144, 96), (3, 120, 160)]
    grey = images[-1]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    cmyk = tmp_path / "cmyk.jpg"  # a few COCO files are CMYK
    Image.open(jpegs[0]).convert("CMYK").save(cmyk, quality=90)
    decoded = g.decode_jpegs([g.read_jpeg_bytes(cmyk)])[0]
    ref = torch.from_numpy(np.array(Image.open(cmyk).convert("RGB"))).permute(2, 0, 1)
    assert decoded.shape == (3, 120, 160) and (decoded.float() - ref.float()).abs().mean() < 1.0


def test_eval_transform_matches_test_transform(jpegs):
    tf = g.GpuBatchTransform(64, device="cpu")
    x = tf([g.read_jpeg_bytes(p) for p in jpegs])
    assert x.shape == (4, 3, 64, 64) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    ref = torch.stack([test_transform(64)(Image.open(p).convert("RGB")) for p in jpegs])
    diff = (x - ref).abs()
    assert diff.max() < 2.5 * ONE_LEVEL and diff.mean() < 0.5 * ONE_LEVEL


@pytest.mark.parametrize("flip", [False, True])
def test_train_transform_matches_cpu_steps_for_a_fixed_crop(jpegs, flip):
    tf = g.GpuBatchTransform(64, device="cpu")
    assert tf.resize == 73  # round(64 * 8 / 7), as train_transform
    boxes = [(3, 5, 64, 64), (0, 9, 64, 64), (9, 0, 64, 64), (4, 4, 64, 64)]
    x = tf([g.read_jpeg_bytes(p) for p in jpegs], boxes=boxes, flips=[flip] * 4)
    ref = torch.stack([_pil_train(p, b, 73, flip) for p, b in zip(jpegs, boxes)])
    diff = (x - ref).abs()
    assert diff.max() < 2.5 * ONE_LEVEL and diff.mean() < 0.5 * ONE_LEVEL


def test_normalisation_is_exact_on_a_flat_image():
    image = torch.full((3, 10, 20), 200, dtype=torch.uint8)
    x = g.GpuBatchTransform(8, device="cpu", channels_last=False).augment([image])
    expected = (200 / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[0], expected.view(3, 1, 1).expand(3, 8, 8), atol=1e-5)
    assert x.is_contiguous()
    half = g.normalize_batch(image[None], dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16 and half.is_contiguous(memory_format=torch.channels_last)


def test_random_training_draws_stay_inside_and_flip_half_the_time():
    rng = random.Random(0)
    draws = [g.sample_augmentation(rng, 512, 448) for _ in range(400)]
    for (top, left, h, w), _ in draws:
        assert (h, w) == (448, 448) and 0 <= top <= 64 and 0 <= left <= 64
    assert 150 < sum(flip for _, flip in draws) < 250
    assert len({(box[0], box[1]) for box, _ in draws}) > 100
    assert not any(flip for _, flip in (g.sample_augmentation(rng, 512, 448, flip=False) for _ in range(20)))
    sizes = {int(512 * s) if abs(int(512 * s) - 448) >= 3 else 448 for s in g.SCALES}
    shapes = set()
    for _ in range(200):
        top, left, h, w = g.sample_crop(rng, 512, 448, "multiscale")
        assert h in sizes and w in sizes and top + h <= 512 and left + w <= 512
        shapes.add((h, w))
    assert len(shapes) > 10  # scales and aspect jitter
    with pytest.raises(ValueError, match="crop must be"):
        g.sample_crop(rng, 512, 448, "centre")


def test_cpu_worker_path_matches_gpu_path(jpegs):
    ds = g.JpegDecodeDataset(jpegs, num_classes=5, image_size=64)
    assert len(ds) == 4 and ds.targets.shape == (4, 5)
    images = torch.stack([ds[i][0] for i in range(4)])
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 64, 64)
    x_cpu = g.normalize_batch(images)
    x_gpu = g.GpuBatchTransform(64, device="cpu")([g.read_jpeg_bytes(p) for p in jpegs])
    assert (x_cpu - x_gpu).abs().max() < 1.01 * ONE_LEVEL  # uint8 rounding in the worker
    train = g.JpegDecodeDataset(jpegs, image_size=64, train=True)
    for seed in range(4):  # the worker draws crop and flip from `random`: replay the draws on the GPU path
        random.seed(seed)
        image, target = train[seed]
        random.seed(seed)
        box = g.sample_crop(random, train.resize, 64)
        flip = random.random() < 0.5
        expected = g.GpuBatchTransform(64, device="cpu")(
            [g.read_jpeg_bytes(jpegs[seed])], boxes=[box], flips=[flip]
        )
        assert image.shape == (3, 64, 64) and image.dtype == torch.uint8 and target.dtype == torch.float32
        assert (g.normalize_batch(image[None]) - expected).abs().max() < 1.01 * ONE_LEVEL


def test_bytes_items_carry_the_path_and_the_drawn_augmentation(jpegs):
    targets = np.eye(4, 3, dtype=np.float32)
    ds = g.JpegBytesDataset(jpegs, targets, image_size=32, train=True)
    random.seed(5)
    data, target, path, box, flip = ds[2]
    random.seed(5)
    assert (box, flip) == g.sample_augmentation(random, ds.resize, 32)
    assert path == str(jpegs[2]) and torch.equal(target, torch.tensor(targets[2]))
    batch = g.collate_bytes([ds[0], ds[2]])
    assert (
        isinstance(batch[0], list)
        and len(batch[0]) == 2
        and torch.equal(batch[1], torch.tensor(targets[[0, 2]]))
    )
    assert batch[2] == [str(jpegs[0]), str(jpegs[2])]
    assert g.JpegBytesDataset(jpegs, targets)[0][3:] == (None, False)  # evaluation: no crop, no flip


def test_folder_files_and_errors(tmp_path, jpegs):
    folder = tmp_path / "val2014"
    g.make_jpeg_folder(folder, 3, size=(32, 24), workers=1)
    (folder / "notes.txt").write_text("not an image")
    files = g.ImageFiles.from_folder(folder, num_classes=7)
    assert len(files.image_paths) == 3 and files.labels.shape == (3, 7)
    assert len(g.ImageFiles.from_folder(folder, limit=2).image_paths) == 2
    with pytest.raises(FileNotFoundError):
        g.list_jpegs(tmp_path / "missing")
    with pytest.raises(ValueError, match="targets"):
        g.JpegBytesDataset(jpegs, np.zeros((2, 3)))


def test_a_file_no_decoder_reads_is_named(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg at all")
    with pytest.raises(g.CorruptImageError, match="bad.jpg"):
        g.decode_file(bad)
    with pytest.raises(g.CorruptImageError, match="image 0 of the batch"):
        g.decode_jpegs([g.read_jpeg_bytes(bad)])


@cuda
def test_cuda_decode_and_transform_match_cpu(jpegs):
    data = [g.read_jpeg_bytes(p) for p in jpegs]
    on_gpu = g.decode_jpegs(data, "cuda")
    on_cpu = g.decode_jpegs(data, "cpu")
    for a, b in zip(on_gpu, on_cpu):
        assert a.is_cuda and a.shape == b.shape
        # nvJPEG's IDCT and chroma upsampling differ from libjpeg-turbo's: on these noisy photo-like
        # files the mean difference measured 3.4-4.0 levels on an H200 (torch 2.11); a wrong channel
        # order or transposition differs by tens of levels
        assert (a.cpu().float() - b.float()).abs().mean() < 8.0
    for train in (False, True):
        boxes = [(2, 3, 64, 64)] * 4 if train else None
        flips = [True, False, True, False] if train else None
        x_gpu = g.GpuBatchTransform(64, device="cuda")(data, boxes=boxes, flips=flips)
        x_cpu = g.GpuBatchTransform(64, device="cpu")(data, boxes=boxes, flips=flips)
        assert x_gpu.is_cuda and x_gpu.is_contiguous(memory_format=torch.channels_last)
        assert (x_gpu.cpu() - x_cpu).abs().mean() < 4 * ONE_LEVEL


@cuda
def test_cuda_prefetcher_overlap_gives_the_same_batches(jpegs):
    files = g.ImageFiles(jpegs, np.eye(4, 3, dtype=np.float32))
    outs = []
    for overlap in (True, False):
        loader = create_loader(
            files, pipeline="nvjpeg", train=True, batch_size=2, workers=0, device=torch.device("cuda"),
            image_size=32, seed=3, endless=True,
        )  # fmt: skip
        it = iter(DevicePrefetcher(loader.loader, loader.transform, "cuda", overlap=overlap))
        outs.append([next(it) for _ in range(3)])
    torch.cuda.synchronize()
    for (xa, ya), (xb, yb) in zip(*outs):
        assert ya.is_cuda and torch.equal(ya, yb) and torch.allclose(xa, xb)


@cuda
def test_cuda_decode_falls_back_for_files_nvjpeg_refuses(tmp_path, jpegs):
    cmyk = tmp_path / "cmyk.jpg"
    Image.open(jpegs[0]).convert("CMYK").save(cmyk, quality=90)
    images = g.decode_jpegs([g.read_jpeg_bytes(p) for p in [*jpegs, cmyk]], "cuda")
    assert len(images) == 5 and all(im.is_cuda and im.shape[0] == 3 for im in images)
