"""The notebooks' in-memory teaching runs: a trained tiny model in seconds on a CPU.

The notebooks need a model that has *learned something* (activation maps that light up on the
object, dynamic graphs that differ from image to image) without the full ``Trainer`` machinery and
its minutes. ``quick_train`` decodes the synthetic images once into memory at a small side
(96 px by default), then trains the tiny backbone with Adam and random horizontal flips, through
the library's one ``steps.train_step``::

    run = quick_train("db_dgcn", epochs=3)          # about half a minute on one CPU core
    run.history[-1]["val_mAP"]                      # well above the random baseline
    out = run.predict("rare")                       # logits, activation maps, A_d, V for a split

Everything is seeded (initialisation, batch order, flips), so a run repeats exactly on the same
machine and thread count. It runs on one CPU thread by default: for tensors this small a second
thread gains little, and on a shared or busy CPU torch's thread pool can make a step many times
slower. Independent runs (an ablation's variants and seeds) go to one worker process per core with
``quick_train_many``. This is a teaching run, not the paper's recipe (``Trainer`` with a preset is).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dbdgcn_lib.checks import (
    EMBED_DIM,
    IMAGE_SIZE,
    MAX_BATCH_SIZE,
    PROBABILITY,
    SEED,
    THREADS,
    Rule,
    boolean,
    choice,
    integer,
    number,
)
from dbdgcn_lib.data import CocoMultiLabel, ensure_synthetic, read_generator, test_transform
from dbdgcn_lib.graph import ADJACENCY_CONVENTIONS, cooccurrence, static_adjacency
from dbdgcn_lib.metrics import multilabel_metrics
from dbdgcn_lib.models import (
    BACKBONES,
    VARIANTS,
    ModelConfig,
    MultiLabelGCN,
    attach_cooccurrence_prior,
    build_model,
    check_switches,
    uses_cooccurrence_prior,
)
from dbdgcn_lib.paths import default_runs_root, display_path
from dbdgcn_lib.progress import progress_bar, resolve_progress
from dbdgcn_lib.training.checkpoint import checksum
from dbdgcn_lib.training.feature_split import FeatureSplit
from dbdgcn_lib.training.steps import forward_scores, train_step
from dbdgcn_lib.utils import atomic_write, seed_everything

__all__ = ["QuickRun", "SplitTensors", "quick_train", "quick_train_many", "split_tensors"]


@contextlib.contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class SplitTensors:
    """One split decoded into memory: ``images`` (N, 3, S, S) float32 (ImageNet-normalised),
    ``targets`` (N, C) float32 0/1, and the ``dataset`` they came from (names, ids, paths)."""

    images: torch.Tensor
    targets: torch.Tensor
    dataset: CocoMultiLabel


_CACHE: dict[tuple[str, str, int, int | None], SplitTensors] = {}

#: The memory format of the quick runs' convolutions: on one CPU thread a training step of the tiny
#: backbone at 96 px is about 1.4x faster in channels_last than in NCHW.
CHANNELS_LAST = torch.channels_last


def split_tensors(
    root: str | os.PathLike | None = None,
    split: str = "train",
    image_size: int = 96,
    limit: int | None = None,
) -> SplitTensors:
    """Decode ``split`` (all images, or the first ``limit``) at ``image_size`` (test transform: resize
    and normalise). Cached per process, so several runs in one notebook decode once: about 1 ms
    per 128 px image on one CPU core."""
    IMAGE_SIZE.check("image_size", image_size)
    integer(0, optional=True).check("limit", limit)
    root = ensure_synthetic() if root is None else Path(root)
    key = (str(Path(root).resolve()), split, image_size, limit)
    if key not in _CACHE:
        dataset = CocoMultiLabel(root, split, transform=test_transform(image_size))
        n = len(dataset) if limit is None else min(limit, len(dataset))
        with _threads(1):  # per-image tensor ops are tiny: threads only add overhead
            images = [dataset[i][0] for i in range(n)]
        images = torch.stack(images) if n else torch.empty(0, 3, image_size, image_size)
        targets = torch.from_numpy(dataset.labels[:n].astype(np.float32))
        _CACHE[key] = SplitTensors(images, targets, dataset)
    return _CACHE[key]


@dataclass
class QuickRun:
    """What ``quick_train`` returns: the trained ``model`` (in eval mode), its ``class_names``, the
    training label statistics ``nums`` / ``counts``, the static prior ``adjacency`` it was given
    (None for ``resnet``, the learned graph and the query heads), ``history`` (one dict per
    epoch: ``epoch``, ``loss`` (training), ``val_loss``, ``val_mAP``) and ``cpu_seconds``, the CPU
    time its training took where it was trained (kept in the run cache; None for a cache file written
    before it was recorded)."""

    model: MultiLabelGCN
    class_names: list[str]
    image_size: int
    root: Path
    nums: np.ndarray
    counts: np.ndarray
    adjacency: np.ndarray | None
    history: list[dict] = field(default_factory=list)
    threads: int | None = 1
    outputs: dict[str, dict] = field(default_factory=dict, repr=False)
    cpu_seconds: float | None = None

    def tensors(self, split: str) -> SplitTensors:
        """The images and targets of ``split`` at this run's image size."""
        return split_tensors(self.root, split, self.image_size)

    @torch.no_grad()
    def predict(self, images, batch_size: int = 128) -> dict[str, torch.Tensor]:
        """The model's outputs with intermediates for a split name or an (N, 3, S, S) tensor,
        concatenated over batches: ``logits``, ``s_r``, ``s_m``, ``activation_maps``,
        ``dynamic_adjacency``, ``category_features`` (entries the variant lacks are None; the query
        heads add their attention maps, ``LabelQueryHead.forward``). A split's
        outputs are computed once and kept (``outputs``)."""
        if isinstance(images, str) and images in self.outputs:
            return self.outputs[images]
        x = self.tensors(images).images if isinstance(images, str) else images
        self.model.eval()
        parts: dict[str, list] = {}
        with _threads(self.threads):
            for start in range(0, len(x), batch_size):
                batch = x[start : start + batch_size].contiguous(memory_format=CHANNELS_LAST)
                out = forward_scores(self.model, batch, amp="none", intermediates=True)
                for key, value in out.items():
                    parts.setdefault(key, []).append(value)
        result = {k: None if v[0] is None else torch.cat(v) for k, v in parts.items()}
        if isinstance(images, str):
            self.outputs[images] = result
        return result

    def evaluate(self, split: str = "val") -> dict:
        """``multilabel_metrics`` of the final score s on ``split`` (percent)."""
        probs = self.predict(split)["logits"].sigmoid().numpy()
        return multilabel_metrics(probs, self.tensors(split).targets.numpy(), class_names=self.class_names)


