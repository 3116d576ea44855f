"""dbdgcn_lib: the library behind the DB-DGCN teaching series.

Sub-packages follow the architecture: ``data`` (embedded dataset, COCO 2014),
``models`` (residual blocks -> DB-DGCN), ``graph`` (label co-occurrence priors),
``metrics`` (mAP, CP ... OF1), ``training`` (trainer, checkpoints), ``viz`` (figures and
widgets for the notebooks), ``cli`` (the command line) and ``bench`` (the benchmark's results files).
"""

__version__ = "0.1.0"
