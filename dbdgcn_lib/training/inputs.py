"""The trainer's input pipelines: image files in, normalised batches on the training device out.

Three pipelines (``TrainConfig.pipeline``), each with ``train_transform``'s augmentation (resize to
512 x 512, random 448 crop, horizontal flip) for training and ``test_transform``'s resize for
evaluation:

``"pil"``
    Workers open images with PIL and run the float transforms (``CocoMultiLabel`` with
    ``train_transform`` / ``test_transform``); float32 batches cross to the device. Simple, and what
    the notebooks and the CPU smoke runs use. On a GPU machine it is the bottleneck: about 113 COCO
    images a second per CPU core (SPEC section 5).
``"uint8"``
    Workers decode with libjpeg-turbo and augment *uint8* tensors (``data.gpu.JpegDecodeDataset``);
    batches cross as uint8 (4x fewer bytes) and are normalised on the device. About 4x PIL's rate per
    core: the fastest feed measured on one H200 with 15 workers (``docs/benchmarks.md``).
``"nvjpeg"``
    Workers only read the files; the main process decodes each batch with nvJPEG and augments it on
    the GPU (``data.gpu.GpuBatchTransform``). For machines with few CPU cores per GPU.
``"auto"``
    ``uint8`` on CUDA, ``pil`` elsewhere.

``build_loader`` returns a ``DeviceLoader``: it iterates ``(images, targets)`` already on the device
(on CUDA the next batch is staged on a side stream while the current step runs), and
``set_epoch(e)`` fixes epoch e's shuffling and augmentation.

Reproducibility: the order of epoch e is a permutation seeded by (seed, e). ``pil`` and ``uint8``
draw image i's augmentation in epoch e from generators seeded by (seed, e, i) (torch's and
Python's), whichever worker process loads it; ``nvjpeg`` draws the crops of epoch e in the main
process, in batch order, from a generator seeded by (seed, e, rank). Every pipeline therefore
repeats exactly on the CPU, and a run resumed at an epoch boundary sees the same images and crops.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from dbdgcn_lib.data import CocoMultiLabel, test_transform, train_transform
from dbdgcn_lib.data import gpu as fast
from dbdgcn_lib.training import distributed
from dbdgcn_lib.training.config import PIPELINES


def resolve_pipeline(pipeline: str, device: torch.device) -> str:
    """``"auto"`` -> ``"uint8"`` on CUDA, ``"pil"`` elsewhere; ``"nvjpeg"`` needs CUDA to be fast but
    runs anywhere (the tests run it on the CPU)."""
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline {pipeline!r}; choose from {', '.join(PIPELINES)}")
    if pipeline == "auto":
        return "uint8" if device.type == "cuda" else "pil"
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
                torch.manual_seed(seed)
                return self.dataset[index]
        finally:
            random.setstate(state)


class EpochSampler(Sampler):
    """Yields ``(epoch, index)``: a ``DistributedSampler`` (this rank's shard; the whole dataset for
    one process) shuffled by (seed, epoch), each index tagged with the epoch for ``SeededItems``."""

    def __init__(self, dataset: Dataset, *, seed: int, dist: distributed.DistInfo):
        self.inner = DistributedSampler(
            dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed, drop_last=True
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, index) for index in self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    workers: int,
    device: torch.device,
    seed: int = 0,
    dist: distributed.DistInfo | None = None,
    collate_fn: Callable | None = None,
) -> DataLoader:
    """A DataLoader with worker processes, pinned memory on CUDA and persistent workers.

    Training: seeded shuffling and augmentation (``EpochSampler`` + ``SeededItems``), incomplete
    last batch dropped (BatchNorm needs 2+ images). Evaluation: dataset order, every image once
    (under DDP, ``DistributedSampler`` shards; ``predict_loader`` removes its padding).
    """
    dist = dist or distributed.DistInfo()
    if train:
        sampler = EpochSampler(dataset, seed=seed, dist=dist)
        dataset = SeededItems(dataset, seed)
    else:
        sampler = (
            DistributedSampler(dataset, dist.world_size, dist.rank, shuffle=False) if dist.enabled else None
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        drop_last=train,
        generator=torch.Generator().manual_seed(seed),  # worker base seeds, away from the global RNG
    )


class DeviceLoader:
    """Batches ``(images (B, 3, S, S) float32 normalised, targets (B, C))`` on ``device``.

    Wraps a ``DataLoader`` and the function that turns its host batches into device tensors; on CUDA
    batch i+1 is staged on a side stream while step i runs (``data.gpu.DevicePrefetcher``).
    ``len()`` is batches per epoch; ``sampler`` and ``batch_size`` are the DataLoader's.
    """

    def __init__(
        self,
        loader: DataLoader,
        transform: Callable,
        device: torch.device,
        *,
        pipeline: str,
        on_epoch: Callable[[int], None] | None = None,
    ):
        self.loader, self.transform, self.device = loader, transform, device
        self.pipeline, self.on_epoch = pipeline, on_epoch

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
        if self.on_epoch is not None:
            self.on_epoch(epoch)

    def __iter__(self):
        return iter(fast.DevicePrefetcher(self.loader, self.transform, self.device))


def build_loader(
    dataset: CocoMultiLabel,
    *,
    pipeline: str,
    train: bool,
    batch_size: int,
    workers: int,
    device: torch.device,
    image_size: int,
    resize: int | None = None,
    channels_last: bool = False,
    seed: int = 0,
    dist: distributed.DistInfo | None = None,
) -> DeviceLoader:
    """A ``DeviceLoader`` over a COCO-format split with the chosen ``pipeline`` (see the module).

    ``pil`` uses a copy of ``dataset`` with ``train_transform`` / ``test_transform`` at ``image_size``;
    ``uint8`` and ``nvjpeg`` read ``dataset.image_paths`` and ``dataset.labels``.
    """
    pipeline = resolve_pipeline(pipeline, device)
    dist = dist or distributed.DistInfo()
    on_epoch = None
    collate_fn = None
    if pipeline == "pil":
        items = copy.copy(dataset)  # the caller's dataset keeps its own transform
        items.transform = train_transform(image_size, resize) if train else test_transform(image_size)

        def transform(batch):
            return to_device(batch, device, channels_last)

    elif pipeline == "uint8":
        items = fast.JpegDecodeDataset.from_coco(dataset, image_size=image_size, train=train, resize=resize)
        transform = fast.cpu_loader_transform(device, channels_last=channels_last)
    elif pipeline == "nvjpeg":
        items = fast.JpegBytesDataset.from_coco(dataset)
        collate_fn = fast.collate_bytes
        batch_transform = fast.GpuBatchTransform(
            image_size, train=train, resize=resize, device=device, channels_last=channels_last
        )
        transform = fast.gpu_loader_transform(batch_transform)

        def on_epoch(epoch: int) -> None:
            batch_transform.rng.seed(item_seed(seed, epoch, dist.rank))

    loader = make_loader(
        items,
        batch_size,
        train=train,
        workers=workers,
        device=device,
        seed=seed,
        dist=dist,
        collate_fn=collate_fn,
    )
    return DeviceLoader(loader, transform, device, pipeline=pipeline, on_epoch=on_epoch)