def quick_train(
    variant: str = "db_dgcn",
    *,
    root: str | os.PathLike | None = None,
    image_size: int = 96,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 3e-3,
    embed_dim: int = 64,
    backbone: str = "tiny",
    tau: float = 0.4,
    p: float = 0.2,
    convention: str = "paper",
    train_images: int | None = None,
    seed: int = 0,
    threads: int | None = 1,
    verbose: bool = False,
    progress: bool | None = None,
    cache: bool | str | os.PathLike = False,
    feature_split: bool = False,
    **switches,
) -> QuickRun:
    """Train ``variant`` on the embedded set's ``train`` split for ``epochs`` and return a ``QuickRun``.

    Adam at ``lr`` on every parameter, BCE with logits on the final score (``steps.train_step``, no
    clipping), random horizontal flips, batches of ``batch_size`` (the last incomplete one dropped:
    BatchNorm needs 2+ images). The co-occurrence prior (``static_adjacency(nums, counts, tau, p,
    convention)`` of the training labels) is set whenever the variant uses it. ``train_images``
    trains on the first N images only; ``switches`` go to ``build_model`` (e.g. ``aux_branch=False``).
    ``feature_split=True`` trains with Singh et al.'s feature split against contextual bias
    (``training.FeatureSplit.from_labels`` of the training labels). ``root`` may be a dataset with a
    background swap (``data.ensure_synthetic(swap=BackgroundSwap(0.2))``): its val, rare and plain
    splits are the default's. ``threads``: torch threads during the run (None leaves torch's setting
    alone). ``verbose`` prints one line per epoch; ``progress`` shows a bar over the steps with the time
    left (None: in a notebook). ``cache``: a folder (True: ``<runs>/quick``) where the trained run is
    kept, keyed by every argument and the dataset's generator record, so that another notebook asking
    for the same run loads it instead of training it again (the same weights and history).
    """
    _check_arguments(locals())
    check_switches(switches)
    root = ensure_synthetic() if root is None else Path(root)
    settings = dict(variant=variant, image_size=image_size, epochs=epochs, batch_size=batch_size, lr=lr)
    settings.update(embed_dim=embed_dim, backbone=backbone, tau=tau, p=p, convention=convention, seed=seed)
    settings.update(train_images=train_images, switches=switches)
    if feature_split:  # absent when off, so that the cache keys of earlier runs still match
        settings.update(feature_split=True)
    cache_file = _cache_file(cache, root, settings)
    if cache_file is not None and cache_file.is_file():
        run = _load_cached(cache_file, root, threads)
        if run is not None:
            if verbose:
                print(f"loaded the trained run from {display_path(cache_file)}")
            return run
    train = split_tensors(root, "train", image_size, train_images)
    val = split_tensors(root, "val", image_size)
    class_names = list(train.dataset.categories)
    n_train = len(train.images)
    if n_train < batch_size:
        raise ValueError(f"{n_train} training images make no full batch of {batch_size}")
    labels = train.targets.numpy().astype(np.uint8)
    nums, counts = cooccurrence(labels)
    split = FeatureSplit.from_labels(labels) if feature_split else None
    with _threads(threads):
        started = time.process_time()
        seed_everything(seed)
        model = build_model(variant, len(class_names), backbone, False, embed_dim=embed_dim, **switches)
        model.to(memory_format=CHANNELS_LAST)
        adjacency = attach_cooccurrence_prior(model, labels, tau=tau, p=p, convention=convention)
        run = QuickRun(model, class_names, image_size, root, nums, counts, adjacency, threads=threads)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        steps_per_epoch = (n_train - batch_size) // batch_size + 1
        bar = progress_bar(total=epochs * steps_per_epoch, unit="step", enabled=resolve_progress(progress))
        for epoch in range(epochs):
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            model.train()
            order = torch.randperm(n_train, generator=generator)
            total, steps = 0.0, 0
            for start in range(0, n_train - batch_size + 1, batch_size):
                idx = order[start : start + batch_size]
                x, y = train.images[idx], train.targets[idx]
                flip = torch.rand(len(idx), generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x).contiguous(
                    memory_format=CHANNELS_LAST
                )
                loss = train_step(model, (x, y), optimizer, amp="none", grad_clip=None, feature_split=split)
                total, steps = total + loss.item(), steps + 1
                bar.update()
            model.eval()
            logits = run.predict(val.images)["logits"]
            row = {
                "epoch": epoch + 1,
                "loss": total / steps,
                "val_loss": F.binary_cross_entropy_with_logits(logits, val.targets).item(),
                "val_mAP": multilabel_metrics(
                    logits.sigmoid().numpy(), val.targets.numpy(), class_names=class_names
                )["mAP"],
            }
            run.history.append(row)
            if _epoch_listener is not None:
                _epoch_listener()
            if verbose:
                bar.write(  # above a terminal's bar, not through it
                    f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  val loss {row['val_loss']:.4f}  "
                    f"val mAP {row['val_mAP']:.1f}"
                )
        bar.close()
        run.cpu_seconds = time.process_time() - started
    model.eval()
    if cache_file is not None:
        _save_cached(cache_file, run, settings)
    return run


