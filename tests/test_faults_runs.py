"""Faults around runs, checkpoints, datasets and arguments, as a user meets them: nothing the user has
is lost (a dataset folder, an old run, a killed save's space), every argument is checked where it is
given, a checkpoint from elsewhere is one line, and every command a message suggests is run here
(parsed out of the message) and works. Runs use the tiny synthetic set, one epoch of 5 steps."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from tiny_runs import edited, tensor_data_offset, tiny_config

from dbdgcn_lib.cli import build_parser, main
from dbdgcn_lib.cli.train import _overrides
from dbdgcn_lib.data import SyntheticDatasetError, ensure_synthetic, make_synthetic, read_generator
from dbdgcn_lib.graph import cooccurrence, static_adjacency
from dbdgcn_lib.metrics import (
    multilabel_metrics,
    noise_verdict,
    out_of_scene_metrics,
    paper_tables,
    resample_indices,
)
from dbdgcn_lib.models import build_model
from dbdgcn_lib.paths import display_path
from dbdgcn_lib.training import (
    CheckpointError,
    RunFolder,
    RunFolderError,
    TrainConfig,
    Trainer,
    get_preset,
    load_checkpoint,
    save_checkpoint,
)
from dbdgcn_lib.training import steps as steps_module
from dbdgcn_lib.training.config import train_command
from dbdgcn_lib.training.quick import quick_train

pytestmark = pytest.mark.filterwarnings("ignore:.*no positive example:RuntimeWarning")

TINY = ["--image-size", "64", "--batch-size", "8", "--set", "switches.embed_dim=16", "--no-progress"]
TINY += ["--workers", "0", "--threads", "none", "--epochs", "1"]


@pytest.fixture(scope="module", autouse=True)
def keep_thread_count():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("faults_runs") / "synthetic", size="tiny")


def train_args(root, out, *extra):
    data = ["--data", str(root)] if root is not None else []
    return ["train", "--preset", "smoke", *data, "--out", str(out), *TINY, *extra]


@pytest.fixture(scope="module")
def finished(root, tmp_path_factory):
    """A run folder after one epoch, written by the command line (tests copy it before writing)."""
    out = tmp_path_factory.mktemp("run") / "finished"
    assert main(train_args(root, out)) == 0
    return out


def error_of(argv, capsys) -> str:
    """Run the command line; it must fail with exit status 2 and one line on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if not line.startswith("warning: ")]
    assert len(errors) == 1 and errors[0].startswith("error: "), err
    return errors[0]


def suggested(message: str) -> list[str]:
    """The command a message suggests, as arguments for ``main``: what follows ``python -m dbdgcn_lib``
    up to the end of the message or a bracketed remark after it, with ``$DBDGCN_DATA`` expanded as a
    shell would."""
    assert "python -m dbdgcn_lib " in message, message
    command = message.split("python -m dbdgcn_lib ", 1)[1].split(" (or ")[0]
    return [os.path.expandvars(arg) for arg in shlex.split(command)]


def run_files(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("best.pt", "last.pt", "log.jsonl", "config.json")}


def explode(monkeypatch):
    """Every training loss from now on is infinite (until ``monkeypatch.undo()``)."""
    real = steps_module.compute_loss
    monkeypatch.setattr(
        steps_module, "compute_loss", lambda outputs, targets, w=0.0: real(outputs, targets, w) * float("inf")
    )


# ---------------------------------------------------------------------------------------------
# Nothing is lost
# ---------------------------------------------------------------------------------------------


