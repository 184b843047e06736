"""The checks a hyperparameter passes, each written once.

The optimisers, the schedules, dropout, augmentation and the architectures call these, so a value
is refused with the same one line wherever it comes from. Each returns the value (as a float or
int) or raises :class:`ParameterError`, a ``ValueError`` naming the function's own parameter:
``xpnet.nn`` knows nothing of flags, and the command layer (:mod:`xpnet.training.config`) says
the same line in its own words.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

from ..arguments import MAX_COUNT, shown


class ParameterError(ValueError):
    """A value an ``xpnet.nn`` function cannot use. ``parameter`` is that function's name for it;
    ``says(words)`` is the one-line message with the parameter called ``words``, so that a caller
    with other names for it (a keyword, a flag) can tell its own user: :meth:`naming`."""

    def __init__(self, parameter: str, says: Callable[[str], str], subject: str | None = None):
        super().__init__(says(subject or parameter))
        self.parameter, self.says = parameter, says

    def naming(self, words: str) -> str:
        """The message, the parameter called ``words``."""
        return self.says(words)


class ParameterTypeError(ParameterError, TypeError):
    """A value of a type the parameter never takes (text where a number goes)."""


def positive(parameter: str, value, label: str = "") -> float:
    """A finite number > 0 (a learning rate, Adam's epsilon); ``label`` says what the parameter is."""
    number = _number(parameter, value, label)
    if not (math.isfinite(number) and number > 0):
        raise ParameterError(parameter, lambda name: f"{name} must be a finite number above 0, got {shown(value)}",
                             _subject(parameter, label))
    return number


def non_negative(parameter: str, value, label: str = "") -> float:
    """A finite number >= 0 (weight decay)."""
    number = _number(parameter, value, label)
    if not (math.isfinite(number) and number >= 0):
        raise ParameterError(parameter, lambda name: f"{name} must be a finite number, 0 or more, got {shown(value)}",
                             _subject(parameter, label))
    return number


def fraction(parameter: str, value, *, below: float = 1.0, label: str = "") -> float:
    """A number in [0, ``below``) (momentum, Adam's betas, a dropout rate)."""
    number = _number(parameter, value, label)
    if not 0.0 <= number < below:
        raise ParameterError(parameter, lambda name: f"{name} must be in [0, {below:g}), got {shown(value)}",
                             _subject(parameter, label))
    return number


def whole(parameter: str, value, minimum: int, maximum: int = MAX_COUNT, label: str = "") -> int:
    """An integer from ``minimum`` to ``maximum`` (epochs, a seed), as an int; bools, floats and strings are refused."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or not minimum <= number <= maximum:
        kind = ParameterError if number is not None else ParameterTypeError
        raise kind(parameter, lambda name: f"{name} must be a whole number, {minimum} or more (at most {maximum:,}), "
                                           f"got {shown(value)}", _subject(parameter, label))
    return number


def _subject(parameter: str, label: str) -> str:
    """How a message names the parameter: ``'the learning rate lr'``, or ``'momentum'`` alone."""
    return f"{label} {parameter}" if label else parameter


def _number(parameter: str, value, label: str) -> float:
    says = (lambda name: f"{name} must be a number, got {shown(value)}")
    if isinstance(value, (bool, str, bytes)):
        raise ParameterTypeError(parameter, says, _subject(parameter, label))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParameterTypeError(parameter, says, _subject(parameter, label)) from None
