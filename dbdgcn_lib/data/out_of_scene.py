"""The out-of-scene labels of a synthetic split (the ``rare`` split's intruders), as a mask aligned
with a dataset's label matrix."""

from __future__ import annotations

import json

import numpy as np

from dbdgcn_lib.data.coco import AnnotationError, CocoMultiLabel, annotation_file


def out_of_scene_mask(dataset: CocoMultiLabel) -> np.ndarray:
    """(N, C) bool, aligned with ``dataset.labels``: True where the label is an object outside its
    image's scene (the ``out_of_scene`` names of the image's entry in the split's annotation file).

    Rows follow ``dataset.image_ids``, columns ``dataset.categories``. All False for a split without
    ``out_of_scene`` entries (``train``, ``val``, ``plain``, MS-COCO).
    """
    mask = np.zeros((len(dataset.image_ids), len(dataset.categories)), dtype=bool)
    if not (dataset.root / "generator.json").is_file():
        return mask  # not a synthetic dataset: no image is out of its scene by design
    path = annotation_file(dataset.root, dataset.split)
    try:
        images = json.loads(path.read_text())["images"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise AnnotationError(
            f"{path}: cannot read its image entries ({err}); regenerate the dataset with "
            f"python -m dbdgcn_lib data synthetic --root {dataset.root}"
        ) from err
    row = {int(image_id): k for k, image_id in enumerate(dataset.image_ids)}
    column = {name: k for k, name in enumerate(dataset.categories)}
    for image in images:
        names = image.get("out_of_scene")
        if not names or image.get("id") not in row:
            continue
        unknown = [name for name in names if name not in column]
        if unknown:
            raise AnnotationError(
                f"{path}: image {image['id']} names out-of-scene classes {unknown} that are not among "
                "the dataset's categories; regenerate the dataset"
            )
        mask[row[image["id"]], [column[name] for name in names]] = True
    return mask