def test_a_dataset_folder_is_never_replaced_without_asking(tmp_path, monkeypatch, capsys):
    """`data synthetic --size tiny` in the default place, then `train` without --data: refused in one
    line naming the folder and the choices; the user's file survives; both suggested ways work."""
    monkeypatch.setenv("DBDGCN_DATA", str(tmp_path / "data"))
    default = tmp_path / "data" / "synthetic"
    assert main(["data", "synthetic", "--size", "tiny"]) == 0
    capsys.readouterr()
    (default / "notes.txt").write_text("mine")
    before = read_generator(default)
    err = error_of(train_args(None, tmp_path / "run"), capsys)
    shown = display_path(default)  # "$DBDGCN_DATA/synthetic": the folder, as a shell reads it
    assert shown == "$DBDGCN_DATA/synthetic" and "size tiny" in err and f"--data {shown}" in err
    with pytest.raises(SyntheticDatasetError, match="holds the embedded set made with size tiny"):
        quick_train(epochs=1)  # the notebooks' quick runs ask the same way
    assert read_generator(default) == before and (default / "notes.txt").read_text() == "mine"
    assert main(train_args(default, tmp_path / "run")) == 0  # the set that is there, with --data

    # Replacing it is the command the message gives, and it never deletes a file it did not write.
    with pytest.raises(SyntheticDatasetError) as refused:
        ensure_synthetic(default, size="tiny", seed=1)
    command = suggested(str(refused.value))
    assert command == ["data", "synthetic", "--root", str(default), "--size", "tiny", "--seed", "1"]
    err = error_of(command, capsys)
    assert "files the generator did not write" in err and "notes.txt" in err
    (default / "notes.txt").rename(tmp_path / "notes.txt")  # moved out, as the message says
    assert main(command) == 0
    assert ensure_synthetic(default, size="tiny", seed=1) == default


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(
    root, finished, tmp_path, monkeypatch, capsys
):
    run = shutil.copytree(finished, tmp_path / "run")
    old = run_files(run)
    explode(monkeypatch)
    err = error_of(train_args(root, run, "--overwrite"), capsys)  # fails in epoch 1
    monkeypatch.undo()
    assert run_files(run) == old and not (run / ".previous-run").exists()  # the old run is whole
    command = suggested(err)
    assert "--overwrite" in command and command[command.index("--lr-head") + 1] == "0.05"
    assert main(command) == 0
    assert load_checkpoint(run / "best.pt")["train_config"]["lr_head"] == 0.05  # replaced, as a whole
    assert not (run / ".previous-run").exists()


def test_a_run_that_saved_nothing_is_not_a_run(root, tmp_path, monkeypatch, capsys):
    """A failure in epoch 1 leaves config.json alone: --resume says there is nothing to resume, and
    the NaN advice (the same run with lower rates) runs in that folder."""
    run = tmp_path / "run"
    explode(monkeypatch)
    err = error_of(train_args(root, run), capsys)
    monkeypatch.undo()
    assert "no checkpoint was written" in err
    assert {p.name for p in run.iterdir()} == {"config.json", ".lock"}
    resumed = error_of(["train", "--resume", "--out", str(run), "--no-progress"], capsys)
    assert "nothing to resume" in resumed and "without --resume" in resumed
    assert main(suggested(err)) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 1


