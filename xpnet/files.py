"""Writing files so that a crash at any moment leaves either the old or the new content."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

from .errors import XpnetError


def open_temp_beside(target) -> tuple[Path, object]:
    """(path, binary file open for writing) of a new hidden file in ``target``'s folder.

    Unlike ``tempfile.mkstemp`` (always mode 0600) the file gets its permissions from the
    umask, and keeps them once renamed over ``target``.
    """
    target = Path(target)
    while True:
        path = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return path, open(path, "xb")
        except FileExistsError:
            continue


@contextmanager
def atomic_open(target):
    """A binary file to write ``target`` through: on success it is fsynced and renamed over
    ``target``; on any error it is removed and ``target`` is left as it was."""
    temporary, file = open_temp_beside(target)
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` (creating its folder) so it appears whole or not at all."""
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(target) as file:
        file.write(data.encode() if isinstance(data, str) else data)


def write_output(path: str | os.PathLike, data: bytes | str, *, fix: str, error=XpnetError) -> Path:
    """:func:`atomic_write`, with a failure (a read-only folder, a full disk) turned into one
    ``error`` line naming ``path``, the reason and ``fix`` (what the user should change)."""
    try:
        atomic_write(path, data)
    except OSError as failure:
        raise error(f"cannot write {path}: {failure.strerror or failure}; {fix}") from None
    return Path(path)
