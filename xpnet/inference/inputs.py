"""Opening the files the commands read (a picture, a metrics file) without hanging on what is not a file.

Opening a FIFO waits for a writer, forever; a device or a folder is never a picture or a
metrics file. :func:`open_regular` refuses them in one line before reading a byte.
"""

from __future__ import annotations

import os
import stat

from ..errors import XpnetError
from .terminal import printable

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def open_regular(path: str | os.PathLike, what: str, fix: str):
    """``path`` opened for reading in binary, when it is a regular file (or a link to one).

    Raises a one-line :class:`XpnetError` ``"<what> <path> ...; <fix>"`` when it is missing,
    unreadable, or a folder, FIFO, device or socket; the check is made on the file opened
    (without waiting: ``O_NONBLOCK``), so nothing can swap a FIFO in between.
    """
    shown = printable(path)
    try:
        _check_kind(os.stat(path).st_mode, what, shown, fix)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise XpnetError(f"{what} {shown} not found; {fix}") from None
    except (OSError, ValueError) as error:  # ValueError: a path with a NUL byte
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise XpnetError(f"cannot read {what} {shown} ({printable(reason)}); {fix}") from None
    try:
        _check_kind(os.fstat(fd).st_mode, what, shown, fix)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_kind(mode: int, what: str, shown: str, fix: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    raise XpnetError(f"{what} {shown} is {kind}, not a regular file; {fix}")