def test_a_killed_save_and_a_killed_replacement_are_cleaned_up_by_the_next_run(finished, tmp_path):
    """A real SIGKILL in the middle of writing a checkpoint, in a process replacing a run: the next
    run in the folder removes the half-written file and puts the old run back; while the killed
    process was alive, its folder and its file were left alone."""
    run = shutil.copytree(finished, tmp_path / "run")
    old = run_files(run)
    (run / ".eval.json.1234.tmp").write_text("not a run file")  # someone else's temporary file
    script = textwrap.dedent(
        f"""
        import io, sys, time
        import torch
        from dbdgcn_lib.training import RunFolder, load_checkpoint
        from dbdgcn_lib.training import checkpoint

        real_save = torch.save

        def stuck(obj, f):  # write half of the real bytes, then hang as a save on a slow disk would
            buffer = io.BytesIO()
            real_save(obj, buffer)
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
            print("saving", flush=True)
            time.sleep(600)

        state = load_checkpoint({str(run / "best.pt")!r})
        state.pop("path")
        folder = RunFolder({str(run)!r}).open(overwrite=True)
        folder.write_config({{"new": True}})
        checkpoint.torch.save = stuck
        folder.save(state, is_best=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "saving"
        partial = list(run.glob(".best.pt.*.tmp"))
        assert len(partial) == 1 and partial[0].stat().st_size > 0
        with pytest.raises(RunFolderError, match=rf"in use by pid {child.pid}"):
            RunFolder(run).open(resume=True)  # a live run's folder: nothing touched
        assert partial[0].exists() and (run / ".previous-run").is_dir()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    folder = RunFolder(run).open(resume=True)
    folder.close()
    assert not partial[0].exists() and not (run / ".previous-run").exists()
    assert run_files(run) == old  # the replaced run is back, config.json included
    assert (run / ".eval.json.1234.tmp").exists()  # not a run file: not ours to remove
    assert "removed 1 half-written file" in folder.notes[0] and ".best.pt." in folder.notes[0]
    assert "put back the run that --overwrite was replacing" in folder.notes[1]


# ---------------------------------------------------------------------------------------------
# Every suggested command works
# ---------------------------------------------------------------------------------------------


def test_a_finished_run_says_how_to_train_longer(finished, tmp_path, capsys):
    run = shutil.copytree(finished, tmp_path / "run")
    err = error_of(["train", "--resume", "--out", str(run), "--no-progress"], capsys)
    assert "already trained 1 of 1 epochs" in err
    assert main([*suggested(err), "--no-progress"]) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


def test_a_damaged_last_checkpoint_is_met_with_a_resume_from_best(finished, tmp_path, capsys):
    run = shutil.copytree(finished, tmp_path / "run")  # a copy: last.pt and best.pt are separate files
    data = bytearray((run / "last.pt").read_bytes())
    data[tensor_data_offset(run / "last.pt")] ^= 0x40  # one flipped bit in a weight
    (run / "last.pt").write_bytes(bytes(data))
    err = error_of(["train", "--resume", "--out", str(run), "--epochs", "2", "--no-progress"], capsys)
    assert f"{run / 'last.pt'} is damaged" in err or f"{run / 'last.pt'} cannot be read" in err
    command = suggested(err)
    assert command[:3] == ["train", "--resume", str(run / "best.pt")] and "--epochs" in command
    assert main(command) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 2  # the damaged file was replaced
    capsys.readouterr()

    # Both damaged (they are one file after a best epoch): train again, from config.json.
    run = shutil.copytree(finished, tmp_path / "again")
    (run / "best.pt").write_bytes(b"")
    (run / "last.pt").write_text("garbage")
    err = error_of(["train", "--resume", "--out", str(run), "--no-progress"], capsys)
    assert "no other checkpoint of the run can be resumed" in err and "--overwrite" in suggested(err)
    assert main(suggested(err)) == 0  # trains the run again, with its settings from config.json
    again = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert load_checkpoint(run / "last.pt")["train_config"] == again.to_dict()


def test_resume_from_a_checkpoint_file_stays_in_its_folder(finished, tmp_path, capsys):
    run = shutil.copytree(finished, tmp_path / "run")
    err = error_of(["train", "--resume", str(run / "best.pt"), "--out", str(tmp_path / "other")], capsys)
    assert f"continues the run in {run}" in err


def test_a_moved_dataset_points_to_data(root, finished, tmp_path, capsys):
    moved = shutil.copytree(root, tmp_path / "moved")
    gone = tmp_path / "gone"  # where the run was trained: the data is not there any more
    path = tmp_path / "best.pt"
    save_checkpoint(
        path,
        edited(load_checkpoint(finished / "best.pt"), lambda c: c["train_config"].update(data=str(gone))),
    )
    err = error_of(["evaluate", "--checkpoint", str(path), "--workers", "0"], capsys)
    assert f"dataset root {gone} does not exist" in err and "point --data at its new place" in err
    assert main(["evaluate", "--checkpoint", str(path), "--workers", "0", "--data", str(moved)]) == 0
    capsys.readouterr()
    err = error_of(["train", "--resume", str(path), "--epochs", "2", "--no-progress"], capsys)
    assert "point --data at its new place" in err  # a resumed run takes --data too


@pytest.mark.slow  # makes the default embedded set (about 10 s)
def test_the_command_that_creates_a_missing_dataset_works(finished, tmp_path, capsys, monkeypatch):
    gone = tmp_path / "gone"
    path = tmp_path / "best.pt"
    save_checkpoint(
        path,
        edited(load_checkpoint(finished / "best.pt"), lambda c: c["train_config"].update(data=str(gone))),
    )
    command = suggested(error_of(["evaluate", "--checkpoint", str(path), "--workers", "0"], capsys))
    assert command == ["data", "synthetic", "--root", str(gone)]
    assert main(command) == 0
    assert main(["evaluate", "--checkpoint", str(path), "--workers", "0"]) == 0


def test_a_preset_composes_with_another_dataset(root, tmp_path, capsys):
    """`train --preset paper --dataset synthetic`: the COCO preset's split names apply to COCO only."""
    config = get_preset("paper", dataset="synthetic")
    assert (config.train_split, config.val_split) == ("train", "val")
    assert get_preset("paper", dataset="synthetic", val_split="rare").val_split == "rare"
    assert get_preset("smoke", dataset="coco").train_split == "train2014"
    # The student's recipe (the paper's, shrunk to the CPU) finds the embedded set's splits.
    shrunk = dict(
        backbone="tiny", pretrained=None, device="cpu", image_size=64, workers=0, switches={"embed_dim": 16}
    )
    trainer = Trainer(get_preset("paper", dataset="synthetic", data=str(root), **shrunk), verbose=False)
    assert (trainer.train_set.split, trainer.val_set.split) == ("train", "val")
    # A split the embedded set does not have is named, not "regenerate what is there".
    err = error_of(["train", "--preset", "smoke", *TINY, "--data", str(root), "--train-split", "train2014",
                    "--out", str(tmp_path / "run2")], capsys)  # fmt: skip
    assert "splits here: plain, rare, train, val" in err and "name one of these splits" in err
    assert "data synthetic" not in err


def test_a_setting_given_twice_is_refused(root, tmp_path, capsys):
    for extra, says in (
        (["--set", "lr_head=0.2", "--lr-head", "0.1"], "lr_head is given twice"),
        (["--set", "epochs=2", "--set", "epochs=3"], "epochs is given twice"),
        (["--set", "switches.alpha=0.3", "--switches", '{"alpha": 0.7}'], "switches.alpha is given twice"),
    ):
        assert says in error_of(train_args(root, tmp_path / "run", *extra), capsys)
    assert not (tmp_path / "run").exists()


def test_train_command_reproduces_the_config(root):
    config = tiny_config(root, lr_head=0.05, milestones=(), switches={"embed_dim": 16, "alpha": 0.3})
    argv = suggested(train_command(config, "runs/x"))
    args = build_parser().parse_args(argv)
    assert get_preset(args.preset, **_overrides(args)) == config


# ---------------------------------------------------------------------------------------------
# Checkpoints from elsewhere are one line
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda c: c["model_config"].update(embed_dim=32), "weights do not fit its model config"),
        (lambda c: c["train_config"].update(learning_rate=0.1), "unknown training setting(s) learning_rate"),
        (lambda c: c["model_config"].update(depth=3), "unknown model setting(s) depth"),
        (lambda c: c.pop("class_names"), "has no class_names"),
        (lambda c: c["train_config"].update(image_size=20000), "bad image_size 20000"),
        (lambda c: c["model"].pop("head.classifier.bias"), "1 missing (e.g. head.classifier.bias)"),
    ],
)
def test_a_checkpoint_of_another_version_is_one_line(finished, tmp_path, capsys, change, says):
    path = tmp_path / "other.pt"
    save_checkpoint(path, edited(load_checkpoint(finished / "best.pt"), change))  # a valid checksum
    for argv in (["evaluate", "--checkpoint", str(path)], ["predict", str(path), "--checkpoint", str(path)]):
        err = error_of(argv, capsys)
        assert str(path) in err and says in err and "another version of dbdgcn_lib" in err


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"", "is empty (0 bytes)"), (b"epoch 3, mAP 71.2\n", "is a text file, not a checkpoint"),
     (b"\x00\x01binary junk\xff", "is not a file that torch.save wrote")],
)  # fmt: skip
def test_an_empty_or_text_file_as_a_checkpoint_is_one_line(root, tmp_path, capsys, content, says):
    path = tmp_path / "best.pt"
    path.write_bytes(content)
    err = error_of(["evaluate", "--checkpoint", str(path)], capsys)
    assert f"checkpoint {path} cannot be read: it {says}" in err
    with pytest.raises(CheckpointError, match="cannot be read"):
        Trainer(tiny_config(root), tmp_path, resume=path)