def _check_arguments(arguments: dict) -> None:
    """``quick_train``'s arguments, by the library's shared rules (``dbdgcn_lib.checks``)."""
    rules = {
        "variant": choice(VARIANTS),
        "image_size": IMAGE_SIZE,
        "epochs": integer(1, 10_000),
        "batch_size": integer(2, MAX_BATCH_SIZE, note="BatchNorm needs 2 images"),
        "lr": number(0, open_low=True),
        "embed_dim": EMBED_DIM,
        "backbone": choice(BACKBONES),
        "tau": PROBABILITY,
        "p": PROBABILITY,
        "convention": choice(ADJACENCY_CONVENTIONS),
        "train_images": integer(2, optional=True),
        "seed": SEED,
        "threads": THREADS.or_none(),
        "verbose": boolean(),
        "cache": Rule(lambda v: isinstance(v, bool | str | os.PathLike), "true, false or a folder"),
    }
    for name, rule in rules.items():
        rule.check(name, arguments[name])


def _cache_file(cache, root: Path, settings: dict) -> Path | None:
    if cache is False or cache is None:
        return None
    folder = default_runs_root() / "quick" if cache is True else Path(cache)
    key = json.dumps({**settings, "data": _data_identity(root)})
    return folder / f"{settings['variant']}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"


def _data_identity(root: Path) -> dict | None:
    """What a quick run's weights and history depend on in a generated dataset: the generator's
    version and seed, the train split's background swap, and the train and val splits (their sizes and
    image side). The rare and plain splits are only evaluated, so their sizes are left out. None for a
    dataset without ``generator.json``."""
    record = read_generator(root)
    if record is None:
        return None
    data = {k: record[k] for k in ("version", "seed", "swap") if k in record}
    data["size"] = {k: record.get("size", {}).get(k) for k in ("train", "val", "image_size")}
    return data


def _save_cached(path: Path, run: QuickRun, settings: dict) -> None:
    state = {
        "format": "dbdgcn-quick-run-1",
        "settings": json.dumps(settings),
        "model_config": run.model.config.to_dict(),
        "model": run.model.state_dict(),
        "history": run.history,
        "cpu_seconds": run.cpu_seconds,
    }
    state["checksum"] = checksum(state)
    with atomic_write(path, "wb") as f:
        torch.save(state, f)


