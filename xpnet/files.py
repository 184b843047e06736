"""Writing files so that a crash at any moment leaves either the old or the new content."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError, XpnetError


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
    """Write ``data`` to ``path`` (creating its folder) so it appears whole or not at all.

    A symbolic link is followed (the file it names is replaced, the link kept); a path that
    is not a regular file (a folder, a device such as /dev/null, a FIFO, a socket) is never
    replaced: OSError instead.
    """
    target = Path(path).absolute()
    if target.is_symlink():
        target = target.resolve()
    kind = _not_regular(target)
    if kind is not None:
        raise OSError(errno.EEXIST, f"it is {kind}, not a regular file")
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


def check_output_file(path: str | os.PathLike, flag: str, suffixes: tuple[str, ...] = ()) -> None:
    """UsageError, one line naming ``flag``, unless ``path`` can be written before any work
    starts: a known suffix, not a folder or other non-regular file, in a folder that exists
    (or can be made) and is writable."""
    target = Path(path).absolute()
    if suffixes and target.suffix not in suffixes:
        raise UsageError(f"{flag} {path}: use a name ending in {' or '.join(suffixes)}")
    if target.is_symlink():
        target = target.resolve()
    kind = _not_regular(target)
    if kind is not None:
        raise UsageError(f"{flag} {path} is {kind}, not a regular file; give a file name")
    _check_can_write_into(target.parent, flag, path)


def check_output_folder(path: str | os.PathLike, flag: str) -> None:
    """UsageError, one line naming ``flag``, unless ``path`` is a writable folder or can be made one."""
    folder = Path(path).absolute()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag} {path} is not a folder; give a folder")
    _check_can_write_into(folder, flag, path)


def _check_can_write_into(folder: Path, flag: str, given) -> None:
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {given}: {existing} is not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {given}: cannot write into {existing} (permission denied or read-only); "
                         "choose a writable path")


def _not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file ('a folder', 'a FIFO'...), else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def remove_temporaries_of(target: str | os.PathLike) -> list[Path]:
    """Delete the hidden ``.NAME.XXXXXXXX.tmp`` files that killed writes of ``target`` left beside it
    (what :func:`open_temp_beside` makes); return them. Only ``target``'s own are touched."""
    target = Path(target).absolute()
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.tmp")
    if not target.parent.is_dir():
        return []
    removed = [path for path in target.parent.iterdir() if pattern.fullmatch(path.name) and path.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
