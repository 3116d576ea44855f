"""The trainer's input pipelines (pil, uint8, nvjpeg) on the CPU: same images, same order, seeded
augmentation, exact resume, clear errors. The CUDA variants run in benchmarks/gpu_check.py."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from tiny_runs import tiny_config

from dbdgcn_lib.data import IMAGENET_STD, CocoMultiLabel, CorruptImageError, make_synthetic
from dbdgcn_lib.training import Trainer, create_loader, get_preset, load_checkpoint, resolve_pipeline

pytestmark = pytest.mark.filterwarnings("ignore:.*no positive example:RuntimeWarning")

CPU = torch.device("cpu")
ONE_LEVEL = 1.0 / (255 * min(IMAGENET_STD))  # one grey level after normalisation
FAST = ("uint8", "nvjpeg")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("data") / "synthetic", size="tiny")


def loader(root, pipeline, *, train, split="val", workers=0, seed=0, batch_size=4, crop="random"):
    return create_loader(
        CocoMultiLabel(root, split),
        pipeline=pipeline,
        train=train,
        batch_size=batch_size,
        workers=workers,
        device=CPU,
        image_size=48,
        seed=seed,
        crop=crop,
    )


def epoch_batches(device_loader, epoch=0):
    device_loader.set_epoch(epoch)
    return [(x.clone(), y.clone()) for x, y in device_loader]


def test_auto_picks_uint8_on_cuda_and_pil_elsewhere():
    assert resolve_pipeline("auto", torch.device("cuda")) == "uint8"
    assert resolve_pipeline("auto", CPU) == "pil"
    assert resolve_pipeline("nvjpeg", CPU) == "nvjpeg"
    with pytest.raises(ValueError, match="unknown pipeline 'dali'; choose from auto, pil, uint8, nvjpeg"):
        resolve_pipeline("dali", CPU)
    with pytest.raises(ValueError, match="bad pipeline"):
        get_preset("smoke", pipeline="dali")


def test_evaluation_batches_agree_across_pipelines(root):
    """Same images in dataset order, labels intact, pixels within interpolation rounding of PIL's."""
    coco = CocoMultiLabel(root, "val")
    batches = {p: epoch_batches(loader(root, p, train=False)) for p in ("pil", *FAST)}
    for pipeline, got in batches.items():
        x = torch.cat([b[0] for b in got])
        y = torch.cat([b[1] for b in got])
        assert x.shape == (len(coco), 3, 48, 48) and x.dtype == torch.float32, pipeline
        np.testing.assert_array_equal(y.numpy(), coco.labels.astype(np.float32))
    pil = torch.cat([b[0] for b in batches["pil"]])
    for pipeline in FAST:
        x = torch.cat([b[0] for b in batches[pipeline]])
        # measured differences: uint8 ~0.0003 / 1.0, nvjpeg ~0.15 / 1.0
        assert (x - pil).abs().mean() < 0.5 * ONE_LEVEL, pipeline
        assert (x - pil).abs().max() < 1.5 * ONE_LEVEL, pipeline


@pytest.mark.parametrize("crop", ["random", "multiscale"])
def test_the_three_pipelines_cut_the_same_crops_for_a_seed(root, crop):
    """Each image's crop and flip are drawn from its own seed in every pipeline: the training batches
    agree up to interpolation rounding (another box or flip would differ by tens of grey levels)."""
    batches = {
        p: epoch_batches(loader(root, p, train=True, split="train", crop=crop), epoch=1)
        for p in ("pil", *FAST)
    }
    pil = torch.cat([x for x, _ in batches["pil"]])
    for pipeline in FAST:
        x = torch.cat([x for x, _ in batches[pipeline]])
        assert torch.equal(
            torch.cat([y for _, y in batches[pipeline]]), torch.cat([y for _, y in batches["pil"]])
        )
        assert (x - pil).abs().mean() < 1.0 * ONE_LEVEL, (pipeline, crop)
    other = torch.cat(
        [x for x, _ in epoch_batches(loader(root, "uint8", train=True, split="train", crop=crop), 2)]
    )
    assert (other - pil).abs().mean() > 10 * ONE_LEVEL  # the check can tell other crops apart


