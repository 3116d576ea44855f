"""The embedded default dataset: drawn scenes in MS-COCO instances format.

Every image is a *scene* (street, kitchen, office, park, beach) drawn on its own background. Given
the scene, each category is present independently with a known probability ``q[scene, category]``
and then drawn 1-3 times at varied sizes (most objects are small). Label co-occurrence therefore
follows exactly from the design, for distinct classes i != j::

    P(j | i) = sum_s pi_s q_si q_sj / sum_s pi_s q_si

``mouse`` and ``stone`` are drawn by the same function with the same colours and sizes: only the
scene (background and neighbours) tells them apart, so label context carries real information.

Splits (COCO layout, ``root/annotations/instances_{split}.json`` + ``root/{split}/*.jpg``):
``train`` and ``val`` follow the design; ``rare`` (held out) adds to each image one object that never
occurs in its scene (``q = 0``; never a look-alike, which would be unrecognisable), listed in the image
entry's ``out_of_scene``; ``plain`` is ``val`` image by image (same scene draw, same objects at the same
places, same labels in the same order) on a plain grey background, its entries marked
``"background": "plain"``: the gap between a model's val and plain scores is what the scene's pixels
gave it, with no change in label prevalence. Every image entry also names its ``scene``.
``make_synthetic(..., swap=BackgroundSwap(0.2))`` draws 20 % of the train images with their objects on
another scene's background (or ``kind="plain"``: on grey), a data intervention against leaning on the
background; those entries name their ``background``, and the other splits keep their bytes.
``root/generator.json`` holds the truth (see ``generator_truth``). Each image has its own random stream
seeded by (seed, split, index), so a seed gives the same bytes and a smaller size gives the first
images of a bigger one.

``design`` holds the categories, scenes and their statistics, ``draw`` the painters, ``make`` the
writing of a dataset.
"""

from dbdgcn_lib.data.synthetic.design import (
    CATEGORIES,
    GENERATOR_VERSION,
    LOOKALIKES,
    SCENES,
    SIZES,
    SPLIT_PURPOSES,
    SPLITS,
    SWAP_KINDS,
    BackgroundSwap,
    Category,
    Scene,
    SyntheticSize,
    alphabetical_names,
    expected_statistics,
    generator_truth,
    presence_matrix,
    scene_probabilities,
)
from dbdgcn_lib.data.synthetic.draw import (
    BACKGROUNDS,
    BRIGHT,
    DRAW,
    PLAIN_BACKGROUND,
    SUPERSAMPLE,
    Box,
    render_image,
)
from dbdgcn_lib.data.synthetic.make import (
    JPEG_QUALITY,
    SyntheticDatasetError,
    ensure_synthetic,
    make_synthetic,
    read_generator,
    sample_labels,
)

__all__ = [
    "BACKGROUNDS",
    "BRIGHT",
    "CATEGORIES",
    "DRAW",
    "GENERATOR_VERSION",
    "JPEG_QUALITY",
    "LOOKALIKES",
    "PLAIN_BACKGROUND",
    "SCENES",
    "SIZES",
    "SPLITS",
    "SPLIT_PURPOSES",
    "SUPERSAMPLE",
    "SWAP_KINDS",
    "BackgroundSwap",
    "Box",
    "Category",
    "Scene",
    "SyntheticDatasetError",
    "SyntheticSize",
    "alphabetical_names",
    "ensure_synthetic",
    "expected_statistics",
    "generator_truth",
    "make_synthetic",
    "presence_matrix",
    "read_generator",
    "render_image",
    "sample_labels",
    "scene_probabilities",
]
