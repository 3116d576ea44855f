"""Multi-label metrics: AP/mAP, CP, CR, CF1, OP, OR, OF1 and top-k, as the paper reports them."""

from dbdgcn_lib.metrics.metrics import (
    METRIC_KEYS,
    PRCurve,
    average_precision,
    multilabel_metrics,
    paper_tables,
    per_class_table,
    pr_curve,
)
from dbdgcn_lib.metrics.paper import PAPER_TABLE1, PAPER_TABLE2

__all__ = [
    "METRIC_KEYS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PRCurve",
    "average_precision",
    "multilabel_metrics",
    "paper_tables",
    "per_class_table",
    "pr_curve",
]
