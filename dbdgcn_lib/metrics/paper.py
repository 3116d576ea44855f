"""The paper's reported results on MS-COCO 2014 (its Tables 1 and 2), for comparison with ours.

``PAPER_TABLE1[method][metric]``: mAP, CP, CR, CF1, OP, OR, OF1 (percent) over all predictions with
probability >= 0.5. ``PAPER_TABLE2[method][metric]``: CP ... OF1 when only each image's top 3 labels
may count. Methods in the paper's row order; "DB-DGCN" is the paper's "Ours". These are the
authors' numbers, not ours: the notebooks and ``docs`` label them so.
"""

from __future__ import annotations

from dbdgcn_lib.metrics.metrics import METRIC_KEYS


def _rows(keys: tuple[str, ...], rows: dict[str, tuple[float, ...]]) -> dict[str, dict[str, float]]:
    return {method: dict(zip(keys, values, strict=True)) for method, values in rows.items()}


PAPER_TABLE1: dict[str, dict[str, float]] = _rows(
    tuple(METRIC_KEYS),
    {
        "ME": (80.3, 80.5, 68.1, 72.2, 82.1, 71.1, 77.9),
        "ResNet-101": (79.8, 81.2, 68.7, 74.3, 83.5, 72.3, 77.9),
        "DecoupleNet": (80.5, 83.6, 69.4, 75.9, 83.6, 72.8, 78.7),
        "ML-GLLR": (81.1, 84.1, 69.5, 76.1, 84.1, 73.9, 79.8),
        "ADD-GCN": (81.3, 84.3, 70.3, 76.5, 84.3, 74.1, 80.0),
        "DB-DGCN": (82.9, 85.2, 71.5, 77.3, 85.6, 74.3, 80.1),
    },
)

PAPER_TABLE2: dict[str, dict[str, float]] = _rows(
    tuple(METRIC_KEYS[1:]),
    {
        "RDAR": (85.1, 64.2, 74.2, 87.1, 66.8, 74.1),
        "ME": (85.2, 64.7, 74.9, 87.5, 67.1, 74.2),
        "ResNet-101": (86.6, 65.4, 75.0, 88.4, 67.6, 75.7),
        "ML-GLLR": (87.3, 65.8, 75.1, 89.1, 67.9, 75.8),
        "ADD-GCN": (88.7, 66.0, 75.9, 89.3, 68.1, 76.0),
        "DB-DGCN": (89.6, 66.3, 76.3, 90.1, 68.8, 77.1),
    },
)
