"""Data: the embedded synthetic dataset, MS-COCO 2014 (download + multi-label Dataset), transforms.

``make_synthetic`` / ``ensure_synthetic`` write the drawn-scenes dataset in COCO format;
``CocoMultiLabel`` reads it, or COCO 2014, through pycocotools; ``download_coco2014`` fetches COCO.
"""

from dbdgcn_lib.data.coco import (
    CLASS_ORDERS,
    AnnotationError,
    CocoLabels,
    CocoMultiLabel,
    CorruptImageError,
    DatasetError,
    DatasetNotFoundError,
    annotation_file,
    load_labels,
)
from dbdgcn_lib.data.download import (
    COCO_2014_FILES,
    DownloadError,
    NetworkUnavailableError,
    RemoteFile,
    download_coco2014,
    download_file,
)
from dbdgcn_lib.data.synthetic import (
    CATEGORIES,
    LOOKALIKES,
    SCENES,
    SIZES,
    SPLITS,
    Category,
    Scene,
    SyntheticDatasetError,
    SyntheticSize,
    ensure_synthetic,
    expected_statistics,
    make_synthetic,
    read_generator,
    sample_labels,
)
from dbdgcn_lib.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    test_transform,
    train_transform,
)

__all__ = [
    "CATEGORIES",
    "CLASS_ORDERS",
    "COCO_2014_FILES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LOOKALIKES",
    "SCENES",
    "SIZES",
    "SPLITS",
    "AnnotationError",
    "Category",
    "CocoLabels",
    "CocoMultiLabel",
    "CorruptImageError",
    "DatasetError",
    "DatasetNotFoundError",
    "DownloadError",
    "NetworkUnavailableError",
    "RemoteFile",
    "Scene",
    "SyntheticDatasetError",
    "SyntheticSize",
    "annotation_file",
    "denormalize",
    "download_file",
    "download_coco2014",
    "ensure_synthetic",
    "expected_statistics",
    "load_labels",
    "make_synthetic",
    "read_generator",
    "sample_labels",
    "test_transform",
    "train_transform",
]
