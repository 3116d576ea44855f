"""The input pipelines: image files in, normalised batches on the training device out.

One factory, ``create_loader``, and one device prefetcher, ``DevicePrefetcher``. Three pipelines
(``TrainConfig.pipeline``), each with the same augmentation for training (resize to ``resize``, the
crop and flip of ``data.crops.sample_augmentation``) and the same resize for evaluation:

``"pil"``
    Workers open images with PIL and run the float transforms (``CocoMultiLabel`` with
    ``train_transform`` / ``test_transform``); float32 batches cross to the device. Simple, and what
    the notebooks and the CPU runs use; on a GPU machine its decoding is the bottleneck.
``"uint8"``
    Workers decode with libjpeg-turbo and augment *uint8* tensors (``data.JpegDecodeDataset``);
    batches cross as uint8 (4x fewer bytes) and are normalised on the device. The fastest feed
    measured so far (``docs/benchmarks.md``).
``"nvjpeg"``
    Workers only read the files and draw the augmentation; the main process decodes each batch with
    nvJPEG and augments it on the GPU (``data.GpuBatchTransform``). For machines with few CPU
    cores per GPU.
``"auto"``
    ``uint8`` on CUDA, ``pil`` elsewhere.

``create_loader`` returns a ``DeviceLoader``: it iterates ``(images, targets)`` already on the device
(on CUDA the next batch is staged on a side stream while the current step runs), and
``set_epoch(e)`` fixes epoch e's shuffling and augmentation.

Reproducibility: the order of epoch e is a permutation seeded by (seed, e); image i's crop and flip
in epoch e are drawn from Python's and torch's generators seeded by (seed, e, i), whichever worker
process loads it and whichever pipeline: the three pipelines cut the same boxes for a seed, every
pipeline repeats exactly on the CPU, and a run resumed at an epoch boundary sees the same images.
"""

from __future__ import annotations

import copy
import multiprocessing
import random
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from dbdgcn_lib.checks import BATCH_SIZE, IMAGE_SIZE, MAX_IMAGE_SIZE, SEED, WORKERS, integer
from dbdgcn_lib.data import (
    REFETCH,
    CocoMultiLabel,
    CorruptImageError,
    DatasetError,
    GpuBatchTransform,
    JpegBytesDataset,
    JpegDecodeDataset,
    PilImages,
    collate_bytes,
    decode_jpegs,
    ensure_synthetic,
    normalize_batch,
    test_transform,
    train_transform,
)
from dbdgcn_lib.paths import default_data_root
from dbdgcn_lib.training import distributed
from dbdgcn_lib.training.config import TrainConfig

PIPELINES = ("pil", "uint8", "nvjpeg")


def resolve_pipeline(pipeline: str, device: torch.device) -> str:
    """``"auto"`` -> ``"uint8"`` on CUDA, ``"pil"`` elsewhere; ``"nvjpeg"`` needs CUDA to be fast but
    runs anywhere (the tests run it on the CPU)."""
    if pipeline == "auto":
        return "uint8" if device.type == "cuda" else "pil"
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline {pipeline!r}; choose from auto, {', '.join(PIPELINES)}")
    return pipeline


def to_device(batch, device: torch.device, channels_last: bool = False):
    """``(images, targets)`` to ``device`` (asynchronously from pinned memory), images as the model wants."""
    images, targets = batch
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    images = images.to(device, non_blocking=True, memory_format=memory_format)
    return images, targets.to(device, non_blocking=True)


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of image ``index``'s augmentation in ``epoch``."""
    return (seed * 1_000_003 + epoch) * 10_000_019 + index


