"""What the files, disks and processes under a run can do to it, with real faults where the machine
allows: a named pipe where an image should be, 16-bit PNGs, an image too large for PIL, unreadable
validation images, a full tmpfs, a data-loading worker killed with SIGKILL, a small /dev/shm, a device
the machine lacks, and torchrun with 2 ranks. A fault the machine cannot make (no root, no mount
namespace) skips its test with the reason."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_runs import tiny_config

from dbdgcn_lib.cli import main
from dbdgcn_lib.cli.errors import machine_failure, report
from dbdgcn_lib.data import (
    CocoMultiLabel,
    CorruptImageError,
    DatasetError,
    ImageFiles,
    annotation_file,
    decode_file,
    decode_jpegs,
    load_labels,
    make_synthetic,
    open_image,
    photo_like_image,
    read_image_file,
)
from dbdgcn_lib.models import build_model
from dbdgcn_lib.training import Trainer, create_loader, load_checkpoint, predict_loader, save_checkpoint
from dbdgcn_lib.training import steps as steps_module
from dbdgcn_lib.utils import available_devices

pytestmark = pytest.mark.filterwarnings("ignore:.*no positive example:RuntimeWarning")

PIPELINES = ("pil", "uint8", "nvjpeg")
CPU = torch.device("cpu")
TINY = ["--image-size", "64", "--batch-size", "8", "--set", "switches.embed_dim=16", "--no-progress"]
TINY += ["--workers", "0", "--threads", "none"]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("faults_io") / "synthetic", size="tiny")


@pytest.fixture(scope="module")
def finished(root, tmp_path_factory):
    """A run folder after one epoch (tests copy it before writing)."""
    out = tmp_path_factory.mktemp("run") / "finished"
    Trainer(tiny_config(root), out, progress=False, verbose=False).fit()
    return out


@pytest.fixture
def data(root, tmp_path):
    """A copy of the tiny set to damage."""
    return shutil.copytree(root, tmp_path / "data")


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


def error_of(argv, capsys) -> str:
    """Run the command line; it must fail with exit status 2 and say one ``error:`` line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 1, err
    return err.split("error: ")[1].splitlines()[0]


