"""Writing files so that a crash at any moment leaves either the old or the new content."""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import sys
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

    A symbolic link is never followed: it is replaced itself, its target left alone. A path
    that is this process's own standard output or error (:func:`standard_stream`) takes text
    as a stream, appended; any other path that is not a regular file (a folder, a device
    such as /dev/null, a FIFO, a socket) is never replaced: OSError instead.
    """
    stream = standard_stream(path)
    if stream is not None:
        _write_stream(stream, data)
        return
    target = Path(path).absolute()
    kind = _not_regular(target)
    if kind is not None:
        raise OSError(errno.EEXIST, f"it is {kind}, not a regular file")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(target) as file:
        file.write(data.encode() if isinstance(data, str) else data)


def standard_stream(path: str | os.PathLike):
    """``sys.stdout`` or ``sys.stderr`` when ``path`` is the very file (same device and inode)
    that this process's file descriptor 1 or 2 writes to (``/dev/stdout``, ``/proc/self/fd/2``,
    or the file, pipe or terminal a shell redirected it to), else None."""
    try:
        where = os.stat(path)
    except (OSError, ValueError):
        return None
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        try:
            own = os.fstat(fd)
        except OSError:
            continue
        if (own.st_dev, own.st_ino) == (where.st_dev, where.st_ino):
            return stream
    return None


def _write_stream(stream, data: bytes | str) -> None:
    """Append text to a standard stream, flushed: a rename would swap the file a shell
    redirected it to, and a pipe or terminal cannot be synced."""
    if not isinstance(data, str):
        raise OSError(errno.EINVAL, "it is this command's standard output or error, which takes text only")
    stream.write(data)
    stream.flush()


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
    starts: not empty, a known suffix, a name the file system takes, not a symbolic link, not a
    folder or other non-regular file, in a folder that exists (or can be made) and is writable.

    The command's own standard output or error (``--metrics /dev/stdout``) is accepted, and
    written as a stream, for text; an output with ``suffixes`` is a binary format, never a stream.
    """
    _check_not_empty(path, flag)
    if os.fspath(path).endswith(("/", os.sep)):  # Path() would drop the slash and write a file there
        raise UsageError(f"{flag} {path} ends in a slash, which names a folder; give a file name")
    target = Path(path).absolute()
    if suffixes and target.suffix not in suffixes:
        # Path('.onnx').suffix is '': a dot-file, so say what the name lacks
        lacks = " with a name before it" if target.name in suffixes else ""
        raise UsageError(f"{flag} {path}: use a name ending in {' or '.join(suffixes)}{lacks} "
                         f"(e.g. model{suffixes[0]})")
    mode = _lstat_mode(target, flag, path)
    stream = standard_stream(target)
    if stream is not None:
        if suffixes:
            raise UsageError(f"{flag} {path} is this command's standard {'output' if stream is sys.stdout else 'error'}"
                             f", and {flag} writes a binary file; give a file name")
        return
    if mode is not None and stat.S_ISLNK(mode):
        raise _link_refusal(target, flag, path)
    kind = _not_regular(target)
    if kind is not None:
        raise UsageError(f"{flag} {path} is {kind}, not a regular file; give a file name")
    _check_can_write_into(target.parent, flag, path)


def check_output_folder(path: str | os.PathLike, flag: str) -> None:
    """UsageError, one line naming ``flag``, unless ``path`` is a writable folder or can be made one
    (a link to a folder is one; a link to nothing, or a loop of links, is not)."""
    _check_not_empty(path, flag)
    folder = Path(path).absolute()
    _lstat_mode(folder, flag, path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{flag} {path} is not a folder; give a folder")
    _check_can_write_into(folder, flag, path)


def _check_not_empty(path, flag: str) -> None:
    if not os.fspath(path).strip():
        raise UsageError(f"{flag} needs a path, and {os.fspath(path)!r} is none; give one, or leave {flag} out")


def _lstat_mode(target: Path, flag: str, given) -> int | None:
    """``target``'s own mode, not following a final link (None when nothing is there); a name the
    file system cannot take, or a loop of links among its folders, is a UsageError."""
    try:
        return target.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            raise UsageError(f"{flag} {given}: a name in it is too long for the file system "
                             f"({error.strerror}); choose a shorter name") from None
        if error.errno == errno.ELOOP:
            loop = f"{flag} {given}: a folder in it is a loop of symbolic links; choose another path"
            raise UsageError(loop) from None
        return None  # a folder that cannot be searched: _check_can_write_into names it


def _link_refusal(link: Path, flag: str, given) -> UsageError:
    """The one line refusing to write through the symbolic link ``link``, naming where it points."""
    target = Path(os.path.normpath(link.parent / os.readlink(link)))
    try:
        kind = None if stat.S_ISREG(os.stat(link).st_mode) else _not_regular(Path(os.path.realpath(link)))
        # To a device or a folder, "give it itself" would only be refused in turn.
        state, fix = (f", {kind}", "give a file name") if kind else ("", f"give {target} itself, or remove the link")
    except OSError as error:
        looped = error.errno == errno.ELOOP
        state = ", a loop of links" if looped else ", which does not exist"
        fix = "remove the link" if looped else f"give {target} itself, or remove the link"
    return UsageError(f"{flag} {given} is a symbolic link (to {target}{state}); xpnet does not write through "
                      f"links: {fix}")


def _check_can_write_into(folder: Path, flag: str, given) -> None:
    existing = folder
    while not os.path.exists(existing):
        if os.path.lexists(existing):  # making the folder would fail on it
            raise UsageError(f"{flag} {given}: {existing} is a link to nothing (a missing file, or a loop of links); "
                             "remove it, or give another folder")
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {given}: {existing} is not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {given}: cannot write into {existing} (permission denied or read-only); "
                         "choose a writable path")


def _not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a symbolic link (which a
    write replaces, never follows): 'a folder', 'a FIFO'..., else None."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
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
