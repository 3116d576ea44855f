"""Data: the embedded synthetic dataset, MS-COCO 2014 (download + multi-label Dataset), transforms.

``make_synthetic`` / ``ensure_synthetic`` write the drawn-scenes dataset in COCO format;
``CocoMultiLabel`` reads it, or COCO 2014, checking the annotation file; ``download_coco2014`` fetches
COCO; ``coco_label_statistics`` gives COCO 2014 train's label statistics without downloading anything.
"""

from dbdgcn_lib.data.augment import GpuBatchTransform, augment_image, normalize_batch
from dbdgcn_lib.data.coco import CLASS_ORDERS, CocoLabels, CocoMultiLabel, annotation_file, load_labels
from dbdgcn_lib.data.constants import (
    COCO_NUM_CLASSES,
    COCO_TRAIN_IMAGES,
    COCO_VAL_IMAGES,
    IMAGENET_MEAN,
    IMAGENET_STD,
)
from dbdgcn_lib.data.context_pairs import ContextPair, biased_pairs, pair_masks, pairs_for
from dbdgcn_lib.data.crops import CROPS, SCALES, default_resize, sample_augmentation, sample_crop
from dbdgcn_lib.data.decode import (
    REFETCH,
    decode_file,
    decode_jpegs,
    open_image,
    read_image_file,
    read_jpeg_bytes,
)
from dbdgcn_lib.data.download import (
    COCO_2014_FILES,
    DownloadError,
    NetworkUnavailableError,
    RemoteFile,
    download_coco2014,
    download_file,
)
from dbdgcn_lib.data.errors import AnnotationError, CorruptImageError, DatasetError, DatasetNotFoundError
from dbdgcn_lib.data.image_files import (
    ImageFiles,
    JpegBytesDataset,
    JpegDecodeDataset,
    PilImages,
    collate_bytes,
    list_jpegs,
    random_targets,
)
from dbdgcn_lib.data.label_statistics import (
    COCO_SUPERCATEGORIES,
    LabelStatistics,
    coco_label_statistics,
    label_statistics_from_annotations,
)
from dbdgcn_lib.data.out_of_scene import out_of_scene_mask
from dbdgcn_lib.data.photolike import make_coco_like, make_jpeg_folder, photo_like_image
from dbdgcn_lib.data.synthetic import (
    CATEGORIES,
    LOOKALIKES,
    SCENES,
    SIZES,
    SPLITS,
    BackgroundSwap,
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
    denormalize,
    test_transform,
    train_transform,
)

__all__ = [
    "COCO_NUM_CLASSES",
    "COCO_TRAIN_IMAGES",
    "COCO_VAL_IMAGES",
    "CROPS",
    "SCALES",
    "GpuBatchTransform",
    "ImageFiles",
    "JpegBytesDataset",
    "JpegDecodeDataset",
    "PilImages",
    "augment_image",
    "collate_bytes",
    "decode_file",
    "decode_jpegs",
    "open_image",
    "REFETCH",
    "default_resize",
    "list_jpegs",
    "make_coco_like",
    "make_jpeg_folder",
    "normalize_batch",
    "photo_like_image",
    "random_targets",
    "read_image_file",
    "read_jpeg_bytes",
    "sample_augmentation",
    "sample_crop",
    "CATEGORIES",
    "CLASS_ORDERS",
    "COCO_2014_FILES",
    "COCO_SUPERCATEGORIES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LOOKALIKES",
    "SCENES",
    "SIZES",
    "SPLITS",
    "AnnotationError",
    "BackgroundSwap",
    "Category",
    "CocoLabels",
    "CocoMultiLabel",
    "ContextPair",
    "CorruptImageError",
    "DatasetError",
    "DatasetNotFoundError",
    "DownloadError",
    "LabelStatistics",
    "NetworkUnavailableError",
    "RemoteFile",
    "Scene",
    "SyntheticDatasetError",
    "SyntheticSize",
    "annotation_file",
    "biased_pairs",
    "coco_label_statistics",
    "denormalize",
    "download_file",
    "download_coco2014",
    "ensure_synthetic",
    "expected_statistics",
    "label_statistics_from_annotations",
    "load_labels",
    "make_synthetic",
    "out_of_scene_mask",
    "pair_masks",
    "pairs_for",
    "read_generator",
    "sample_labels",
    "test_transform",
    "train_transform",
]
