"""Writing the synthetic dataset: the objects of each image, the splits in COCO format, and the
entry points that make, read and reuse a dataset on disk.

Each image has its own random stream seeded by (seed, split, index), so a seed gives the same bytes
and a smaller size gives the first images of a bigger one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from dbdgcn_lib.checks import SEED
from dbdgcn_lib.data.synthetic.design import (
    CATEGORIES,
    GENERATOR_VERSION,
    LOOKALIKES,
    SCENES,
    SIZES,
    SPLITS,
    BackgroundSwap,
    SyntheticSize,
    alphabetical_names,
    generator_truth,
    presence_matrix,
    scene_probabilities,
)
from dbdgcn_lib.data.synthetic.draw import render_image
from dbdgcn_lib.paths import default_data_root, display_path

JPEG_QUALITY = 90


class SyntheticDatasetError(RuntimeError):
    """The synthetic dataset cannot be written where it was asked for."""


_SCENE_PROBABILITIES, _PRESENCE = scene_probabilities(), presence_matrix()


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one image: independent of every other image, except that plain image i
    reuses val image i's stream (same scene, objects, positions and sizes)."""
    source = "val" if split == "plain" else split
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(source), index]))


_SWAP_STREAM = 1  # tells the swap's stream of an image from the image's own


def _swapped_background(seed: int, index: int, scene: int, swap: BackgroundSwap | None):
    """``(background, its random stream)`` of train image ``index``: ``("scene", None)`` unless the
    swap takes it. The draws come from a stream of their own, so they depend on the image alone: an
    image swapped at one share is swapped, onto the same scene, at every larger share."""
    if swap is None:
        return "scene", None
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index("train"), index, _SWAP_STREAM]))
    taken = rng.random() < swap.share
    others = [k for k in range(len(SCENES)) if k != scene]
    other = others[int(rng.integers(len(others)))]
    if not taken:
        return "scene", None
    return ("plain", None) if swap.kind == "plain" else (SCENES[other].name, rng)


def _sample_objects(rng: np.random.Generator, rare: bool) -> tuple[int, list[int], list[int]]:
    """Scene index, present category indices (``CATEGORIES`` order) and the out-of-scene ones."""
    scene = int(rng.choice(len(SCENES), p=_SCENE_PROBABILITIES))
    q = _PRESENCE[scene]
    present = [int(k) for k in np.flatnonzero(rng.random(len(CATEGORIES)) < q)]
    intruders: list[int] = []
    if rare:
        lookalike = {name for pair in LOOKALIKES for name in pair}
        candidates = [k for k, c in enumerate(CATEGORIES) if q[k] == 0 and c.name not in lookalike]
        intruders = [int(candidates[int(rng.integers(len(candidates)))])]
    return scene, present, intruders


