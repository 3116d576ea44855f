"""Multi-label metrics: AP/mAP, CP, CR, CF1, OP, OR, OF1 and top-k, as the paper reports them; the
out-of-scene labels' recall and mAP; bootstrap noise verdicts."""

from dbdgcn_lib.metrics.bootstrap import (
    VERDICTS,
    bootstrap,
    noise_verdict,
    paired_bootstrap,
    resample_indices,
)
from dbdgcn_lib.metrics.metrics import (
    METRIC_KEYS,
    PRCurve,
    average_precision,
    multilabel_metrics,
    paper_tables,
    per_class_table,
    pr_curve,
)
from dbdgcn_lib.metrics.out_of_scene import OUT_OF_SCENE_KEYS, out_of_scene_metrics
from dbdgcn_lib.metrics.paper import PAPER_TABLE1, PAPER_TABLE2

__all__ = [
    "METRIC_KEYS",
    "OUT_OF_SCENE_KEYS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PRCurve",
    "VERDICTS",
    "average_precision",
    "bootstrap",
    "multilabel_metrics",
    "noise_verdict",
    "out_of_scene_metrics",
    "paired_bootstrap",
    "paper_tables",
    "per_class_table",
    "pr_curve",
    "resample_indices",
]