def _load_cached(path: Path, root: Path, threads: int | None) -> QuickRun | None:
    """The run kept at ``path``, or None when the file is unreadable or damaged (it is then retrained)."""
    try:
        state = torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged cache file is retrained, never trusted
        return None
    if not isinstance(state, dict) or state.get("checksum") != checksum(state):
        return None
    settings = json.loads(state["settings"])
    model = MultiLabelGCN(ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    model.to(memory_format=CHANNELS_LAST).eval()
    train = split_tensors(root, "train", settings["image_size"], settings["train_images"])
    labels = train.targets.numpy().astype(np.uint8)
    nums, counts = cooccurrence(labels)
    adjacency = None
    if uses_cooccurrence_prior(model):
        adjacency = static_adjacency(
            nums, counts, tau=settings["tau"], p=settings["p"], convention=settings["convention"]
        )
    run = QuickRun(
        model, list(train.dataset.categories), settings["image_size"], root, nums, counts, adjacency
    )
    run.history, run.threads = list(state["history"]), threads
    run.cpu_seconds = state.get("cpu_seconds")
    return run


_DEFAULT_EPOCHS = quick_train.__kwdefaults__["epochs"]

#: Called after every epoch that quick_train trains: how quick_train_many counts epochs, in its worker
#: processes (through a queue) and in this one.
_epoch_listener: Callable[[], None] | None = None


def _report_epochs_to(epochs: queue.Queue) -> None:
    """Worker initializer of ``quick_train_many``: every trained epoch puts one item on ``epochs``."""
    global _epoch_listener
    _epoch_listener = lambda: epochs.put(1)  # noqa: E731


def _train_and_predict(job: dict) -> QuickRun:
    """One job of ``quick_train_many`` (in a worker process): train, then predict the asked splits."""
    job = dict(job)
    splits = job.pop("predict", ())
    run = quick_train(**job)
    for split in splits:
        run.predict(split)
    return run


def default_workers() -> int:
    """Worker processes for independent runs: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def quick_train_many(
    jobs: list[dict],
    *,
    workers: int | None = None,
    predict: tuple[str, ...] = (),
    progress: bool | None = None,
) -> list[QuickRun]:
    """Run independent ``quick_train`` jobs (keyword dicts, e.g. ``{"variant": "resnet", "seed": 1}``)
    in ``workers`` processes (default: the cores available), one thread each, and return their
    ``QuickRun``s in the order of ``jobs``, with the ``predict`` splits' outputs already computed.

    Every run is seeded and runs on one thread, so the results equal running the jobs one after
    another with ``threads=1`` (the test suite checks it). ``workers=1`` runs them here, in order.
    ``progress`` shows one bar over the epochs of all jobs, with the runs done and the time left
    (None: in a notebook).
    """
    global _epoch_listener
    integer(1, 256, optional=True).check("workers", workers)
    jobs = [{"threads": 1, **job, "predict": tuple(predict), "progress": False} for job in jobs]
    workers = min(len(jobs), default_workers() if workers is None else workers)
    if any(job.get("root") is None for job in jobs):
        default = ensure_synthetic()  # generated here once, not by several workers at the same time
        jobs = [{**job, "root": job.get("root") or default} for job in jobs]
    total = sum(job.get("epochs", _DEFAULT_EPOCHS) for job in jobs)
    bar = progress_bar(total=total, desc="training", unit="epoch", enabled=resolve_progress(progress))
    bar.set_postfix_str(f"0/{len(jobs)} runs")
    if workers == 1:
        runs = []
        _epoch_listener = bar.update
        try:
            for job in jobs:
                runs.append(_train_and_predict(job))
                bar.set_postfix_str(f"{len(runs)}/{len(jobs)} runs")
        finally:
            _epoch_listener = None
        bar.update(total - bar.n)  # runs loaded from a cache trained no epoch here
        bar.close()
        return runs
    # Workers start from a clean process (forkserver; spawn where there is none): a fork of a process
    # whose thread pools have run can hang in the child.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["dbdgcn_lib.training.quick"])
    epochs = context.Queue()
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_report_epochs_to, initargs=(epochs,)
    ) as pool:
        futures = [pool.submit(_train_and_predict, job) for job in jobs]
        pending, finished = set(futures), 0
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # an error surfaces here, with its own message
                finished += 1
            while True:
                try:
                    epochs.get_nowait()
                except queue.Empty:
                    break
                bar.update()
            if done:
                bar.set_postfix_str(f"{finished}/{len(jobs)} runs")
    bar.update(total - bar.n)  # epochs whose report had not arrived yet, and runs loaded from a cache
    bar.close()
    epochs.close()
    return [future.result() for future in futures]
