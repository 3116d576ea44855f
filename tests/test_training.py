"""The trainer on the tiny synthetic set: resume equality, crash-safe checkpoints, the NaN stop, DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from tiny_runs import tiny_config

from dbdgcn_lib.data import CocoMultiLabel, ImageFiles, make_synthetic
from dbdgcn_lib.metrics import multilabel_metrics
from dbdgcn_lib.training import (
    CheckpointError,
    NonFiniteLossError,
    Trainer,
    create_loader,
    get_preset,
    load_checkpoint,
    model_from_checkpoint,
    parse_assignments,
    predict_loader,
    save_checkpoint,
)
from dbdgcn_lib.training import checkpoint as checkpoint_module
from dbdgcn_lib.training import steps as steps_module
from dbdgcn_lib.training.distributed import DistInfo, init_distributed

# The tiny validation split lacks a few classes; metrics warn about it, as they should.
pytestmark = pytest.mark.filterwarnings("ignore:.*no positive example:RuntimeWarning")


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("data") / "synthetic", size="tiny")


@pytest.fixture(scope="module")
def first_epoch(tiny_root, tmp_path_factory):
    """A run folder after one epoch of ``tiny_config`` (tests copy it before writing)."""
    out = tmp_path_factory.mktemp("run") / "first"
    fit(tiny_config(tiny_root), out)
    return out


def fit(config, out=None, resume=False):
    trainer = Trainer(config, out, resume=resume, progress=False, verbose=False)
    trainer.fit()
    return trainer


def without_times(history):
    """Leave out the measured durations and rates (time_s, train_time_s, first_batch_s, img_per_s)."""
    return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in history]


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_presets_and_overrides():
    paper = get_preset("paper")
    assert (paper.lr_head, paper.lr_backbone, paper.weight_decay, paper.momentum) == (0.5, 0.05, 1e-3, 0.9)
    assert (paper.batch_size, paper.image_size, paper.epochs, paper.milestones) == (18, 448, 50, (30, 40))
    assert (paper.backbone, paper.pretrained, paper.train_split) == (
        "resnet101",
        "IMAGENET1K_V1",
        "train2014",
    )
    add = get_preset("add_gcn")
    assert (add.lr_head, add.lr_backbone, add.weight_decay, add.batch_size) == (0.05, 0.005, 1e-4, 16)
    assert (add.variant, add.crop) == ("add_gcn", "multiscale")  # ADD-GCN's model and augmentation
    large = get_preset("paper_large")
    assert large.batch_size / paper.batch_size == large.lr_head / paper.lr_head == 8  # linear scaling
    assert large.lr_backbone == 8 * paper.lr_backbone and large.warmup_epochs > 0
    with pytest.raises(
        ValueError, match="unknown preset 'papr'; choose from paper, paper_large, add_gcn, smoke"
    ):
        get_preset("papr")
    with pytest.raises(ValueError, match="unknown training setting"):
        get_preset("paper", learning_rate=0.1)
    with pytest.raises(ValueError, match="bad amp"):
        get_preset("paper", amp="fp8")
    parsed = parse_assignments(["milestones=5,8", "pretrained=none", "compile=true", "switches.alpha=0.7"])
    assert parsed == {"milestones": (5, 8), "pretrained": None, "compile": True, "switches": {"alpha": 0.7}}
    assert get_preset("smoke", **parsed).switches == {"embed_dim": 128, "alpha": 0.7}  # merged


@pytest.mark.tiny_training
def test_resume_equals_uninterrupted_training(tiny_root, first_epoch, tmp_path):
    straight = fit(tiny_config(tiny_root, epochs=2), tmp_path / "straight")
    shutil.copytree(first_epoch, tmp_path / "stopped")  # trained 1 epoch, then stopped
    resumed = fit(tiny_config(tiny_root, epochs=2), tmp_path / "stopped", resume=True)
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
    assert without_times(straight.history) == without_times(resumed.history)
    assert straight.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"]
    # The second epoch trained (another mean loss) and the files are there: one log row per epoch,
    # best by mAP.
    assert straight.history[0]["train_loss"] != straight.history[1]["train_loss"]
    rows = [json.loads(line) for line in (tmp_path / "stopped" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    best = load_checkpoint(tmp_path / "stopped" / "best.pt")
    assert best["best_mAP"] == max(r["val_mAP"] for r in rows)


@pytest.mark.tiny_training
def test_augmentation_does_not_depend_on_worker_count(tiny_root, first_epoch):
    in_worker = fit(tiny_config(tiny_root, workers=1))  # crops and flips drawn in another process
    in_main = load_checkpoint(first_epoch / "last.pt")["model"]  # workers=0
    assert_same_weights(in_main, in_worker.model.state_dict())


def test_resume_refuses_another_variant_or_settings(tiny_root, first_epoch, tmp_path):
    with pytest.raises(CheckpointError, match="holds a db_dgcn model, not add_gcn"):
        Trainer(tiny_config(tiny_root, variant="add_gcn", epochs=2), first_epoch, resume=True)
    with pytest.raises(CheckpointError, match="weight_decay 0.0001 -> 0.3"):
        Trainer(tiny_config(tiny_root, weight_decay=0.3, epochs=2), first_epoch, resume=True)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        Trainer(tiny_config(tiny_root), tmp_path / "elsewhere", resume=True)


def test_interrupted_checkpoint_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"format": checkpoint_module.FORMAT, "epoch": 1, "w": torch.arange(4.0)})
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # the beginning of a checkpoint, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"format": checkpoint_module.FORMAT, "epoch": 2, "w": torch.zeros(4)})
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and torch.equal(ckpt["w"], torch.arange(4.0))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    # A file that really is truncated is refused with a clear error, not a traceback from zipfile.
    (tmp_path / "broken.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "broken.pt")


@pytest.mark.tiny_training
def test_nan_loss_stops_training_and_keeps_last_good_checkpoint(
    tiny_root, first_epoch, tmp_path, monkeypatch
):
    run = shutil.copytree(first_epoch, tmp_path / "run")
    trainer = Trainer(tiny_config(tiny_root, epochs=2), run, resume=True, progress=False, verbose=False)
    steps = len(trainer.train_loader)
    calls = {"n": 0}
    real_loss = steps_module.compute_loss

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 3 else loss  # epoch 2, step 3

    monkeypatch.setattr(steps_module, "compute_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=rf"epoch 2, step 3 of {steps}.*last.pt \(epoch 1\)"):
        trainer.fit()
    assert calls["n"] == 4  # stopped at the first check after the bad step (log_every=2)
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert_same_weights(ckpt["model"], load_checkpoint(first_epoch / "last.pt")["model"])
    assert not all(torch.isfinite(p).all() for p in trainer.model.parameters())  # memory was poisoned


# ---------------------------------------------------------------------------------------------
# DDP: two CPU processes with gloo
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(
    rank: int, world_size: int, port: int, root: str, out: str, pipelines: tuple[str, ...]
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    assert info == DistInfo(rank, world_size, rank)
    for pipeline in pipelines:  # one process group for both: starting two processes is the slow part
        # DDP training for one epoch (rank 0 writes the checkpoint), then a sharded evaluation.
        run = os.path.join(out, pipeline)
        trainer = Trainer(
            tiny_config(root, batch_size=4, pipeline=pipeline), run, progress=False, verbose=False
        )
        trainer.fit()
        metrics = trainer.evaluate()
        # An odd-sized set: the sampler pads one shard with a duplicate that must be dropped.
        val = trainer.val_set
        subset = ImageFiles(val.image_paths[:13], val.labels[:13])
        cpu = torch.device("cpu")
        loader = create_loader(
            subset, pipeline="pil", train=False, batch_size=4, workers=0, device=cpu, image_size=64, dist=info
        )
        p = predict_loader(trainer.model, loader, cpu, amp="none")
        if rank == 0:
            np.savez(os.path.join(run, "ddp.npz"), s=p.scores["s"], targets=p.targets)
            with open(os.path.join(run, "ddp_metrics.json"), "w") as f:
                json.dump(metrics, f)
    torch.distributed.destroy_process_group()


DDP_PIPELINES = ("pil", "nvjpeg")  # nvjpeg: decoded in the main process


def test_ddp_gathered_metrics_equal_single_process(tiny_root, tmp_path):
    mp.spawn(
        _ddp_worker,
        args=(2, _free_port(), str(tiny_root), str(tmp_path), DDP_PIPELINES),
        nprocs=2,
        join=True,
    )
    for pipeline in DDP_PIPELINES:
        run = tmp_path / pipeline
        ckpt = load_checkpoint(run / "last.pt")
        assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
        model = model_from_checkpoint(ckpt)
        cpu = torch.device("cpu")
        val = CocoMultiLabel(tiny_root, "val")
        loader = create_loader(
            val, pipeline=pipeline, train=False, batch_size=7, workers=0, device=cpu, image_size=64
        )
        p = predict_loader(model, loader, cpu, amp="none")
        scores, targets = p.scores, p.targets
        single = {name: multilabel_metrics(s, targets) for name, s in scores.items()}
        gathered = json.loads((run / "ddp_metrics.json").read_text())
        for name in single:
            for key, value in single[name].items():
                assert gathered[name][key] == pytest.approx(value, abs=1e-9, nan_ok=True), (
                    pipeline,
                    name,
                    key,
                )
        ddp = np.load(run / "ddp.npz")
        assert ddp["s"].shape == (13, 20)
        if pipeline == "pil":  # the subset was scored through trainer.val_set, i.e. with PIL transforms
            np.testing.assert_allclose(ddp["s"], scores["s"][:13], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ddp["targets"], targets[:13])


def test_make_sgd_leaves_the_callers_groups_alone_and_states_match():
    """The fused kernel is tried on copies (a refused one leaves nothing behind); both optimizers
    have the same state dict, so a checkpoint moves between a CUDA and a CPU run."""
    from dbdgcn_lib.training import make_sgd

    weights = torch.nn.Parameter(torch.ones(3))
    groups = [{"params": [weights], "lr": 0.1, "name": "head"}]
    before = [dict(g) for g in groups]
    fused, _ = make_sgd(groups, lr=0.1, momentum=0.9, fused=True)  # fused on this CPU or not: either is fine
    assert groups == before  # torch fills in a group's defaults: the fused attempt did so on copies
    plain, used = make_sgd(groups, lr=0.1, momentum=0.9, fused=False)
    assert used is False and plain.param_groups[0]["fused"] in (None, False)
    for optimizer in (fused, plain):
        weights.grad = torch.ones(3)
        optimizer.step()
    plain_state = plain.state_dict()
    plain.load_state_dict(fused.state_dict())  # no missing or extra keys
    assert plain_state["param_groups"][0]["momentum"] == 0.9 and plain_state["state"].keys() == {0}


@pytest.mark.tiny_training
def test_cuda_graphs_fall_back_cleanly_without_cuda(tiny_root, first_epoch, capsys):
    """On the CPU the CUDA-graph option says so in one line and trains exactly as without it."""
    trainer = Trainer(tiny_config(tiny_root, cuda_graphs=True), progress=False, verbose=True)
    assert "training without CUDA graphs" in capsys.readouterr().out
    assert trainer.cuda_graphs is False and trainer.net is trainer.model
    trainer.fit()
    assert_same_weights(trainer.model.state_dict(), load_checkpoint(first_epoch / "last.pt")["model"])


@pytest.mark.tiny_training
def test_a_timing_run_prints_its_coco_estimate(tiny_root, capsys):
    from dbdgcn_lib.training import coco_run_hours

    config = tiny_config(tiny_root, limit_train_batches=3, limit_val_batches=2, eval_batch_size=4)
    history = Trainer(config, progress=False, verbose=True).fit()
    row = history[-1]
    assert row["train_loss"] > 0 and row["eval_img_per_s"] > 0 and row["steady_img_per_s"] > 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    hours = coco_run_hours(row["steady_img_per_s"], row["eval_img_per_s"])
    assert printed.startswith("50 COCO 2014 epochs (db_dgcn, tiny, 64 px, batch 8)")
    assert f": {hours:.2f} h" in printed


def test_the_schedule_warms_up_then_drops_at_the_milestones():
    from dbdgcn_lib.training.steps import lr_factor

    factor = [
        lr_factor(s, steps_per_epoch=4, milestones=(2, 3), gamma=0.1, warmup_epochs=1.5) for s in range(16)
    ]
    np.testing.assert_allclose(factor[:6], [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])  # 6 warm-up steps
    np.testing.assert_allclose(factor[6:8], [1.0, 1.0])
    np.testing.assert_allclose(factor[8:12], [0.1] * 4)  # after epoch 2
    np.testing.assert_allclose(factor[12:], [0.01] * 4)  # after epoch 3
    plain = [lr_factor(s, steps_per_epoch=4, milestones=(2,), gamma=0.5) for s in range(12)]
    assert plain == [1.0] * 8 + [0.5] * 4  # no warm-up: the MultiStepLR rule, per step


@pytest.mark.tiny_training
def test_the_learning_rate_is_set_at_every_step_of_the_warm_up(tiny_root):
    """A linear warm-up raises the rate at every optimisation step (``lr_factor``), not once per epoch:
    in a real run the optimizer must step with base * (k + 1) / warm-up steps at step k."""
    trainer = Trainer(tiny_config(tiny_root, warmup_epochs=3), progress=False, verbose=False)
    stepped = []
    trainer.optimizer.register_step_pre_hook(
        lambda optimizer, args, kwargs: stepped.append([g["lr"] for g in optimizer.param_groups])
    )
    trainer.fit()
    steps = trainer.steps_per_epoch
    assert steps >= 3 and len(stepped) == steps  # one epoch, every step inside the warm-up
    bases = [trainer.config.lr_backbone, trainer.config.lr_head]
    expected = [[base * (k + 1) / (3 * steps) for base in bases] for k in range(steps)]
    np.testing.assert_allclose(stepped, expected, rtol=1e-12)


def test_the_loss_is_bce_on_the_fused_score_s():
    """SPEC section 2 and the paper's loss: BCE with logits on the final score s (``logits``), averaged
    over images and classes (= MultiLabelSoftMarginLoss); s_r and s_m only with a branch weight."""
    from dbdgcn_lib.training import compute_loss

    torch.manual_seed(0)
    s, s_r, s_m = torch.randn(3, 4, 5).unbind(0)  # three different scores
    targets = (torch.rand(4, 5) < 0.5).float()

    def bce(logits):  # by hand: -mean(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))
        p = torch.sigmoid(logits.double())
        return -(targets * p.log() + (1 - targets) * (1 - p).log()).mean()

    outputs = {"logits": s, "s_r": s_r, "s_m": s_m}
    torch.testing.assert_close(compute_loss(outputs, targets).double(), bce(s))
    torch.testing.assert_close(compute_loss(outputs, targets), F.multilabel_soft_margin_loss(s, targets))
    with_branches = compute_loss(outputs, targets, branch_loss_weight=0.3).double()
    torch.testing.assert_close(with_branches, bce(s) + 0.3 * (bce(s_r) + bce(s_m)))
    assert len({float(bce(x)) for x in (s, s_r, s_m)}) == 3  # a loss on another score would differ


@pytest.mark.tiny_training
def test_a_resume_continues_the_warm_up_where_it_stopped(tiny_root, first_epoch, tmp_path):
    config = tiny_config(tiny_root, warmup_epochs=1.5, epochs=2)
    straight = fit(config, tmp_path / "straight")
    stopped = fit(dataclasses.replace(config, epochs=1), tmp_path / "stopped")
    resumed = fit(config, tmp_path / "stopped", resume=True)
    assert stopped.step == len(stopped.train_loader) and resumed.step == straight.step
    assert [r["lr_head"] for r in straight.history] == [r["lr_head"] for r in resumed.history]
    assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
