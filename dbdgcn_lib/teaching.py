"""Helpers the notebooks share: smoke mode, self-checks and an environment report."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping

import numpy as np

_TRUE = {"1", "true", "yes", "on"}


def smoke_mode() -> bool:
    """True under CI (``CI``) or when ``DBDGCN_SMOKE`` is set to 1/true: notebooks run their short version."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("CI", "DBDGCN_SMOKE"))


def _as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def compare(answer, expected, *, rtol: float = 1e-4, atol: float = 1e-6) -> str:
    """Compare a reader's answer with the library's: ``"exact"``, ``"close"`` or ``"wrong"``.

    Numbers, arrays and tensors are compared element-wise (shapes must match); mappings key by key;
    anything else by equality. ``close`` means equal within ``rtol``/``atol`` but not bit-identical.
    """
    if isinstance(expected, Mapping):
        if not isinstance(answer, Mapping) or set(answer) != set(expected):
            return "wrong"
        verdicts = [compare(answer[k], expected[k], rtol=rtol, atol=atol) for k in expected]
        return "wrong" if "wrong" in verdicts else ("close" if "close" in verdicts else "exact")
    if isinstance(expected, (str, bytes)):
        return "exact" if answer == expected else "wrong"
    try:
        a, e = _as_array(answer), _as_array(expected)
    except (TypeError, ValueError):
        return "exact" if answer == expected else "wrong"
    if a.shape != e.shape:
        return "wrong"
    if np.array_equal(a, e, equal_nan=True):
        return "exact"
    if np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        return "close"
    return "wrong"


def check(name: str, answer, expected, **tolerances) -> str:
    """Print a one-line verdict on an exercise and return it (see :func:`compare`).

    ``answer=None`` means the reader has not tried yet: the verdict is ``"unanswered"``.
    """
    if answer is None:
        print(f"{name}: no answer yet: replace None with your code")
        return "unanswered"
    verdict = compare(answer, expected, **tolerances)
    marks = {"exact": "exact: well done", "close": "close: right up to rounding", "wrong": "wrong: try again"}
    detail = ""
    if verdict == "wrong":
        try:
            a, e = _as_array(answer), _as_array(expected)
            detail = (
                f" (shape {a.shape} vs expected {e.shape})"
                if a.shape != e.shape
                else f" (largest difference {np.nanmax(np.abs(a - e)):.4g})"
            )
        except (TypeError, ValueError):
            detail = ""
    print(f"{name}: {marks[verdict]}{detail}")
    return verdict


def environment_report() -> dict[str, str]:
    """Versions and the compute device, for notebook 00's environment check."""
    import matplotlib
    import torch
    import torchvision

    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "device": device,
        "smoke mode": str(smoke_mode()),
    }
