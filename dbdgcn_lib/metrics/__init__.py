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

__all__ = [
    "METRIC_KEYS",
    "PRCurve",
    "average_precision",
    "multilabel_metrics",
    "paper_tables",
    "per_class_table",
    "pr_curve",
]