class SeededItems(Dataset):
    """Wraps a dataset so that item ``(epoch, i)`` draws its random augmentation from torch's and
    Python's generators seeded by (seed, epoch, i): the same crops and flips in any worker process,
    and after a resume. The callers' generator states are restored afterwards."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        seed = item_seed(self.seed, epoch, index)
        state = random.getstate()
        random.seed(seed)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(seed)  # the CPU generator only, never CUDA's
                return self.dataset[index]
        finally:
            random.setstate(state)


class SkipCorrupt(Dataset):
    """Wraps a dataset whose items are ``(image, target, ...)`` so that an image that cannot be read
    does not stop the run. Training (``leave_out=False``): the next readable image takes its place
    (the epoch keeps its length and every label stays its image's). Evaluation (``leave_out=True``):
    the image is left out: the next readable image stands in for its shape, with a target of NaN,
    and ``steps.predict_loader`` drops the rows whose target is NaN, so the metrics cover only
    readable images and say how many were left out. Each unreadable image is warned about, naming
    the file, and counted in ``skipped``, a counter shared with the DataLoader's worker processes."""

    def __init__(self, dataset: Dataset, *, leave_out: bool = False):
        self.dataset, self.leave_out = dataset, leave_out
        self.skipped = multiprocessing.get_context().Value("q", 0)

    def __len__(self) -> int:
        return len(self.dataset)

    def record(self, err: CorruptImageError) -> None:
        """Count and warn about one unreadable image."""
        with self.skipped.get_lock():
            self.skipped.value += 1
        warnings.warn(f"{'leaving out' if self.leave_out else 'skipping'}: {err}", stacklevel=3)

    def __getitem__(self, index: int):
        for attempt in range(len(self)):
            try:
                item = self.dataset[(index + attempt) % len(self)]
            except CorruptImageError as err:
                if attempt == 0 or not self.leave_out:  # a stand-in's own turn counts it once
                    self.record(err)
                continue
            if self.leave_out and attempt > 0:
                item = (item[0], left_out_target(item[1]), *item[2:])
            return item
        raise CorruptImageError("no readable image in the split: every file failed; fetch the images again")


def left_out_target(target: torch.Tensor) -> torch.Tensor:
    """The target that marks an evaluation image as left out (unreadable): all NaN."""
    return torch.full_like(target, float("nan"))


def _stand_ins(
    images: list[torch.Tensor | None], targets: torch.Tensor, failed: list[int], *, leave_out: bool
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The ``nvjpeg`` pipeline's ``SkipCorrupt`` for images that only fail in the main process's decoder:
    each failed slot takes a readable image of the same batch, with its target (training) or with a
    NaN target (evaluation: left out)."""
    readable = [i for i, image in enumerate(images) if image is not None]
    if not readable:
        raise CorruptImageError("no readable image in a whole batch; fetch the images again")
    images, targets = list(images), targets.clone()
    for i in failed:
        j = min(readable, key=lambda k: (k - i) % len(images))  # the next readable one, as SkipCorrupt
        images[i] = images[j]
        targets[i] = left_out_target(targets[j]) if leave_out else targets[j]
    return images, targets


class EpochSampler(Sampler):
    """Yields ``(epoch, index)``: a ``DistributedSampler`` (this rank's shard; the whole dataset for
    one process) shuffled by (seed, epoch), each index tagged with the epoch for ``SeededItems``.
    ``endless=True`` runs on through epoch after epoch (benchmarks never pay a new epoch's start)."""

    def __init__(self, dataset: Dataset, *, seed: int, dist: distributed.DistInfo, endless: bool = False):
        self.inner = DistributedSampler(
            dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed, drop_last=True
        )
        self.epoch, self.endless = 0, endless

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __iter__(self):
        epoch = self.epoch
        while True:
            self.inner.set_epoch(epoch)
            yield from ((epoch, index) for index in self.inner)
            if not self.endless:
                return
            epoch += 1

    def __len__(self) -> int:
        return len(self.inner) if not self.endless else 2**62


def shm_prefetch_factor(batch_bytes: int, workers: int, wanted: int = 4) -> int:
    """Batches in flight per worker: ``wanted``, fewer where they would fill more than half of
    ``/dev/shm`` (worker processes hand their batches to the main process through it)."""
    try:
        free = shutil.disk_usage("/dev/shm").free
    except OSError:
        return wanted
    fits = int(free / 2 // max(1, batch_bytes * workers))
    return max(1, min(wanted, fits))


class DevicePrefetcher:
    """Iterate ``loader`` and turn each batch into device tensors with ``transform(batch) -> (x, y)``.

    On CUDA each batch is transformed on a side stream, and the next one is staged right after the
    current one is handed out, i.e. after the caller has queued its step on the main stream: the
    transfer and decoding of batch i+1 then overlap training step i instead of following it. The
    tensors are recorded on the consuming stream, so the caching allocator never reuses them early.
    """

    def __init__(
        self, loader: Iterable, transform: Callable, device: str | torch.device, *, overlap: bool = True
    ):
        self.loader, self.transform, self.device = loader, transform, torch.device(device)
        self.overlap = overlap and self.device.type == "cuda"

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        it = iter(self.loader)
        stream = torch.cuda.Stream(self.device) if self.overlap else None

        def stage():
            batch = next(it)
            if stream is None:
                return self.transform(batch)
            with torch.cuda.stream(stream):
                return self.transform(batch)

        try:
            nxt = stage()
        except StopIteration:
            return
        while True:
            if stream is not None:
                main = torch.cuda.current_stream(self.device)
                main.wait_stream(stream)
                for t in nxt:
                    t.record_stream(main)
            yield nxt
            try:
                nxt = stage()
            except StopIteration:
                return


class DeviceLoader:
    """Batches ``(images (B, 3, S, S) float32 normalised, targets (B, C))`` on ``device``.

    Wraps a ``DataLoader`` and the function that turns its host batches into device tensors
    (``DevicePrefetcher``). ``len()`` is batches per epoch; ``sampler`` and ``batch_size`` are the
    DataLoader's; ``pipeline`` names the pipeline.
    """

    def __init__(
        self,
        loader: DataLoader,
        transform: Callable,
        device: torch.device,
        *,
        pipeline: str,
        skipping: SkipCorrupt | None = None,
    ):
        self.loader, self.transform, self.device, self.pipeline = loader, transform, device, pipeline
        self.skipping = skipping

    @property
    def skipped(self) -> int:
        """Unreadable images replaced so far (with ``skip_corrupt``; 0 otherwise)."""
        return 0 if self.skipping is None else int(self.skipping.skipped.value)

    @property
    def sampler(self):
        return self.loader.sampler

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        """Shuffle and augment as epoch ``epoch`` (training loaders)."""
        if isinstance(self.loader.sampler, EpochSampler):
            self.loader.sampler.set_epoch(epoch)

    def __iter__(self):
        return iter(DevicePrefetcher(self.loader, self.transform, self.device))


def create_loader(
    source,
    *,
    pipeline: str = "auto",
    train: bool,
    batch_size: int,
    workers: int,
    device: torch.device,
    image_size: int,
    resize: int | None = None,
    crop: str = "random",
    channels_last: bool = False,
    seed: int = 0,
    dist: distributed.DistInfo | None = None,
    endless: bool = False,
    prefetch_factor: int | None = None,
    skip_corrupt: bool = False,
) -> DeviceLoader:
    """A ``DeviceLoader`` over ``source`` with the chosen ``pipeline`` (see the module).

    ``source``: a ``CocoMultiLabel``, or anything with ``image_paths`` and ``labels`` (N, C) such as
    ``data.ImageFiles``. ``pil`` uses a copy of a ``CocoMultiLabel`` (or ``data.PilImages``) with
    ``train_transform`` / ``test_transform`` at ``image_size``.

    Training: seeded shuffling and augmentation (``EpochSampler`` + ``SeededItems``), the incomplete
    last batch dropped (BatchNorm needs 2+ images); ``endless=True`` runs on across epochs.
    Evaluation: dataset order, every image once (under DDP, ``DistributedSampler`` shards;
    ``steps.predict_loader`` removes its padding). ``prefetch_factor``: batches in flight per worker
    (default 4, fewer where ``/dev/shm`` is small). ``skip_corrupt``: see ``SkipCorrupt``: training
    replaces an unreadable image, evaluation leaves it out (an image that only nvJPEG refuses is
    decoded on the CPU; one that no decoder reads is handled in the main process the same way).
    """
    for name, value, rule in (
        ("batch_size", batch_size, BATCH_SIZE),
        ("workers", workers, WORKERS),
        ("image_size", image_size, IMAGE_SIZE),
        ("resize", resize, integer(image_size, 2 * MAX_IMAGE_SIZE, optional=True)),
        ("seed", seed, SEED),
    ):
        rule.check(name, value)
    pipeline = resolve_pipeline(pipeline, device)
    dist = dist or distributed.DistInfo()
    collate_fn = None
    if pipeline == "pil":
        pil_transform = train_transform(image_size, resize, crop) if train else test_transform(image_size)
        if isinstance(source, CocoMultiLabel):
            items = copy.copy(source)  # the caller's dataset keeps its own transform
            items.transform = pil_transform
        else:
            items = PilImages(source.image_paths, source.labels, pil_transform)

        def transform(batch):
            return to_device(batch, device, channels_last)

        item_bytes = 4 * 3 * image_size**2
    else:
        kind = JpegDecodeDataset if pipeline == "uint8" else JpegBytesDataset
        refetch = getattr(source, "refetch", REFETCH)  # a COCO split names its fetch command
        items = kind(
            source.image_paths, source.labels, image_size=image_size, train=train, resize=resize, crop=crop,
            refetch=refetch,
        )  # fmt: skip
        if pipeline == "uint8":

            def transform(batch):
                x, y = batch
                x = x.to(device, non_blocking=True)
                x = normalize_batch(x, channels_last=channels_last)
                return x, y.to(device, non_blocking=True)

            item_bytes = 3 * image_size**2
        else:
            collate_fn = collate_bytes
            gpu = GpuBatchTransform(image_size, resize=resize, device=device, channels_last=channels_last)

            def transform(batch):
                data, y, paths, boxes, flips = batch
                failed: list[int] = []

                def on_error(i: int, err: CorruptImageError) -> None:
                    skipping.record(err)
                    failed.append(i)

                report = on_error if skipping is not None else None
                images = decode_jpegs(data, device, names=paths, on_error=report, refetch=refetch)
                if failed:
                    images, y = _stand_ins(images, y, failed, leave_out=not train)
                x = gpu.augment(images, boxes=boxes if train else None, flips=flips)
                return x, y.to(device, non_blocking=True)

            item_bytes = 200_000  # a COCO JPEG's bytes

    skipping = None
    if skip_corrupt:
        items = skipping = SkipCorrupt(items, leave_out=not train)
    if train:
        sampler = EpochSampler(items, seed=seed, dist=dist, endless=endless)
        items = SeededItems(items, seed)
    else:
        sampler = (
            DistributedSampler(items, dist.world_size, dist.rank, shuffle=False) if dist.enabled else None
        )
    if workers > 0 and prefetch_factor is None:
        prefetch_factor = shm_prefetch_factor(batch_size * item_bytes, workers)
    loader = DataLoader(
        items,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=prefetch_factor if workers > 0 else None,
        drop_last=train,
        generator=torch.Generator().manual_seed(seed),  # worker base seeds, away from the global RNG
    )
    return DeviceLoader(loader, transform, device, pipeline=pipeline, skipping=skipping)


# ---------------------------------------------------------------------------------------------
# A run's data, from its TrainConfig
# ---------------------------------------------------------------------------------------------


def data_root(config: TrainConfig) -> Path:
    """``config.data``, else the default place: ``<data root>/coco`` or the embedded set (made if missing)."""
    if config.data is not None:
        return Path(config.data)
    if config.dataset == "synthetic":
        return ensure_synthetic()
    return default_data_root() / "coco"


def open_split(config: TrainConfig, split: str) -> CocoMultiLabel:
    """One split of the run's dataset; a split without images is refused (``DatasetError``)."""
    root = data_root(config)
    dataset = CocoMultiLabel(root, split, image_size=config.image_size)
    if len(dataset) == 0:
        raise DatasetError(
            f"split {split!r} under {root} has no labelled images; check --data and the split names"
        )
    return dataset


def build_datasets(config: TrainConfig) -> tuple[CocoMultiLabel, CocoMultiLabel]:
    """The training and validation splits; both must exist, hold images and name the same classes."""
    train, val = open_split(config, config.train_split), open_split(config, config.val_split)
    if list(train.categories) != list(val.categories):
        raise DatasetError(
            f"{config.train_split} and {config.val_split} under {data_root(config)} have different classes"
        )
    return train, val


def loader_for(
    config: TrainConfig,
    dataset: CocoMultiLabel,
    *,
    train: bool,
    device: torch.device,
    dist: distributed.DistInfo | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
) -> DeviceLoader:
    """``create_loader`` with the settings of ``config`` (pipeline, sizes, crop, workers, seed)."""
    if batch_size is None:
        batch_size = config.batch_size if train else config.eval_batch_size or 2 * config.batch_size
    return create_loader(
        dataset,
        pipeline=config.pipeline,
        train=train,
        batch_size=batch_size,
        workers=config.workers if workers is None else workers,
        device=device,
        image_size=config.image_size,
        resize=config.resize,
        crop=config.crop,
        channels_last=config.channels_last,
        seed=config.seed,
        dist=dist,
        skip_corrupt=config.skip_corrupt,
    )
