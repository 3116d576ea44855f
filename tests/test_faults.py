"""What a user can do wrong, or what can go wrong under a user: concurrent runs, kills, damaged files,
bad images, a full disk, bad settings. Each test reproduced a failure before it was fixed; every one
runs on the tiny synthetic set in about a second."""

from __future__ import annotations

import errno
import json
import shutil

import pytest
import torch
from tiny_runs import edited, tensor_data_offset, tiny_config
from torch.utils.data import DistributedSampler

from dbdgcn_lib.cli import main
from dbdgcn_lib.data import CocoMultiLabel, make_synthetic
from dbdgcn_lib.training import (
    CheckpointError,
    NonFiniteLossError,
    RunFolderError,
    TrainConfig,
    Trainer,
    forward_scores,
    get_preset,
    load_checkpoint,
    save_checkpoint,
)
from dbdgcn_lib.training import checkpoint as checkpoint_module
from dbdgcn_lib.training import run_folder as run_folder_module
from dbdgcn_lib.training import steps as steps_module
from dbdgcn_lib.training.trainer import RESUME_ADJUSTABLE, RESUME_FIXED
from dbdgcn_lib.utils import atomic_write

pytestmark = pytest.mark.filterwarnings("ignore:.*no positive example:RuntimeWarning")

TINY = ["--image-size", "64", "--batch-size", "8", "--set", "switches.embed_dim=16", "--no-progress"]
TINY += ["--workers", "0", "--threads", "none"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("faults") / "synthetic", size="tiny")


@pytest.fixture(scope="module")
def finished(root, tmp_path_factory):
    """A run folder after one epoch (tests copy it before writing)."""
    out = tmp_path_factory.mktemp("run") / "finished"
    Trainer(tiny_config(root), out, progress=False, verbose=False).fit()
    return out


