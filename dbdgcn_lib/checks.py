"""Argument checks shared by every layer: one rule per kind of value, one message form.

A ``Rule`` says what a value must be (its type, its range, finite) and how to say it in a message;
``rule.check(name, value)`` returns the value or raises ``ValueError("bad NAME VALUE: what is
allowed")``, the form the command line prints as one line. The training settings, the model's
switches, the metrics' thresholds, the graph prior's ``tau`` and ``p``, quick runs and the command
line's own options all check through these rules, so one kind of value is refused the same way
everywhere::

    >>> PROBABILITY.check("tau", 0.4)
    0.4
    >>> PROBABILITY.check("tau", float("nan"))
    Traceback (most recent call last):
    ValueError: bad tau nan: a number in [0, 1]

The named rules at the end carry the library's allowed sizes, so an absurd size is refused before
anything is allocated.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "BATCH_SIZE",
    "EMBED_DIM",
    "IMAGE_SIZE",
    "MAX_BATCH_SIZE",
    "MAX_IMAGE_SIZE",
    "NUM_CLASSES",
    "PROBABILITY",
    "SEED",
    "THREADS",
    "WORKERS",
    "Rule",
    "boolean",
    "choice",
    "integer",
    "is_integer",
    "is_number",
    "number",
    "text",
]


@dataclass(frozen=True)
class Rule:
    """What a value must be: ``test(value) -> bool`` and ``hint``, the allowed values in words."""

    test: Callable[[object], bool]
    hint: str

    def ok(self, value) -> bool:
        return bool(self.test(value))

    def check(self, name: str, value):
        """``value`` when it passes, else ``ValueError`` naming ``name``, the value and the hint."""
        if not self.ok(value):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ValueError(f"bad {name} {shown}: {self.hint}")
        return value

    def or_none(self) -> Rule:
        """This rule, or None."""
        return Rule(lambda v: v is None or self.test(v), f"{self.hint}, or none")


def is_integer(value) -> bool:
    """An int (Python or NumPy), not a bool."""
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and type(value).__name__ != "bool_"
    )


def is_number(value) -> bool:
    """A finite real number (int or float, Python or NumPy), not a bool."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and type(value).__name__ != "bool_"
        and math.isfinite(value)
    )


def _show(bound) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _range_words(low, high, open_low: bool, open_high: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if open_low else '['}{_show(low)}, {_show(high)}{')' if open_high else ']'}"
    if low is not None:
        return f"{'>' if open_low else '>='} {_show(low)}"
    if high is not None:
        return f"{'<' if open_high else '<='} {_show(high)}"
    return ""


def _in_range(value, low, high, open_low: bool, open_high: bool) -> bool:
    return (low is None or (value > low if open_low else value >= low)) and (
        high is None or (value < high if open_high else value <= high)
    )


def _optional(test: Callable, hint: str, optional: bool) -> Rule:
    rule = Rule(test, hint)
    return rule.or_none() if optional else rule


def integer(
    low: int | None = None, high: int | None = None, *, optional: bool = False, note: str = ""
) -> Rule:
    """A whole number in [low, high] (either end may be open-ended); ``note`` is added in brackets."""
    words = " ".join(filter(None, ["an integer", _range_words(low, high, False, False)]))
    hint = f"{words} ({note})" if note else words
    return _optional(lambda v: is_integer(v) and _in_range(v, low, high, False, False), hint, optional)


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
    optional: bool = False,
    what: str = "a number",
) -> Rule:
    """A finite number in the range (``open_low`` / ``open_high`` exclude the ends); never NaN or inf."""
    bounded = low is not None and high is not None
    words = " ".join(
        filter(
            None,
            [
                what if bounded else f"a finite {what.removeprefix('a ')}",
                _range_words(low, high, open_low, open_high),
            ],
        )
    )
    return _optional(lambda v: is_number(v) and _in_range(v, low, high, open_low, open_high), words, optional)


def boolean() -> Rule:
    """True or False (a string such as ``"no"`` is refused, not read as true)."""
    return Rule(lambda v: isinstance(v, bool) or type(v).__name__ == "bool_", "true or false")


def choice(options: Iterable, *, optional: bool = False) -> Rule:
    """One of ``options``."""
    options = tuple(options)
    return _optional(
        lambda v: isinstance(v, str | int | float | type(None)) and v in options,
        f"choose from {', '.join(map(str, options))}",
        optional,
    )


def text(hint: str = "a non-empty text", *, optional: bool = False) -> Rule:
    """A string that is not blank."""
    return _optional(lambda v: isinstance(v, str) and v.strip() != "", hint, optional)


#: The largest input side and batch the library accepts.
MAX_IMAGE_SIZE, MAX_BATCH_SIZE = 2048, 4096

#: Input side in pixels: ResNets divide by 32; beyond 2048 a batch no longer fits any GPU.
IMAGE_SIZE = integer(32, MAX_IMAGE_SIZE)
#: Graph-head width D (the paper's is 1024).
EMBED_DIM = integer(1, 8192)
#: Classes of a model or label matrix (COCO has 80; the C x C graphs grow with the square).
NUM_CLASSES = integer(1, 10_000)
#: Images per step.
BATCH_SIZE = integer(1, MAX_BATCH_SIZE)
#: Seeds of every generator (NumPy's legacy seeding stops at 2**32 - 1).
SEED = integer(0, 2**32 - 1)
#: DataLoader worker processes.
WORKERS = integer(0, 256)
#: CPU threads for tensor maths.
THREADS = integer(1, 1024)
#: A probability or a fraction, such as a threshold on probabilities, tau and p.
PROBABILITY = number(0, 1)
