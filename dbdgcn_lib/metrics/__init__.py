"""Multi-label metrics: AP/mAP, CP, CR, CF1, OP, OR, OF1 and top-k, as the paper reports them; the
out-of-scene labels' recall and mAP, each recall beside the share of absent labels predicted; the
look-alikes' context-free level; exclusive against co-occur AP (contextual bias); the chance level of a
metric; the bootstrap over images and the noise verdict over seeds and images."""

from dbdgcn_lib.metrics.bootstrap import bootstrap, paired_bootstrap, resample_indices
from dbdgcn_lib.metrics.chance import ChanceLevel, chance_level
from dbdgcn_lib.metrics.context_bias import PAIR_KEYS, exclusive_cooccur_metrics
from dbdgcn_lib.metrics.lookalike import context_free_ap, lookalike_auc
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
from dbdgcn_lib.metrics.out_of_scene import (
    LABEL_RECALL_KEYS,
    OUT_OF_SCENE_KEYS,
    label_recall,
    out_of_scene_metrics,
)
from dbdgcn_lib.metrics.paper import PAPER_TABLE1, PAPER_TABLE2

__all__ = [
    "LABEL_RECALL_KEYS",
    "METRIC_KEYS",
    "NO_SEED_NOISE",
    "OUT_OF_SCENE_KEYS",
    "PAIR_KEYS",
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
    "context_free_ap",
    "detectable_difference",
    "detectable_phrase",
    "exclusive_cooccur_metrics",
    "label_recall",
    "lookalike_auc",
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
