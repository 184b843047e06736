"""The checks a hyperparameter passes, each written once.

The optimisers, the schedules, dropout, the initialisers and :class:`xpnet.Config` all
call these, so a value is refused with the same one line wherever it comes from. Each
returns the value (as a float or int) or raises :class:`xpnet.errors.UsageError`.
"""

from __future__ import annotations

import math
import operator

from ..arguments import MAX_COUNT, shown
from ..errors import UsageError


def positive(what: str, value) -> float:
    """A finite number > 0 (a learning rate, Adam's epsilon)."""
    number = _number(what, value)
    if not (math.isfinite(number) and number > 0):
        raise UsageError(f"the {what} must be a finite number above 0, got {shown(value)}")
    return number


def non_negative(what: str, value) -> float:
    """A finite number >= 0 (weight decay)."""
    number = _number(what, value)
    if not (math.isfinite(number) and number >= 0):
        raise UsageError(f"the {what} must be a finite number, 0 or more, got {shown(value)}")
    return number


def fraction(what: str, value, *, below: float = 1.0) -> float:
    """A number in [0, ``below``) (momentum, Adam's betas, a dropout rate)."""
    number = _number(what, value)
    if not 0.0 <= number < below:
        raise UsageError(f"{what} must be in [0, {below:g}), got {shown(value)}")
    return number


def whole(what: str, value, minimum: int, maximum: int = MAX_COUNT) -> int:
    """An integer from ``minimum`` to ``maximum`` (epochs, a seed), as an int; bools, floats and strings are refused."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise UsageError(f"{what} must be a whole number, {minimum} or more (at most {maximum:,}), got {shown(value)}")
    return number


def _number(what: str, value) -> float:
    if isinstance(value, (bool, str, bytes)):
        raise UsageError(f"the {what} must be a number, got {shown(value)}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"the {what} must be a number, got {shown(value)}") from None