def error_of(argv, capsys) -> str:
    """Run the command line; it must fail with exit status 2 and one line on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if not line.startswith("warning: ")]
    assert len(errors) == 1 and errors[0].startswith("error: "), err
    return errors[0]


def train_args(root, out, *extra):
    return [
        "train",
        "--preset",
        "smoke",
        "--data",
        str(root),
        "--out",
        str(out),
        "--epochs",
        "1",
        *TINY,
        *extra,
    ]


# ---------------------------------------------------------------------------------------------
# Run folders are never lost or mixed
# ---------------------------------------------------------------------------------------------


def test_a_second_run_on_a_busy_folder_is_refused_naming_the_holder(root, tmp_path):
    first = Trainer(tiny_config(root), tmp_path / "run", progress=False, verbose=False)  # holds the lock
    with pytest.raises(RunFolderError, match=r"in use by pid \d+ on .* since"):
        Trainer(tiny_config(root), tmp_path / "run", progress=False, verbose=False)
    first.fit()  # the first run is unharmed and releases the folder when it ends
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
    Trainer(tiny_config(root), tmp_path / "run", resume=True, progress=False, verbose=False).close()


def test_a_finished_run_is_neither_replaced_nor_mixed_without_asking(root, finished, tmp_path, capsys):
    run = shutil.copytree(finished, tmp_path / "run")
    before = (run / "best.pt").read_bytes()
    err = error_of(train_args(root, run), capsys)
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert (run / "best.pt").read_bytes() == before  # untouched
    assert main(train_args(root, run, "--overwrite", "--seed", "3")) == 0
    assert load_checkpoint(run / "best.pt")["train_config"]["seed"] == 3  # replaced as a whole
    assert json.loads((run / "config.json").read_text())["seed"] == 3


def test_an_unwritable_run_folder_is_refused_before_training(root, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    err = error_of(train_args(root, blocker / "run"), capsys)
    assert str(blocker / "run") in err and "choose another --out" in err


def test_temporary_files_have_unique_names_and_never_stay(tmp_path):
    target = tmp_path / "log.jsonl"
    with atomic_write(target) as a, atomic_write(target) as b:  # two writers at once
        assert len(list(tmp_path.glob(".log.jsonl.*.tmp"))) == 2  # each has its own temporary file
        a.write("first\n")
        b.write("second\n")
    assert target.read_text() == "first\n"  # the last to finish (a) wins, whole
    with pytest.raises(RuntimeError), atomic_write(target) as c:
        c.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "first\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl"]


def test_best_is_right_whatever_moment_the_kill_comes(root, finished, tmp_path, monkeypatch):
    """best.pt is written first and last.pt linked to it: a kill between the two leaves best.pt at the
    new best epoch and last.pt one epoch behind, which a resume trains again."""
    run = shutil.copytree(finished, tmp_path / "run")

    # Epoch 1 recorded as scoring 0, so that epoch 2 is a new best however well it learns on this CPU.
    def scored_0(ckpt):
        ckpt["best_mAP"] = ckpt["history"][0]["val_mAP"] = 0.0

    epoch_1 = edited(load_checkpoint(run / "last.pt"), scored_0)
    for name in ("best.pt", "last.pt"):
        save_checkpoint(run / name, epoch_1)

    def killed(source, target):
        raise KeyboardInterrupt  # the moment between writing best.pt and linking last.pt

    monkeypatch.setattr(run_folder_module, "copy_checkpoint", killed)
    trainer = Trainer(tiny_config(root, epochs=2), run, resume=True, progress=False, verbose=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    best, last = load_checkpoint(run / "best.pt"), load_checkpoint(run / "last.pt")
    assert (best["epoch"], last["epoch"]) == (2, 1)
    assert best["best_mAP"] == max(r["val_mAP"] for r in best["history"])
    monkeypatch.undo()
    resumed = Trainer(tiny_config(root, epochs=2), run, resume=True, progress=False, verbose=False)
    resumed.fit()
    again = load_checkpoint(run / "best.pt")
    assert again["epoch"] == 2 and load_checkpoint(run / "last.pt")["epoch"] == 2
    for key, value in best["model"].items():  # the resumed epoch 2 is the killed run's epoch 2
        assert torch.equal(value, again["model"][key]), key


def test_a_damaged_checkpoint_is_refused_not_evaluated(finished, tmp_path, capsys):
    damaged = tmp_path / "best.pt"
    shutil.copyfile(finished / "best.pt", damaged)
    data = bytearray(damaged.read_bytes())
    data[tensor_data_offset(damaged)] ^= 0x40  # one flipped bit in a weight: still a loadable zip
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(damaged)
    err = error_of(["evaluate", "--checkpoint", str(damaged), "--workers", "0"], capsys)
    assert str(damaged) in err and "damaged" in err
    assert load_checkpoint(finished / "best.pt")["epoch"] == 1  # the intact file still loads


def test_checkpoints_of_the_first_format_still_load(tmp_path):
    old = {"format": "dbdgcn-checkpoint-1", "epoch": 3, "w": torch.ones(2)}
    torch.save(old, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")["epoch"] == 3
    save_checkpoint(tmp_path / "new.pt", {"format": checkpoint_module.FORMAT, "w": torch.ones(2)})
    assert len(torch.load(tmp_path / "new.pt", weights_only=True)["checksum"]) == 64


# ---------------------------------------------------------------------------------------------
# Every error a user can cause is one line
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", ["pil", "uint8", "nvjpeg"])
def test_a_corrupt_image_in_training_is_one_line_naming_it(root, tmp_path, capsys, pipeline):
    data = shutil.copytree(root, tmp_path / "data")
    broken = sorted((data / "train").glob("*.jpg"))[5]
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")  # a JPEG marker, then nothing decodable
    err = error_of(train_args(data, tmp_path / "run", "--pipeline", pipeline), capsys)
    assert broken.name in err, err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_missing_image_is_one_line_naming_it(root, tmp_path, capsys):
    data = shutil.copytree(root, tmp_path / "data")
    missing = sorted((data / "val").glob("*.jpg"))[2]
    missing.unlink()
    err = error_of(train_args(data, tmp_path / "run", "--pipeline", "uint8"), capsys)
    assert missing.name in err


def test_skip_corrupt_replaces_counts_and_reports(root, tmp_path, capsys):
    data = shutil.copytree(root, tmp_path / "data")
    train = CocoMultiLabel(data, "train")
    bad = {0, 1, 2}  # consecutive: drawing image 0 tries 0, 1, 2, then takes 3
    for index in bad:
        train.image_paths[index].write_bytes(b"garbage")
    assert main(train_args(data, tmp_path / "run", "--skip-corrupt", "--pipeline", "uint8")) == 0
    row = json.loads((tmp_path / "run" / "log.jsonl").read_text())
    order = DistributedSampler(range(len(train)), 1, 0, shuffle=True, seed=0, drop_last=True)
    drawn = list(order)[: len(train) // 8 * 8]  # epoch 0, full batches of 8
    assert row["skipped_images"] == sum(3 - i for i in drawn if i in bad) > 0
    printed = capsys.readouterr()
    assert f"skipped {row['skipped_images']} unreadable images" in printed.err + printed.out


def test_a_full_disk_says_so(root, tmp_path, capsys, monkeypatch):
    """What torch 2.x raises when a write fails mid-save (tests/test_faults_io.py fills a real disk)."""

    def full(obj, f, *args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 832 vs 726")  # noqa: B904 - as torch does

    monkeypatch.setattr(checkpoint_module.torch, "save", full)
    err = error_of(train_args(root, tmp_path / "run"), capsys)
    assert "the disk is full" in err and "free some space" in err


@pytest.mark.parametrize(
    ("device", "expected"),
    [("cuda:7", "cuda"), ("tpu", "unknown device 'tpu'"), ("quantum:0", "unknown device")],
)
def test_an_unavailable_device_is_one_line(root, tmp_path, capsys, device, expected):
    err = error_of(train_args(root, tmp_path / "run", "--device", device), capsys)
    assert expected in err and ("--device" in err or "use auto, cpu" in err), err
    assert not (tmp_path / "run").exists()


def test_a_split_without_images_is_refused_before_training(root, tmp_path, capsys):
    data = shutil.copytree(root, tmp_path / "data")
    ann = data / "annotations" / "instances_val.json"
    coco = json.loads(ann.read_text())
    coco["images"], coco["annotations"] = [], []
    ann.write_text(json.dumps(coco))
    err = error_of(train_args(data, tmp_path / "run"), capsys)
    assert "'val'" in err and "no labelled images" in err


@pytest.mark.parametrize(
    ("setting", "value", "hint"),
    [
        ("lr_head", "-1", "number > 0"),
        ("momentum", "1.5", "in [0, 1)"),
        ("gamma", "0", "in (0, 1]"),
        ("milestones", "40,30", "increasing epoch numbers"),
        ("grad_clip", "0", "number > 0, or none"),
        ("tau", "1.2", "in [0, 1]"),
        ("p", "-0.1", "in [0, 1]"),
        ("batch_size", "1", "BatchNorm needs 2 images"),
        ("resize", "32", "none or an integer >= image_size"),
        ("crop", "centre", "random, multiscale"),
        ("convention", "transpose", "paper, ml_gcn_code"),
        ("branch_loss_weight", "-1", "number >= 0"),
        ("warmup_epochs", "-2", "number of epochs >= 0"),
        ("pretrained", "IMAGENET", "IMAGENET1K_V1"),
    ],
)
def test_every_setting_is_checked_with_its_range(root, tmp_path, capsys, setting, value, hint):
    err = error_of(train_args(root, tmp_path / "run", f"--{setting.replace('_', '-')}", value), capsys)
    assert f"bad {setting}" in err and hint in err


@pytest.mark.parametrize(
    ("switch", "value", "hint"),
    [
        ("multiscale", "nope", "true or false"),
        ("alpha", "1.5", "in [0, 1]"),
        ("static_graph", "random", "choose from cooccurrence, learned"),
    ],
)
def test_every_switch_is_checked(root, tmp_path, capsys, switch, value, hint):
    err = error_of(train_args(root, tmp_path / "run", "--set", f"switches.{switch}={value}"), capsys)
    assert f"switches.{switch}" in err and hint in err


def test_resume_settings_are_either_fixed_or_adjustable():
    fields = {f for f in TrainConfig.__dataclass_fields__}
    assert set(RESUME_FIXED) | set(RESUME_ADJUSTABLE) | {"epochs"} == fields
    assert not set(RESUME_FIXED) & set(RESUME_ADJUSTABLE)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("batch_size", 4), ("image_size", 48), ("resize", 80), ("grad_clip", 1.0), ("branch_loss_weight", 0.5),
     ("amp", "bf16"), ("crop", "multiscale")],
)  # fmt: skip
def test_resume_refuses_a_changed_recipe(root, finished, setting, value):
    with pytest.raises(CheckpointError, match=f"{setting} .* -> {value!r}.*start a new run"):
        Trainer(tiny_config(root, epochs=2, **{setting: value}), finished, resume=True, verbose=False)


def test_the_non_finite_loss_advice_works(root, finished, tmp_path, monkeypatch, capsys):
    """The NaN message names a command; running it goes on from the last good checkpoint."""
    run = shutil.copytree(finished, tmp_path / "run")
    real = steps_module.compute_loss

    def exploding(outputs, targets, branch_loss_weight=0.0):
        return real(outputs, targets, branch_loss_weight) * float("inf")

    monkeypatch.setattr(steps_module, "compute_loss", exploding)
    trainer = Trainer(tiny_config(root, epochs=2), run, resume=True, progress=False, verbose=False)
    with pytest.raises(NonFiniteLossError) as stopped:
        trainer.fit()
    monkeypatch.undo()
    message = str(stopped.value)
    assert "last.pt (epoch 1)" in message and "--resume" in message
    advised = message.split("python -m dbdgcn_lib ")[1].split(" (or check")[0].split()
    assert advised[:3] == ["train", "--resume", "--out"] and "--lr-head" in advised
    assert "--epochs" in advised  # the resumed run's own setting, not last.pt's
    assert main(advised) == 0  # exactly as advised
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["resumed_with"]["lr_head"] == [0.1, 0.05]  # logged in the row that used it
    assert rows[1]["lr_head"] == pytest.approx(0.05)
    assert "resume: lr_head 0.1 -> 0.05" in capsys.readouterr().out


def test_evaluating_a_split_with_other_classes_is_refused(root, finished, tmp_path):
    data = shutil.copytree(root, tmp_path / "data")
    ann = data / "annotations" / "instances_rare.json"
    coco = json.loads(ann.read_text())
    dropped = coco["categories"].pop()["id"]
    coco["annotations"] = [a for a in coco["annotations"] if a["category_id"] != dropped]
    ann.write_text(json.dumps(coco))
    trainer = Trainer(tiny_config(data), None, progress=False, verbose=False)
    with pytest.raises(Exception, match="other classes"):
        trainer.evaluate("rare")


def test_predict_takes_files_and_folders_skips_unreadable_ones_and_writes_json(
    root, finished, tmp_path, capsys
):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in sorted((root / "val").glob("*.jpg"))[:3]:
        shutil.copy(path, folder)
    (folder / "broken.jpg").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    single = sorted((root / "rare").glob("*.jpg"))[0]
    out = tmp_path / "pred.json"
    args = ["predict", str(folder), str(single), "--checkpoint", str(finished / "best.pt")]
    with pytest.warns(UserWarning) as warned:
        assert main([*args, "--batch-size", "2", "--json", str(out)]) == 0
    assert [str(w.message).split(" is ")[0] for w in warned] == [f"skipping: image {folder / 'broken.jpg'}"]
    printed = capsys.readouterr()
    assert "skipped 1 of 5 files" in printed.err
    lines = printed.out.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith(str(single))
    assert json.loads(out.read_text())["skipped"] == [str(folder / "broken.jpg")]
    written = json.loads(out.read_text())["predictions"]
    assert [row["image"] for row in written] == [line.split()[0] for line in lines]
    assert len(written[0]["probabilities"]) == 20


# ---------------------------------------------------------------------------------------------
# The recipes are what their names say
# ---------------------------------------------------------------------------------------------


def test_gradient_clipping_and_branch_losses_reach_the_step(root, monkeypatch):
    seen = {"clip": [], "weights": []}
    real_clip = torch.nn.utils.clip_grad_norm_
    real_loss = steps_module.compute_loss

    def clip(params, max_norm, *args, **kwargs):
        seen["clip"].append(max_norm)
        return real_clip(params, max_norm, *args, **kwargs)

    def loss(outputs, targets, branch_loss_weight=0.0):
        seen["weights"].append(branch_loss_weight)
        return real_loss(outputs, targets, branch_loss_weight)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    monkeypatch.setattr(steps_module, "compute_loss", loss)
    Trainer(tiny_config(root, grad_clip=0.5, branch_loss_weight=0.3), progress=False, verbose=False).fit()
    assert seen["clip"] and set(seen["clip"]) == {0.5}
    assert seen["weights"] and set(seen["weights"]) == {0.3}
    seen["clip"].clear()
    Trainer(tiny_config(root, grad_clip=None), progress=False, verbose=False).fit()
    assert seen["clip"] == []


def test_clipping_and_branch_weight_change_the_update():
    """The step's result depends on both settings (a step that ignored them would pass the test above
    only if it still called the functions)."""
    from dbdgcn_lib.models import build_model
    from dbdgcn_lib.training import make_sgd, train_step

    x, y = torch.randn(4, 3, 64, 64), (torch.rand(4, 20) < 0.2).float()

    def one_step(**kwargs):
        torch.manual_seed(0)
        model = build_model("db_dgcn", 20, "tiny", embed_dim=16)
        optimizer, _ = make_sgd([{"params": list(model.parameters())}], lr=0.5, momentum=0.0, fused=False)
        train_step(model, (x, y), optimizer, amp="none", **kwargs)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    plain = one_step(grad_clip=None)
    assert not torch.equal(plain, one_step(grad_clip=1e-3))
    assert torch.equal(plain, one_step(grad_clip=1e9))  # a clip far above the norm changes nothing
    assert not torch.equal(plain, one_step(grad_clip=None, branch_loss_weight=1.0))


def test_evaluation_scores_are_float32_even_under_bf16_autocast():
    from dbdgcn_lib.models import build_model

    torch.manual_seed(0)
    model = build_model("db_dgcn", 20, "tiny", embed_dim=16).eval()
    x = torch.randn(8, 3, 64, 64)
    with torch.no_grad():
        out = forward_scores(model, x, amp="bf16")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            x3, x4 = model.forward_features(x)
        reference = model.forward_head(x3.float(), x4.float())
        rounded = forward_scores(model, x, amp="bf16", float32_head=False)
    assert out["logits"].dtype == torch.float32
    assert torch.equal(out["logits"], reference["logits"])
    assert out["logits"].unique().numel() >= rounded["logits"].float().unique().numel()


def test_add_gcn_preset_trains_the_add_gcn_model_with_its_crop(root):
    cpu_sized = dict(dataset="synthetic", data=str(root), train_split="train", val_split="val", image_size=64)
    cpu_sized.update(backbone="tiny", pretrained=None, switches={"embed_dim": 16}, device="cpu", workers=0)
    config = get_preset("add_gcn", **cpu_sized, amp="none", channels_last=False)
    trainer = Trainer(config, progress=False, verbose=False)
    assert trainer.model.config.variant == "add_gcn" and trainer.config.crop == "multiscale"
    assert trainer.train_loader.loader.dataset.dataset.transform.transforms[1].crop == "multiscale"
