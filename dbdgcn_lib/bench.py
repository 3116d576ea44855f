"""The benchmark's results files: what ``benchmarks/gpu_check.py`` measured, for the notebooks to quote.

A results file is ``{"schema": 2, "env": {...}, "results": [record, ...]}``: ``env`` describes the
machine once, and each record one measured case. Every record has ``source`` (``"bench"``: the bench
loop, ``"trainer"``: a ``Trainer`` timing run), ``variant``, ``phase`` (``train`` / ``eval``), ``mode``
(the bench's ``released`` / ``fast``, or the trainer's preset), ``input`` (``synthetic``: a fixed batch
on the device, or ``jpeg``), ``pipeline`` (``pil``, ``uint8``, ``nvjpeg``; None for ``synthetic``),
``batch``, ``image_size``, ``backbone``, ``compile``, ``img_per_s`` (steady images per second),
``status`` (``ok``, ``oom``, ``non-finite``, ``skipped: ...`` or the error), the device and the versions.

The measured files live in ``docs/results/``; yours go to ``benchmarks/results/``. The benchmark
itself (the bench loop, the checks, the targets) sits outside the package, in ``benchmarks/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dbdgcn_lib.utils import write_text_atomic

SCHEMA = 2
#: Schema 1 named the pipelines by where they decode: CPU workers (``uint8``) or nvJPEG on the GPU.
OLD_LOADERS = {"cpu": "uint8", "gpu": "nvjpeg"}


def load_results(path: str | os.PathLike) -> dict:
    """``{"schema", "env", "results": [...]}`` from a results file (empty results if it does not exist).

    Records of schema 1 are read as schema 2 (``source`` and ``pipeline`` added; their ``loader``
    stays). ``ValueError`` names a file that is not a results file."""
    p = Path(path)
    if not p.is_file():
        return {"schema": SCHEMA, "env": None, "results": []}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{p}: not valid JSON ({err}); pass a results file that gpu_check.py wrote"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.setdefault("results", []), list):
        raise ValueError(
            f"{p}: not a results file (a JSON object with a 'results' list); pass one that "
            "benchmarks/gpu_check.py wrote"
        )
    for record in data["results"]:
        record.setdefault("source", "bench")
        if "pipeline" not in record:
            record["pipeline"] = OLD_LOADERS.get(record.get("loader"), record.get("loader"))
    data["schema"] = SCHEMA
    data.setdefault("env", None)
    return data


def append_result(path: str | os.PathLike, record: dict, env: dict) -> None:
    """Append one record; the file is replaced atomically, so a run killed half-way keeps what it
    measured. The file's ``env`` is its first run's."""
    data = load_results(path)
    data["env"] = data.get("env") or env
    data["results"].append(record)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n", durable=False)
