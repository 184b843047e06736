"""Writing files so that a crash at any moment leaves either the old or the new content."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


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


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync, then rename."""
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    temporary, file = open_temp_beside(target)
    try:
        with file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