@contextmanager
def no_hang(seconds: float = 60):
    """Fail the test, instead of blocking the suite forever, if the body takes longer than ``seconds``."""

    def alarm(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def make_fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


def png16(array: np.ndarray) -> bytes:
    """(H, W) or (H, W, 3) uint16 -> a PNG with 16 bits per sample (PIL cannot write 16-bit colour)."""
    a = np.asarray(array, dtype=">u2")
    h, w = a.shape[:2]
    color = 0 if a.ndim == 2 else 2  # greyscale or RGB

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + a[y].tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------------------
# Hangs: only regular files are read as images
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_named_pipe_in_a_split_is_refused_naming_it_in_every_pipeline(data, pipeline):
    val = CocoMultiLabel(data, "val")
    pipe = make_fifo(val.image_paths[1])  # nothing ever writes to it: a plain open() would block
    loader = create_loader(
        val, pipeline=pipeline, train=False, batch_size=4, workers=0, device=CPU, image_size=32
    )
    with no_hang(), pytest.raises(CorruptImageError, match="named pipe") as err:
        list(loader)
    assert str(pipe) in str(err.value) and "only regular files" in str(err.value)
    with no_hang(), pytest.raises(CorruptImageError, match="is a folder"):
        read_image_file(data / "val")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_truncated_image_names_its_cause_and_fetch_command_in_every_pipeline(data, pipeline):
    val = CocoMultiLabel(data, "val")
    truncated = val.image_paths[2]
    truncated.write_bytes(truncated.read_bytes()[:600])
    loader = create_loader(
        val, pipeline=pipeline, train=False, batch_size=4, workers=0, device=CPU, image_size=32
    )
    with pytest.raises(CorruptImageError, match="truncated") as err:
        list(loader)
    assert str(err.value).startswith(f"image {truncated} ")
    assert str(err.value).endswith(f"fetch it again with: python -m dbdgcn_lib data synthetic --root {data}")


def test_a_named_pipe_in_training_is_one_line(data, tmp_path, capsys):
    pipe = make_fifo(CocoMultiLabel(data, "train").image_paths[3])
    with no_hang():
        err = error_of(train_args(data, tmp_path / "run", "--pipeline", "uint8"), capsys)
    assert str(pipe) in err and "named pipe" in err


def test_a_named_pipe_as_annotation_file_or_label_cache_never_blocks(data):
    make_fifo(annotation_file(data, "val"))
    with no_hang(), pytest.raises(DatasetError, match=r"instances_val\.json is not a regular file"):
        load_labels(data, "val")
    cache = make_fifo(data / "annotations" / ".labels_train.npz")
    with no_hang():
        assert len(load_labels(data, "train").labels) > 0  # the cache is rebuilt over the pipe
    assert cache.is_file()


# ---------------------------------------------------------------------------------------------
# 16-bit PNGs, PNGs named .jpg, images too large for PIL, pixels of unknown range
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """One picture as 8-bit PNGs (the references) and as 16-bit PNGs (each level v stored as 257 v, what
    converters write), in colour and in grey, one 16-bit PNG named .jpg, and a JPEG of it."""
    folder = tmp_path_factory.mktemp("pictures")
    rgb = photo_like_image(0, (56, 40))  # (40, 56, 3)
    grey = rgb.mean(-1).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "rgb8.png")
    Image.fromarray(grey).save(folder / "grey8.png")
    (folder / "rgb16.png").write_bytes(png16(rgb.astype(np.uint16) * 257))
    (folder / "grey16.png").write_bytes(png16(grey.astype(np.uint16) * 257))
    (folder / "rgb16_named.jpg").write_bytes(png16(rgb.astype(np.uint16) * 257))
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=90)
    return folder


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_16_bit_pngs_give_their_8_bit_picture_in_every_pipeline(pictures, pipeline):
    """pil used to read a 16-bit grey PNG as white, uint8 to scale every 16-bit PNG by 257 and to crash
    on a batch mixing it with 8-bit images; nvjpeg refused a PNG named .jpg."""
    names = ["rgb8.png", "rgb16.png", "rgb16_named.jpg", "grey8.png", "grey16.png", "photo.jpg"]
    files = ImageFiles([pictures / n for n in names], np.zeros((len(names), 3), np.float32))
    loader = create_loader(
        files, pipeline=pipeline, train=False, batch_size=len(names), workers=0, device=CPU, image_size=32
    )
    ((x, _),) = list(loader)  # one batch: 16-bit and 8-bit images together
    assert torch.equal(x[1], x[0]) and torch.equal(x[2], x[0])  # exactly the 8-bit reference
    assert torch.equal(x[4], x[3])
    assert x[3].std() > 0.3 and not torch.equal(x[3], x[0])  # a picture, and grey is not the colour one
    assert (x[5] - x[0]).abs().mean() < 0.3  # the JPEG of the same picture, up to compression (0.12)


def test_pixels_of_unknown_range_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "depth.tiff"
    Image.fromarray(np.linspace(0, 7.5, 64 * 48, dtype=np.float32).reshape(48, 64)).save(path)
    for read in (open_image, decode_file):  # PIL, and the uint8 pipeline (torchvision has no TIFF)
        with pytest.raises(CorruptImageError, match="floating-point pixels") as err:
            read(path)
        assert str(path) in str(err.value) and "fetch it again" not in str(err.value)


def test_an_image_too_large_for_pil_names_the_limit_and_the_advice_works(data, finished, monkeypatch, capsys):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # the embedded images are 128 x 128 > 2 x 5000
    first = CocoMultiLabel(data, "val").image_paths[0]
    with pytest.raises(CorruptImageError, match=r"too large for PIL \(16,384 pixels; PIL stops at 10,000\)"):
        open_image(first)
    evaluate = ["evaluate", "--checkpoint", str(finished / "best.pt"), "--data", str(data), "--workers", "0"]
    err = error_of([*evaluate, "--pipeline", "pil"], capsys)
    assert str(first) in err and "fetch it again" not in err and "--pipeline uint8" in err
    assert main([*evaluate, "--pipeline", "uint8"]) == 0


@cuda
def test_nvjpeg_decodes_pngs_named_jpg_on_the_cpu(pictures):
    data = [read_image_file(pictures / n) for n in ("photo.jpg", "rgb16_named.jpg", "rgb8.png")]
    on_gpu = decode_jpegs(data, "cuda")
    assert all(image.is_cuda for image in on_gpu)
    assert torch.equal(on_gpu[1].cpu(), on_gpu[2].cpu())
    assert torch.equal(on_gpu[1].cpu(), decode_jpegs(data[1:2])[0])