@pytest.mark.parametrize("pipeline", ["pil", *FAST])
def test_training_batches_are_seeded_by_epoch(root, pipeline):
    first = epoch_batches(loader(root, pipeline, train=True, split="train"), epoch=0)
    again = epoch_batches(loader(root, pipeline, train=True, split="train"), epoch=0)
    other_epoch = epoch_batches(loader(root, pipeline, train=True, split="train"), epoch=1)
    other_seed = epoch_batches(loader(root, pipeline, train=True, split="train", seed=1), epoch=0)
    assert len(first) == len(CocoMultiLabel(root, "train")) // 4  # incomplete last batch dropped
    for (xa, ya), (xb, yb) in zip(first, again):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(first[0][0], other_epoch[0][0])
    assert not torch.equal(first[0][0], other_seed[0][0])


@pytest.mark.parametrize("pipeline", ["pil", "uint8"])
def test_worker_processes_draw_the_same_augmentation(root, pipeline):
    in_main = epoch_batches(loader(root, pipeline, train=True, split="train"), epoch=2)
    in_workers = epoch_batches(loader(root, pipeline, train=True, split="train", workers=2), epoch=2)
    for (xa, ya), (xb, yb) in zip(in_main, in_workers, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_the_callers_dataset_keeps_its_transform(root):
    coco = CocoMultiLabel(root, "val")
    before = coco.transform
    create_loader(coco, pipeline="pil", train=True, batch_size=2, workers=0, device=CPU, image_size=32)
    assert coco.transform is before


@pytest.mark.parametrize("pipeline", FAST)
def test_a_broken_image_is_named(root, tmp_path, pipeline):
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    coco = CocoMultiLabel(copy, "val")
    broken = coco.image_paths[1]
    broken.write_bytes(b"\xff\xd8 not really a jpeg" if pipeline == "uint8" else b"GIF89a")
    with pytest.raises(CorruptImageError, match=broken.name):
        epoch_batches(loader(copy, pipeline, train=False))


@pytest.mark.parametrize("pipeline", FAST)
def test_trainer_with_a_fast_pipeline_resumes_exactly(root, tmp_path, pipeline):
    def fit(out, epochs, resume=False):
        trainer = Trainer(
            tiny_config(root, pipeline=pipeline, epochs=epochs, image_size=48),
            out,
            resume=resume,
            progress=False,
            verbose=False,
        )
        trainer.fit()
        return trainer

    straight = fit(tmp_path / "straight", 2)
    fit(tmp_path / "stopped", 1)
    resumed = fit(tmp_path / "stopped", 2, resume=True)
    assert straight.train_loader.pipeline == pipeline
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert [r["train_loss"] for r in straight.history] == [r["train_loss"] for r in resumed.history]
    assert all(np.isfinite(r["val_mAP"]) for r in straight.history)
    assert load_checkpoint(tmp_path / "stopped" / "last.pt")["train_config"]["pipeline"] == pipeline


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_cuda_batches_match_the_cpu_ones(root):
    for pipeline in ("pil", *FAST):
        batches = {}
        for device in ("cpu", "cuda"):
            batches[device] = create_loader(
                CocoMultiLabel(root, "val"),
                pipeline=pipeline,
                train=False,
                batch_size=4,
                workers=1,
                device=torch.device(device),
                image_size=48,
                channels_last=True,
            )
        for (xc, yc), (xg, yg) in zip(*batches.values(), strict=True):
            assert xg.is_cuda and xg.is_contiguous(memory_format=torch.channels_last), pipeline
            assert torch.equal(yg.cpu(), yc), pipeline
            # pil and uint8 decode on the CPU either way; nvJPEG differs by a few grey levels
            limit = 8 * ONE_LEVEL if pipeline == "nvjpeg" else 1e-5
            assert (xg.cpu() - xc).abs().mean() < limit, pipeline