# ---------------------------------------------------------------------------------------------
# Every argument is checked, by name, before anything is allocated
# ---------------------------------------------------------------------------------------------


def test_the_library_api_checks_its_arguments():
    scores, targets = np.full((4, 3), 0.5), np.eye(4, 3)
    cases = [
        (lambda: build_model("db_dgcn", 5, "tiny", multiscale="no"), "bad multiscale 'no': true or false"),
        (lambda: build_model("db_dgcn", 5, "tiny", aux_branch="false"), "bad aux_branch 'false'"),
        (
            lambda: build_model("db_dgcn", 5, "tiny", embed_dim=10**8),
            "bad embed_dim 100000000: an integer in",
        ),
        (lambda: build_model("db_dgcn", 0, "tiny"), "bad num_classes 0"),
        (lambda: build_model("db_dgcn", 5, "tiny", alpha=float("nan")), "bad alpha nan"),
        (lambda: multilabel_metrics(scores, targets, threshold=float("nan")), "bad threshold nan"),
        (lambda: multilabel_metrics(scores, targets, threshold=2.0), "bad threshold 2.0: a number in [0, 1]"),
        (lambda: multilabel_metrics(scores, targets, top_k=0), "bad top_k 0"),
        (lambda: multilabel_metrics(scores, targets, top_k=1.5), "bad top_k 1.5"),
        (lambda: paper_tables(scores, targets, threshold=-0.1), "bad threshold -0.1"),
        (lambda: multilabel_metrics(scores, targets, class_names=["a"]), "bad class_names: 1 names for 3"),
        (lambda: static_adjacency(*cooccurrence(targets), tau=float("inf")), "bad tau inf"),
        (lambda: static_adjacency(*cooccurrence(targets), p="0.2"), "bad p '0.2'"),
        (lambda: out_of_scene_metrics(scores, targets, targets > 0, threshold=2), "bad threshold 2"),
        (lambda: resample_indices(4, resamples=0), "bad resamples 0"),
        (lambda: resample_indices(4, seed=-1), "bad seed -1"),
        (lambda: noise_verdict([1.0, 2.0], [0.5, 1.0], paired=float("inf")), "bad paired_sd inf"),
        (lambda: quick_train(image_size=20000), "bad image_size 20000: an integer in [32, 2048]"),
        (lambda: quick_train(lr=float("inf")), "bad lr inf"),
        (lambda: quick_train(epochs=0), "bad epochs 0"),
        (lambda: quick_train(multiscale="no"), "bad multiscale 'no'"),
        (lambda: get_preset("smoke", weight_decay=float("inf")), "bad weight_decay inf"),
        (lambda: get_preset("smoke", seed=2**40), "bad seed"),
        (lambda: get_preset("smoke", switches={"embed_dim": 10**8}), "bad switches.embed_dim 100000000"),
        (lambda: get_preset("smoke", workers=10**5), "bad workers 100000"),
        (lambda: Trainer({"epochs": 1}), "bad config"),
    ]
    for call, says in cases:
        with pytest.raises(ValueError) as err:
            call()
        assert says in str(err.value), (says, str(err.value))
    model = build_model("db_dgcn", 5, "tiny", multiscale=False, aux_branch=False)  # real booleans work
    assert model.head.sam_layer3 is None and model.head.gcn.aux is None


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["params", "--embed-dim", "100000000"], "--embed-dim: '100000000' is not an integer in [1, 8192]"),
        (["params", "--num-classes", "0"], "--num-classes: '0' is not an integer in [1, 10000]"),
        (["predict", "x.jpg", "--checkpoint", "c.pt", "--threshold", "nan"], "--threshold: 'nan' is not"),
        (["predict", "x.jpg", "--checkpoint", "c.pt", "--threshold", "2"], "a number in [0, 1]"),
        (["predict", "x.jpg", "--checkpoint", "c.pt", "--top", "0"], "--top: '0' is not an integer >= 1"),
        (
            ["evaluate", "--checkpoint", "c.pt", "--batch-size", "1e9"],
            "--batch-size: '1e9' is not an integer",
        ),
        (["evaluate", "--checkpoint", "c.pt", "--workers", "-1"], "--workers: '-1' is not an integer in"),
        (["data", "synthetic", "--seed", "-3"], "--seed: '-3' is not an integer in [0, 4294967295]"),
    ],
)
def test_every_option_is_checked_in_one_line(capsys, argv, says):
    assert says in error_of(argv, capsys)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--image-size", "20000"], "bad image_size 20000: an integer in [32, 2048]"),
        (["--set", "switches.alpha=2"], "bad switches.alpha 2: a number in [0, 1]"),
        (["--weight-decay", "inf"], "bad weight_decay inf: a finite number >= 0"),
        (["--lr-head", "nan"], "bad lr_head nan"),
        (["--workers", "100000"], "bad workers 100000"),
        (["--eval-batch-size", "1000000000"], "bad eval_batch_size 1000000000"),
    ],
)
def test_absurd_and_infinite_settings_are_refused_before_training(root, tmp_path, capsys, extra, says):
    err = error_of(train_args(root, tmp_path / "run", *extra), capsys)
    assert says in err and "learning rate" not in err
    assert not (tmp_path / "run").exists()


def test_warnings_name_classes(finished, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        multilabel_metrics(
            np.full((2, 3), 0.5), np.array([[1, 0, 0], [1, 0, 0]]), class_names=["cat", "dog", "owl"]
        )
    assert "2 class(es) have no positive example (dog, owl)" in str(caught[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["evaluate", "--checkpoint", str(finished / "best.pt"), "--workers", "0"]) == 0
    names = load_checkpoint(finished / "best.pt")["class_names"]
    messages = [str(w.message) for w in caught if "no positive example" in str(w.message)]
    assert len(messages) == 1 and "column" not in messages[0]  # once, not once per branch
    shown = messages[0].split("example (")[1].split(")")[0].split(", ")
    assert shown and set(shown) <= set(names)
    capsys.readouterr()
