"""What every argument is checked against, written once: a whole number in ASCII digits up to a
stated maximum, a decimal number, a path, a name from a list, each shown in one line.

The commands' flags and the Python API both call these, so ``--device 'cuda:²'``,
``--arch fc`` followed by 5,000 nines and ``resolve(None)`` are refused alike: a
:class:`~xpnet.errors.UsageError` naming the argument, what it takes and what it got.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from .errors import UsageError

# The stated maxima (README, "Limits"): generous for any real run, small enough that a typo of
# many digits is named at once instead of being allocated, compiled or converted.
MAX_COUNT = 1_000_000_000  # epochs, batch sizes, images, intervals, patience
MAX_WIDTH = 65_536  # units of an fc layer, filters and kernel size of a conv layer
MAX_LAYERS = 64  # layers of --arch or --hidden: JAX compiles a step of 64 in seconds
MAX_SEED = 2**32 - 1
MAX_THREADS = 4096
MAX_CUDA_INDEX = 1023

# Set by the commands (xpnet.cli.run_command): their errors name flags, Python's name keywords.
_ON_THE_COMMAND_LINE = ContextVar("on_the_command_line", default=False)

_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_SHOWN_CHARS = 60


def shown(value) -> str:
    """``value`` as one short line for a message: its repr cut to 60 characters, an array as its shape and dtype."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"an array of shape {value.shape} ({value.dtype})"
    text = " ".join(repr(value).split())
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS - 4]}...{text[-1]}"


@contextmanager
def on_the_command_line():
    """Within it, :func:`option` and :func:`passing` name an argument as a flag (``--data-dir``);
    outside, as the keyword of the Python API (``data_dir``)."""
    token = _ON_THE_COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _ON_THE_COMMAND_LINE.reset(token)


def flags_are_named() -> bool:
    """True within :func:`on_the_command_line`: a message names flags, not keywords."""
    return _ON_THE_COMMAND_LINE.get()


def together(parts) -> str:
    """Several :func:`passing` parts as given together: ``--backend numpy --device cpu`` or
    ``backend='numpy', device='cpu'``."""
    return (" " if flags_are_named() else ", ").join(parts)


def option(flag: str) -> str:
    """``--save`` on the command line, ``save`` (its keyword) in Python."""
    return flag if _ON_THE_COMMAND_LINE.get() else flag.removeprefix("--").replace("-", "_")


def passing(flag: str, value: str | None = None) -> str:
    """How the user gives ``flag`` (with ``value``): ``--data-dir ROOT`` or ``data_dir=ROOT`` (an
    upper-case placeholder and a number are left bare, other values quoted); ``--no-download``:
    ``download=False``."""
    if _ON_THE_COMMAND_LINE.get():
        return flag if value is None else f"{flag} {value}"
    name = option(flag)
    if value is not None:
        bare = value.isupper() or _DECIMAL.fullmatch(value) or value in ("True", "False", "None")
        return f"{name}={value if bare else repr(value)}"
    return f"{name[3:]}=False" if name.startswith("no_") else f"{name}=True"


def whole_number(text: str, what: str, maximum: int, minimum: int = 0) -> int:
    """``text`` of ASCII digits 0-9 only (no sign, space, ``_`` or other script's digits) as an int
    in [``minimum``, ``maximum``]; UsageError naming ``what`` and the range otherwise."""
    digits = text if isinstance(text, str) else ""
    significant = digits.lstrip("0") or "0"
    if (not digits or not (digits.isascii() and digits.isdigit()) or len(significant) > len(str(maximum))
            or not minimum <= int(significant) <= maximum):
        raise UsageError(f"{what} must be a whole number from {minimum:,} to {maximum:,} in the digits 0-9, "
                         f"got {shown(text)}")
    return int(significant)


def decimal_number(text: str, what: str) -> float:
    """``text`` such as ``0.1``, ``-2``, ``1e-3`` in ASCII as a float; UsageError naming ``what`` otherwise
    (``inf``, ``nan``, ``1_0`` and digits of other scripts are refused)."""
    if not (isinstance(text, str) and _DECIMAL.fullmatch(text)):
        raise UsageError(f"{what} must be a number such as 0.1 or 1e-3 in the digits 0-9, got {shown(text)}")
    return float(text)


def a_path(what: str, value, *, optional: bool = False) -> str | None:
    """``value`` (a str or os.PathLike naming a file or folder) as a str; None when ``optional``
    and None; UsageError naming ``what`` for anything else, an empty path or a NUL byte."""
    if value is None and optional:
        return None
    path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(path, str):
        raise UsageError(f"{what} must be a path (a str or os.PathLike), got {shown(value)}")
    if not path.strip():
        raise UsageError(f"{what} must be a path, and {path!r} is none; give one")
    if "\0" in path:
        raise UsageError(f"{what} must be a path without NUL characters, got {shown(path)}")
    return path


def a_name(what: str, value, choices) -> str:
    """``value``, a str among ``choices`` (any case), in lower case; UsageError naming ``what`` and the choices."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a string, one of {', '.join(choices)}, got {shown(value)}")
    if value.lower() not in choices:
        raise UsageError(f"unknown {what} {shown(value)}; choose one of {', '.join(choices)}")
    return value.lower()


def a_switch(what: str, value, *, optional: bool = False) -> bool | None:
    """``value`` if it is True or False (or None when ``optional``); UsageError naming ``what`` otherwise."""
    if isinstance(value, bool) or (value is None and optional):
        return value
    allowed = "True, False or None" if optional else "True or False"
    raise UsageError(f"{what} must be {allowed}, got {shown(value)}")
