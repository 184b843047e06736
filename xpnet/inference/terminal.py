"""What ``python -m xpnet.evaluate``, ``predict`` and ``plot`` print, made safe for any terminal.

Strings that come from files (a checkpoint's metadata, a metrics file, file names) may carry
control characters: an ANSI escape sequence could clear the screen or retitle the window.
:func:`printable` shows each such character as its escape (``\\x1b``), as ``repr`` would;
:func:`echo` prints text that way and encodes it so that any stdout can show it
(``PYTHONIOENCODING=ascii`` included); :func:`escaped_errors` does the same for the one-line
error a command ends with.
"""

from __future__ import annotations

import functools
import os
import sys

from ..errors import XpnetError


def printable(text) -> str:
    """``str(text)`` (a path, bytes or anything else) with each character that is not printable
    (control characters such as ESC, BEL and newline; invisible format characters such as
    right-to-left overrides; lone surrogates) replaced by its escape: ``\\x1b``, ``\\u202e``..."""
    text = os.fsdecode(text) if isinstance(text, bytes) else str(text)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def printable_lines(text: str) -> str:
    """``text`` with every line made :func:`printable`, the line breaks ``\\n`` kept."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


def can_show(text: str, stream=None) -> bool:
    """Whether ``stream`` (default: stdout) can encode ``text`` in its encoding."""
    encoding = getattr(sys.stdout if stream is None else stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def echo(text: str = "", stream=None) -> None:
    """Print ``text`` to ``stream`` (default: stdout) with its lines made :func:`printable` and any
    character the stream's encoding lacks written as a backslash escape instead of failing."""
    stream = sys.stdout if stream is None else stream
    text = printable_lines(text)
    if not can_show(text, stream):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:
            text = text.encode("ascii", "backslashreplace").decode("ascii")
    print(text, file=stream, flush=True)


def escaped_errors(body):
    """``body(args)`` of a command, with the message of any :class:`XpnetError` it raises made
    :func:`printable`: the command's last line names a bad file without replaying what is in it."""
    @functools.wraps(body)
    def run(args):
        try:
            return body(args)
        except XpnetError as error:
            error.args = tuple(printable(arg) if isinstance(arg, str) else arg for arg in error.args)
            raise
    return run


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