# ---------------------------------------------------------------------------------------------
# --skip-corrupt never changes the validation set silently
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_skip_corrupt_leaves_an_unreadable_validation_image_out_and_counts_it(data, pipeline):
    torch.manual_seed(0)
    val = CocoMultiLabel(data, "val")
    model = build_model("db_dgcn", val.num_classes, "tiny", embed_dim=16).eval()

    def predictions(dataset):
        loader = create_loader(
            dataset, pipeline=pipeline, train=False, batch_size=4, workers=0, device=CPU, image_size=32,
            skip_corrupt=True,
        )  # fmt: skip
        return predict_loader(model, loader, CPU, amp="none")

    whole = predictions(val)
    bad = 1
    val.image_paths[bad].write_bytes(b"\xff\xd8\xff\xe0 a JPEG marker, then nothing decodable")
    with pytest.warns(UserWarning, match=f"leaving out: image {val.image_paths[bad]}"):
        part = predictions(CocoMultiLabel(data, "val"))
    keep = np.arange(len(val)) != bad
    assert whole.left_out == 0 and part.left_out == 1
    assert np.array_equal(part.targets, whole.targets[keep])  # not its neighbour in its place
    for name, scores in part.scores.items():
        np.testing.assert_allclose(scores, whole.scores[name][keep], rtol=0, atol=1e-5)


def test_skip_corrupt_in_training_replaces_an_image_only_the_nvjpeg_decoder_refuses(data):
    train = CocoMultiLabel(data, "train")
    bad = train.image_paths[0]
    bad.write_bytes(b"\xff\xd8\xff\xe0 read whole by the worker, refused by every decoder")
    loader = create_loader(
        train, pipeline="nvjpeg", train=True, batch_size=8, workers=0, device=CPU, image_size=32,
        skip_corrupt=True,
    )  # fmt: skip
    with pytest.warns(UserWarning, match=f"skipping: image {bad}"):
        batches = list(loader)
    assert len(batches) == len(loader) and loader.skipped == 1  # the epoch keeps its length
    labels = {tuple(row) for row in train.labels[1:].astype(np.float32)}
    for x, y in batches:  # each image is a readable one, with its own labels
        assert torch.isfinite(x).all() and all(tuple(row.tolist()) in labels for row in y)


def test_skip_corrupt_reports_validation_images_left_out(data, tmp_path, capsys):
    CocoMultiLabel(data, "val").image_paths[2].write_bytes(b"garbage")
    assert main(train_args(data, tmp_path / "run", "--skip-corrupt")) == 0
    row = json.loads((tmp_path / "run" / "log.jsonl").read_text())
    assert row["val_left_out"] == 1 and row["skipped_images"] == 0
    printed = capsys.readouterr()
    assert "left 1 unreadable validation images out of the metrics" in printed.out + printed.err


# ---------------------------------------------------------------------------------------------
# predict skips what it cannot read, and says how many
# ---------------------------------------------------------------------------------------------


def test_predict_skips_a_truncated_jpeg_and_a_pipe_and_counts_them(
    root, finished, pictures, tmp_path, capsys
):
    folder = tmp_path / "photos"
    folder.mkdir()
    good = [Path(shutil.copy(p, folder)) for p in sorted((root / "val").glob("*.jpg"))[:2]]
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(good[0].read_bytes()[:600])  # PIL's verify() passes it; decoding does not
    pipe = make_fifo(folder / "pipe.jpg")
    shutil.copy(pictures / "grey16.png", folder)
    out = tmp_path / "pred.json"
    with no_hang(), pytest.warns(UserWarning) as warned:
        assert (
            main(["predict", str(folder), "--checkpoint", str(finished / "best.pt"), "--json", str(out)]) == 0
        )
    assert sorted(str(w.message).split(" ")[2] for w in warned) == [str(pipe), str(truncated)]
    printed = capsys.readouterr()
    assert "skipped 2 of 5 files" in printed.err
    assert len(printed.out.strip().splitlines()) == 3  # the two JPEGs and the 16-bit PNG
    result = json.loads(out.read_text())
    assert result["skipped"] == [str(pipe), str(truncated)] and len(result["predictions"]) == 3


