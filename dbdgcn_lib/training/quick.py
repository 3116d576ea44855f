"""A quick, seeded training run on the embedded dataset: a trained tiny model in seconds on a CPU.

The notebooks need a model that has *learned something* (activation maps that light up on the
object, dynamic graphs that differ from image to image) without the full ``Trainer`` machinery and
its minutes. ``quick_train`` decodes the synthetic images once into memory at a small side
(96 px by default), then trains the tiny backbone with Adam and random horizontal flips::

    run = quick_train("db_dgcn", epochs=3)          # about half a minute on one CPU core
    run.history[-1]["val_mAP"]                      # well above the random baseline
    out = run.predict("rare")                       # logits, activation maps, A_d, V for a split

Everything is seeded (initialisation, batch order, flips), so a run repeats exactly on the same
machine and thread count. It runs on one CPU thread by default: for tensors this small a second
thread gains little, and on a shared or busy CPU torch's thread pool can make a step many times
slower. This is a teaching run, not the paper's recipe (``training.Trainer`` with a preset is).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dbdgcn_lib.data import CocoMultiLabel, ensure_synthetic, test_transform
from dbdgcn_lib.graph import cooccurrence, static_adjacency
from dbdgcn_lib.metrics import multilabel_metrics
from dbdgcn_lib.models import MultiLabelGCN, build_model
from dbdgcn_lib.utils import seed_everything

__all__ = ["QuickRun", "SplitTensors", "quick_train", "split_tensors"]


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


def split_tensors(
    root: str | os.PathLike | None = None,
    split: str = "train",
    image_size: int = 96,
    limit: int | None = None,
) -> SplitTensors:
    """Decode ``split`` (all images, or the first ``limit``) at ``image_size`` (test transform: resize
    and normalise). Cached per process, so several runs in one notebook decode once: about 1 ms
    per 128 px image on one CPU core."""
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
    (None for ``resnet`` and the learned graph), and ``history`` (one dict per epoch:
    ``epoch``, ``loss``, ``val_mAP``)."""

    model: MultiLabelGCN
    class_names: list[str]
    image_size: int
    root: Path
    nums: np.ndarray
    counts: np.ndarray
    adjacency: np.ndarray | None
    history: list[dict] = field(default_factory=list)
    threads: int | None = 1

    def tensors(self, split: str) -> SplitTensors:
        """The images and targets of ``split`` at this run's image size."""
        return split_tensors(self.root, split, self.image_size)

    @torch.no_grad()
    def predict(self, images, batch_size: int = 128) -> dict[str, torch.Tensor]:
        """The model's outputs with intermediates for a split name or an (N, 3, S, S) tensor,
        concatenated over batches: ``logits``, ``s_r``, ``s_m``, ``activation_maps``,
        ``dynamic_adjacency``, ``category_features`` (entries the variant lacks are None)."""
        x = self.tensors(images).images if isinstance(images, str) else images
        self.model.eval()
        parts: dict[str, list] = {}
        with _threads(self.threads):
            for start in range(0, len(x), batch_size):
                out = self.model(x[start : start + batch_size], return_intermediates=True)
                for key, value in out.items():
                    parts.setdefault(key, []).append(value)
        return {k: None if v[0] is None else torch.cat(v) for k, v in parts.items()}

    def evaluate(self, split: str = "val") -> dict:
        """``multilabel_metrics`` of the final score s on ``split`` (percent)."""
        probs = self.predict(split)["logits"].sigmoid().numpy()
        return multilabel_metrics(probs, self.tensors(split).targets.numpy())


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
    train_images: int | None = None,
    seed: int = 0,
    threads: int | None = 1,
    verbose: bool = False,
    **switches,
) -> QuickRun:
    """Train ``variant`` on the embedded set's ``train`` split for ``epochs`` and return a ``QuickRun``.

    Adam at ``lr`` on every parameter, BCE with logits on the final score, random horizontal flips,
    batches of ``batch_size`` (the last incomplete one dropped: BatchNorm needs 2+ images). The
    co-occurrence prior (``static_adjacency(nums, counts, tau, p)`` of the training labels) is set
    whenever the variant uses it. ``train_images`` trains on the first N images only; ``switches``
    go to ``build_model`` (e.g. ``aux_branch=False``). ``threads``: torch threads during the run
    (None leaves torch's setting alone). ``verbose`` prints one line per epoch.
    """
    if epochs < 1 or batch_size < 2:
        raise ValueError("epochs must be >= 1 and batch_size >= 2")
    root = ensure_synthetic() if root is None else Path(root)
    train = split_tensors(root, "train", image_size, train_images)
    val = split_tensors(root, "val", image_size)
    class_names = list(train.dataset.categories)
    n_train = len(train.images)
    if n_train < batch_size:
        raise ValueError(f"{n_train} training images make no full batch of {batch_size}")
    nums, counts = cooccurrence(train.targets.numpy().astype(np.uint8))
    if variant != "resnet":
        switches.setdefault("embed_dim", embed_dim)
    with _threads(threads):
        seed_everything(seed)
        model = build_model(variant, len(class_names), backbone, False, **switches)
        adjacency = None
        if variant != "resnet" and model.config.static_graph == "cooccurrence":
            adjacency = static_adjacency(nums, counts, tau=tau, p=p)
            model.set_static_adjacency(adjacency)
        run = QuickRun(model, class_names, image_size, root, nums, counts, adjacency, threads=threads)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n_train, generator=generator)
            total, steps = 0.0, 0
            for start in range(0, n_train - batch_size + 1, batch_size):
                idx = order[start : start + batch_size]
                x, y = train.images[idx], train.targets[idx]
                flip = torch.rand(len(idx), generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
                loss = F.binary_cross_entropy_with_logits(model(x)["logits"], y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, steps = total + loss.item(), steps + 1
            model.eval()
            probs = run.predict(val.images)["logits"].sigmoid().numpy()
            row = {
                "epoch": epoch + 1,
                "loss": total / steps,
                "val_mAP": multilabel_metrics(probs, val.targets.numpy())["mAP"],
            }
            run.history.append(row)
            if verbose:
                print(f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  val mAP {row['val_mAP']:.1f}")
    model.eval()
    return run
