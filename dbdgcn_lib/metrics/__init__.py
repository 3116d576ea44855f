"""Multi-label metrics: AP/mAP, CP, CR, CF1, OP, OR, OF1 and top-k, as the paper reports them; the
out-of-scene labels' recall and mAP; the chance level of a metric; the bootstrap over images and the
noise verdict over seeds and images."""

from dbdgcn_lib.metrics.bootstrap import bootstrap, paired_bootstrap, resample_indices
from dbdgcn_lib.metrics.chance import ChanceLevel, chance_level
from dbdgcn_lib.metrics.metrics import (
    METRIC_KEYS,
    PRCurve,
    average_precision,
    mean_average_precision,
    multilabel_metrics,
    paper_tables,
    per_class_table,
    pr_curve,
)
from dbdgcn_lib.metrics.noise import (
    NO_SEED_NOISE,
    VERDICTS,
    NoiseComparison,
    SeedSpread,
    detectable_difference,
    detectable_phrase,
    noise_comparison,
    noise_verdict,
    seed_spread,
)
from dbdgcn_lib.metrics.out_of_scene import OUT_OF_SCENE_KEYS, out_of_scene_metrics
from dbdgcn_lib.metrics.paper import PAPER_TABLE1, PAPER_TABLE2

__all__ = [
    "METRIC_KEYS",
    "NO_SEED_NOISE",
    "OUT_OF_SCENE_KEYS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PRCurve",
    "VERDICTS",
    "ChanceLevel",
    "NoiseComparison",
    "SeedSpread",
    "average_precision",
    "bootstrap",
    "chance_level",
    "detectable_difference",
    "detectable_phrase",
    "mean_average_precision",
    "multilabel_metrics",
    "noise_comparison",
    "noise_verdict",
    "out_of_scene_metrics",
    "paired_bootstrap",
    "paper_tables",
    "per_class_table",
    "pr_curve",
    "resample_indices",
    "seed_spread",
]