# ---------------------------------------------------------------------------------------------
# A real full disk
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB tmpfs mounted for the test (Linux, as root with CAP_SYS_ADMIN, as CI runs)."""
    where = tmp_path / "disk"
    where.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small file system")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_real_full_disk_says_so_and_keeps_the_last_checkpoint(finished, small_disk, capsys):
    with pytest.raises(OSError, match="No space left") as err:  # torch's own error is "unexpected pos"
        save_checkpoint(small_disk / "big.pt", {"w": torch.zeros(3_000_000)})
    assert err.value.filename == str(small_disk / "big.pt") and not list(small_disk.iterdir())

    run = shutil.copytree(finished, small_disk / "run")
    before = (run / "last.pt").read_bytes()
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(bytes(free - len(before) // 2))  # room for the log, not a checkpoint
    resume = ["train", "--resume", "--out", str(run), "--epochs", "2", "--no-progress", "--workers", "0"]
    resume += ["--threads", "none", "--limit-train-batches", "1", "--limit-val-batches", "1"]
    err = error_of(resume, capsys)
    assert err.startswith("the disk is full while writing " + str(run)) and "free some space" in err
    assert (run / "last.pt").read_bytes() == before and load_checkpoint(run / "last.pt")["epoch"] == 1
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]  # nothing half-written stays
    (small_disk / "filler").unlink()  # the advice: free some space, then run again
    assert main(resume) == 0 and load_checkpoint(run / "last.pt")["epoch"] == 2


# ---------------------------------------------------------------------------------------------
# Data-loading workers: killed for memory, short of shared memory
# ---------------------------------------------------------------------------------------------


def test_a_worker_killed_by_the_oom_killer_is_one_line(finished, monkeypatch, capsys):
    """A real SIGKILL of the DataLoader worker (what the out-of-memory killer sends), mid-evaluation."""
    real = steps_module.forward_scores
    others = set(multiprocessing.active_children())

    def kill_workers_then_forward(*args, **kwargs):
        workers = [p for p in multiprocessing.active_children() if p not in others]  # the loader's
        assert workers
        for worker in workers:
            os.kill(worker.pid, signal.SIGKILL)
        time.sleep(2)  # torch's SIGCHLD handler raises here, or at the loader's next batch
        return real(*args, **kwargs)

    monkeypatch.setattr(steps_module, "forward_scores", kill_workers_then_forward)
    evaluate = ["evaluate", "--checkpoint", str(finished / "best.pt"), "--batch-size", "1"]
    evaluate += ["--pipeline", "pil"]
    err = error_of([*evaluate, "--workers", "1"], capsys)
    assert "was killed (SIGKILL)" in err and "out-of-memory killer" in err and "fewer --workers" in err
    monkeypatch.undo()
    assert main([*evaluate, "--workers", "0"]) == 0  # the advice works


@pytest.mark.parametrize(
    ("message", "expected"),
    [  # the texts torch 2.x raises in the main process (torch/utils/data/dataloader.py, its C++ handler)
        ("DataLoader worker (pid(s) 812, 813) exited unexpectedly", "(pid 812, 813) exited unexpectedly"),
        ("DataLoader worker (pid 812) is killed by signal: Segmentation fault. ", "Segmentation fault"),
        (
            "DataLoader worker (pid 812) is killed by signal: Bus error. It is possible that dataloader's "
            "workers are out of shared memory. Please try to raise your shared memory limit.",
            "shared memory (/dev/shm",
        ),
        (
            "Caught RuntimeError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
            "last):\nRuntimeError: unable to open shared memory object </torch_812_1_0> in read-write mode: "
            "Too many open files (24)",
            "ulimit -n",
        ),
    ],
)
def test_other_worker_deaths_are_one_line_each(message, expected):
    line = machine_failure(RuntimeError(message))
    assert line is not None and expected in line and "--workers" in line
    assert machine_failure(RuntimeError("a bug somewhere")) is None  # a bug keeps its traceback


@pytest.mark.slow  # two processes start torch
def test_a_small_dev_shm_says_what_to_do(finished):
    """A real 64 KiB /dev/shm, in a private mount namespace (the machine's own is untouched)."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare command: cannot give a process its own /dev/shm")
    evaluate = f"{sys.executable} -m dbdgcn_lib evaluate --checkpoint {finished / 'best.pt'} --batch-size 2"
    script = (
        "mount -t tmpfs -o size=64k tmpfs /dev/shm || exit 77; "
        f"{evaluate} --workers 2 --pipeline pil; echo exit status $?; {evaluate} --workers 0"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode == 77 or done.stderr.startswith("unshare:"):
        pytest.skip(f"cannot mount a small /dev/shm here (needs root): {done.stderr.strip()[:200]}")
    assert "exit status 2" in done.stdout, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]  # the advice works: --workers 0 then ran
    errors = [line.split("error: ")[1] for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert errors[0].startswith("shared memory (/dev/shm, 64 KiB in all) is too small")
    assert "fewer --workers" in errors[0] and "--shm-size" in errors[0]


# ---------------------------------------------------------------------------------------------
# Devices the machine does not have
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["mps", "xpu", "cuda"])
@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_an_unavailable_device_type_is_one_line_in_every_command(
    root, finished, tmp_path, capsys, command, device
):
    if device in available_devices():
        pytest.skip(f"this machine has {device}")
    checkpoint = ["--checkpoint", str(finished / "best.pt"), "--device", device]
    argv = {
        "train": train_args(root, tmp_path / "run", "--device", device),
        "evaluate": ["evaluate", *checkpoint],
        "predict": ["predict", str(next((root / "val").glob("*.jpg"))), *checkpoint],
    }[command]
    err = error_of(argv, capsys)
    assert f"'{device}'" in err and "--device" in err and ("cpu" in err)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------
# torchrun: one line per failure, not one per rank
# ---------------------------------------------------------------------------------------------

# What gloo raised on rank 1 when rank 0 stopped (torch 2.14, copied from a real two-rank run).
GLOO_PEER_GONE = (
    "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:561] Connection closed by peer "
    "[127.0.0.1]:19338. This is typically caused by a remote worker crashing. Check the logs of the "
    "remote worker before reporting an error."
)


def torchrun_rank(monkeypatch, rank: int) -> None:
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("LOCAL_RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", "2")


def test_under_torchrun_a_setting_every_rank_rejects_is_said_once(root, tmp_path, monkeypatch, capsys):
    for rank, lines in ((0, 1), (1, 0)):
        torchrun_rank(monkeypatch, rank)  # the setting is refused before any process group is joined
        assert main(train_args(root, tmp_path / "run", "--lr-head", "-1")) == 2
        assert capsys.readouterr().err.count("error: bad lr_head") == lines


def test_under_torchrun_a_rank_says_its_own_failures_and_not_a_lost_peer(monkeypatch, capsys):
    torchrun_rank(monkeypatch, 1)
    image = CorruptImageError("image val/x.jpg cannot be decoded (truncated): it is damaged; fetch it again")
    assert report(image, str(image)) == 2
    assert capsys.readouterr().err == f"error: rank 1: {image}\n"
    peer = RuntimeError(GLOO_PEER_GONE)
    line = machine_failure(peer)
    assert line.startswith("lost contact with the other processes of this run (Connection closed by peer")
    assert report(peer, line) == 1 and capsys.readouterr().err == ""  # the rank that failed says why
    torchrun_rank(monkeypatch, 0)
    assert report(peer, line) == 1 and capsys.readouterr().err == f"error: {line}\n"


@pytest.mark.slow
def test_torchrun_with_two_ranks_prints_one_line_for_a_failure_of_rank_0(root, tmp_path):
    """Real torchrun on the CPU (gloo): rank 0 alone checks the run folder; rank 1, waiting for it in
    DDP's first collective, used to follow its line with a traceback of the lost connection."""
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("no torchrun next to this Python")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    command = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "dbdgcn_lib"]
    command += train_args(root, blocker / "run")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if "error: " in line]
    assert done.returncode != 0 and len(errors) == 1, output[-3000:]
    assert f"run folder {blocker / 'run'} cannot be written" in errors[0]
    # torchrun's own summary (a ChildFailedError traceback of the launcher) is all that follows
    assert output.count("Traceback") <= 1 and "ChildFailedError" in output and "[rank1]" not in output
