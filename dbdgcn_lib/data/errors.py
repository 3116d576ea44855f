"""The data layer's exceptions: a dataset or an image file a user can fix, each message naming the file.

``DatasetError`` is the base (the command line prints it as one line); ``DatasetNotFoundError`` and
``AnnotationError`` are about a split's files (``coco.py``), ``CorruptImageError`` about one image
file (``decode.py`` and every dataset that reads images).
"""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset on disk is missing or unusable; the message says which file and what to do."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset root, an annotation file or an image folder does not exist."""


class AnnotationError(DatasetError, ValueError):
    """An annotation file is malformed or refers to an unknown category or image."""


class CorruptImageError(DatasetError, OSError):
    """An image file cannot be read or decoded (missing, not a regular file, damaged, unsupported)."""
