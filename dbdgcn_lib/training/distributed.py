"""Several GPUs with PyTorch DDP, launched by ``torchrun`` (no home-made engine).

``torchrun --nproc_per_node=4 -m dbdgcn_lib train --preset paper ...`` starts one process per GPU
and sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; ``init_distributed`` reads them. Each rank
trains on its shard (``DistributedSampler``), DDP averages the gradients, and for evaluation each
rank scores its shard and ``gather_predictions`` collects all of them before any metric is computed
(mAP is not an average of per-shard mAPs). Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> DistInfo:
    """Where ``torchrun``'s environment puts this process (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``),
    whether or not it has joined the process group; one process without it."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    return DistInfo(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(device_type: str = "cuda") -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (a no-op without it).

    Backend: NCCL for CUDA, gloo for the CPU. Returns the process's ``DistInfo``.
    """
    info = from_environment()
    if info.enabled and not dist.is_initialized():
        use_cuda = device_type == "cuda" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=info.rank, world_size=info.world_size)
    return info


def current() -> DistInfo:
    """The ``DistInfo`` of an initialised process group (single process otherwise)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: torch.Tensor) -> bool:
    """True when ``flag`` (a bool or int tensor) is set on any rank; one synchronisation."""
    flag = flag.to(torch.int32)
    if current().enabled:
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy ``src``'s buffers (BatchNorm running statistics) to every rank.

    DDP syncs buffers at the start of each forward, so after the last training step every rank
    holds the statistics of its own last batch: evaluate or save only after this call.
    """
    if current().enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, src)


def _all_gather_padded(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (N_r, ...) from every rank in rank order; N_r may differ between ranks."""
    world = dist.get_world_size()
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s.item()) for s in sizes]
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


def gather_predictions(tensors: dict[str, torch.Tensor], indices: torch.Tensor) -> dict[str, torch.Tensor]:
    """All ranks' rows, in dataset order, each dataset index once.

    ``tensors``: name -> (N_r, ...) rows this rank computed for the dataset ``indices`` (N_r,).
    ``DistributedSampler`` pads the last shard by repeating indices; the duplicates are dropped.
    Without a process group the rows are just put in index order.
    """
    indices = indices.to(next(iter(tensors.values())).device, torch.int64)
    if current().enabled:
        tensors = {name: _all_gather_padded(t) for name, t in tensors.items()}
        indices = _all_gather_padded(indices)
    unique, inverse = torch.unique(indices, return_inverse=True)
    # The first row that carries each index (duplicates are identical predictions of the same image).
    positions = torch.arange(indices.numel(), device=indices.device)
    first = torch.full_like(unique, indices.numel()).scatter_reduce(0, inverse, positions, reduce="amin")
    return {name: t[first] for name, t in tensors.items()}
