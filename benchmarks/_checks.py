"""PASS / FAIL lines for the GPU-check scripts, and what failed (shared by gpu_selfcheck.py and
trainer_check.py)."""

from __future__ import annotations


class Checks:
    """``checks(name, ok, detail)`` prints one PASS / FAIL line and remembers each failure."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
        if not ok:
            self.failures.append(name)
        return bool(ok)

    def summary(self, what: str) -> str:
        """``what: N failure(s): names`` (or ``what: all checks passed``)."""
        if not self.failures:
            return f"{what}: all checks passed"
        return f"{what}: {len(self.failures)} failure(s): {', '.join(self.failures)}"