def sample_labels(
    count: int, *, split: str = "train", seed: int = 0, names: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The scenes and labels of the first ``count`` images of ``split``, exactly as ``make_synthetic``
    writes them, without drawing (fast: for studying the label statistics); ``plain`` gives ``val``'s.

    Returns ``(scenes (N,) int64 indices into SCENES, labels (N, C) uint8)``, columns in ``names``
    order (default alphabetical).
    """
    names = alphabetical_names() if names is None else names
    column = [names.index(c.name) for c in CATEGORIES]
    scenes = np.zeros(count, dtype=np.int64)
    labels = np.zeros((count, len(names)), dtype=np.uint8)
    for index in range(count):
        scene, present, intruders = _sample_objects(_image_rng(seed, split, index), rare=split == "rare")
        scenes[index] = scene
        labels[index, [column[k] for k in present + intruders]] = 1
    return scenes, labels


def _write_split(
    root: Path,
    split: str,
    count: int,
    image_size: int,
    seed: int,
    progress: bool,
    swap: BackgroundSwap | None = None,
) -> dict[str, int]:
    from tqdm.auto import tqdm

    split_index = SPLITS.index(split)
    image_dir = root / split
    image_dir.mkdir(parents=True)
    images, annotations = [], []
    first_id = 1 + split_index * 1_000_000  # unique across splits, as in COCO
    for index in tqdm(range(count), desc=split, disable=not progress, leave=False):
        rng = _image_rng(seed, split, index)
        scene, present, intruders = _sample_objects(rng, rare=split == "rare")
        background, background_rng = "scene", None
        if split == "plain":
            background = "plain"
        elif split == "train":
            background, background_rng = _swapped_background(seed, index, scene, swap)
        image, instances = render_image(
            rng,
            scene,
            sorted(present + intruders),
            image_size,
            background=background,
            background_rng=background_rng,
        )
        image_id = first_id + index
        file_name = f"synthetic_{split}_{index:06d}.jpg"
        image.save(image_dir / file_name, "JPEG", quality=JPEG_QUALITY)
        entry = {"id": image_id, "file_name": file_name, "width": image_size, "height": image_size}
        entry["scene"] = SCENES[scene].name
        if split == "rare":
            entry["out_of_scene"] = [CATEGORIES[k].name for k in intruders]
        if background != "scene":
            entry["background"] = background
        images.append(entry)
        for k, (x, y, w, h) in instances:
            x, y, w, h = (round(v, 2) for v in (x, y, w, h))
            annotations.append(
                {
                    "id": len(annotations) + first_id,
                    "image_id": image_id,
                    "category_id": CATEGORIES[k].id,
                    "bbox": [x, y, w, h],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                }
            )
    coco = {
        "info": {"description": f"dbdgcn_lib synthetic scenes, split {split}", "version": GENERATOR_VERSION},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in CATEGORIES],
    }
    (root / "annotations").mkdir(exist_ok=True)
    with open(root / "annotations" / f"instances_{split}.json", "w") as f:
        json.dump(coco, f, separators=(",", ":"))
    return {"images": len(images), "annotations": len(annotations)}


def _resolve_size(size: str | SyntheticSize) -> tuple[SyntheticSize, str | None]:
    if isinstance(size, SyntheticSize):
        return size, None
    if size not in SIZES:
        raise ValueError(f"unknown synthetic size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size], size


def make_synthetic(
    root: str | os.PathLike,
    *,
    size: str | SyntheticSize = "default",
    seed: int = 0,
    progress: bool = False,
    swap: BackgroundSwap | None = None,
) -> Path:
    """Write the synthetic dataset to ``root`` and return ``root`` as a Path.

    ``size`` is ``"tiny"`` (48/16/8/16 images: unit tests), ``"default"`` (2000/500/1000/500) or a
    ``SyntheticSize``; images are 128 x 128 JPEGs unless the size says otherwise. ``swap`` (a
    ``BackgroundSwap``) draws a share of the train images on other backgrounds; their image entries
    name it (``"background": "beach"`` or ``"plain"``). The set is built in
    a sibling temporary folder and moved into place at the end, so an interrupted run never leaves a
    half-written dataset. An existing synthetic dataset at ``root`` is replaced, as long as it holds
    only the generator's files; any other non-empty folder, or a set with files of yours added, is
    left alone (``SyntheticDatasetError``).
    """
    spec, size_name = _resolve_size(size)
    SEED.check("seed", seed)
    if swap is not None and not isinstance(swap, BackgroundSwap):
        raise TypeError(f"swap must be a BackgroundSwap or None, got {type(swap).__name__}")
    target = Path(root).resolve()
    if target.exists() and any(target.iterdir()):
        if not (target / "generator.json").is_file():
            raise SyntheticDatasetError(
                f"{root} is not empty and holds no synthetic dataset (no generator.json); "
                "choose another --root or empty it"
            )
        others = foreign_files(target)
        if others:
            shown = ", ".join(str(Path(root) / name) for name in others[:3])
            more = f" and {len(others) - 3} more" if len(others) > 3 else ""
            raise SyntheticDatasetError(
                f"{root} holds files the generator did not write ({shown}{more}); move them out before "
                "making the set again there, or choose another --root"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        counts = {}
        for split in SPLITS:
            counts[split] = _write_split(
                staging, split, getattr(spec, split), spec.image_size, seed, progress, swap
            )
        truth = generator_truth(spec, seed, size_name, swap)
        truth["counts"] = counts
        (staging / "generator.json").write_text(json.dumps(truth, indent=1) + "\n")
        if target.exists():
            retired = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Path(root)


#: The files ``make_synthetic`` writes (and the label cache reading them adds), relative to the root.
_GENERATED = re.compile(
    r"generator\.json|annotations/instances_\w+\.json|annotations/\.\.?labels_\w+\.npz(\.[^/]*\.tmp)?"
    r"|(?P<split>\w+)/synthetic_(?P=split)_\d+\.jpg"
)


def foreign_files(root: str | os.PathLike) -> list[str]:
    """The files under ``root`` that the generator did not write (paths relative to ``root``, sorted):
    what replacing the set there would destroy."""
    root = Path(root)
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            relative = (Path(folder) / name).relative_to(root).as_posix()
            if not _GENERATED.fullmatch(relative):
                found.append(relative)
    return sorted(found)


def describe_set(truth: dict) -> str:
    """``size tiny (train 48, val 16, rare 8, plain 16), seed 0`` from a ``generator.json``: the counts
    too, since a named size's counts can change between versions of the library."""
    counts = ", ".join(f"{k} {v}" for k, v in (truth.get("size") or {}).items() if k != "image_size")
    size = f"{truth['size_name']} ({counts})" if truth.get("size_name") else counts
    swap = truth.get("swap")
    swapped = f", {100 * swap['share']:g}% of train on {swap['kind']} backgrounds" if swap else ""
    return f"size {size}, seed {truth.get('seed')}{swapped}, generator version {truth.get('version')}"


def read_generator(root: str | os.PathLike) -> dict | None:
    """The parsed ``generator.json`` of a synthetic dataset, or None where there is none (or it is
    unreadable)."""
    try:
        return json.loads((Path(root) / "generator.json").read_text())
    except (OSError, ValueError):
        return None


def ensure_synthetic(
    root: str | os.PathLike | None = None,
    size: str | SyntheticSize = "default",
    *,
    seed: int = 0,
    swap: BackgroundSwap | None = None,
) -> Path:
    """Return ``root``, generating the dataset first when the folder is missing or empty. The default
    ``root`` is ``default_data_root() / "synthetic"``, or ``.../synthetic-swap20`` (``swap.name``) for a
    swapped train split.

    A folder that holds another set (made with another size, seed, background swap or generator
    version) is never replaced behind your back: ``SyntheticDatasetError`` names the folder, what it
    holds, and the command that replaces it."""
    if root is None:
        root = default_data_root() / ("synthetic" if swap is None else f"synthetic-{swap.name}")
    root = Path(root)
    spec, size_name = _resolve_size(size)
    SEED.check("seed", seed)
    if swap is not None and not isinstance(swap, BackgroundSwap):
        raise TypeError(f"swap must be a BackgroundSwap or None, got {type(swap).__name__}")
    truth = read_generator(root)
    wanted = {
        "version": GENERATOR_VERSION,
        "seed": seed,
        "size": asdict(spec),
        "size_name": size_name,
        "swap": None if swap is None else asdict(swap),
    }
    if truth is not None and all(truth.get(k) == wanted[k] for k in ("version", "seed", "size", "swap")):
        return root
    if truth is not None:
        shown = display_path(root)
        command = f"python -m dbdgcn_lib data synthetic --root {shown}"
        if size_name is None or swap is not None:
            replace = f"remove {shown} (it is made again on first use) or choose another folder"
        else:
            command += (f" --size {size_name}" if size_name != "default" else "") + (
                f" --seed {seed}" if seed else ""
            )
            replace = f"replace it (deleting what is there) with: {command}"
        raise SyntheticDatasetError(
            f"{shown} holds the embedded set made with {describe_set(truth)}, not the one asked for "
            f"({describe_set(wanted)}); use the set that is there as it is (train --data {shown}), "
            f"or {replace}"
        )
    return make_synthetic(root, size=size, seed=seed, swap=swap)
