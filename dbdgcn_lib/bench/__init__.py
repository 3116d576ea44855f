"""The benchmark: how fast the model trains and evaluates, a thin layer over ``training``.

It measures with the trainer's own pieces (``training.steps.train_step``, ``forward_scores``,
``CompiledParts``, ``cuda_backend``, and ``training.inputs.create_loader`` for the input pipelines):

- ``runner.py``: the modes, ``Runner`` (one model in one mode), ``find_max_batch``, one timed case;
- ``matrix.py``: ``BenchConfig`` and ``run_bench``, every case of a configuration;
- ``results.py``: the results file and its records (the bench loop's and the ``Trainer``'s), the
  table, the 50-epoch COCO estimates.

``python -m dbdgcn_lib bench`` is its command line (``cli/bench.py``); ``benchmarks/`` holds the
scripts run on a GPU machine and the project's targets.
"""

from dbdgcn_lib.bench.matrix import BenchConfig, default_workers, run_bench
from dbdgcn_lib.bench.results import (
    SCHEMA,
    add_head_share,
    append_result,
    environment,
    format_estimates,
    format_table,
    load_results,
    run_estimates,
    trainer_records,
)
from dbdgcn_lib.bench.runner import (
    AUTO_CANDIDATES,
    Case,
    ModeSettings,
    Runner,
    find_max_batch,
    measure,
    mode_settings,
    run_case,
)

__all__ = [
    "AUTO_CANDIDATES",
    "SCHEMA",
    "BenchConfig",
    "Case",
    "ModeSettings",
    "Runner",
    "add_head_share",
    "append_result",
    "default_workers",
    "environment",
    "find_max_batch",
    "format_estimates",
    "format_table",
    "load_results",
    "measure",
    "mode_settings",
    "run_bench",
    "run_case",
    "run_estimates",
    "trainer_records",
]
