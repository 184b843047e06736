"""A checkpoint folder that xpnet owns: its file names, its newest usable checkpoint,
pruning, the temporaries of killed saves, a lock that keeps a second run out, the folder's
identity, and the folders and file names no run may take.

xpnet writes ``epoch-NNNN.npz`` (or ``.safetensors``) after an epoch and
``xpnet-interrupted.npz`` when a run is stopped inside one. Only files with exactly these
names are ever chosen or deleted; anything else a user puts in the folder is left alone.
Epoch numbers are compared as numbers, so ``epoch-10000`` comes after ``epoch-9999``.
A system folder, the home folder or a shared one like /tmp is never a checkpoint folder,
and no output of a run may name a file xpnet keeps there.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..arguments import option
from ..errors import UsageError, XpnetError
from ..files import check_output_folder
from .checkpoint import EXTENSIONS, Checkpoint, CheckpointError, load_checkpoint

INTERRUPTED_NAME = "xpnet-interrupted.npz"
BEST_NAME = "best.npz"
INTERRUPTED_BEST_NAME = "xpnet-interrupted-best.npz"  # the best epoch beside an interrupted run with no folder
LOCK_NAME = ".xpnet-lock"
FOLDER_ID_NAME = ".xpnet-folder-id"  # the folder's random identity, which its checkpoints carry
_EPOCH_FILE = re.compile(r"epoch-(\d{4,})(\.npz|\.safetensors)")
_TEMPORARY = re.compile(r"\.(epoch-\d{4,}(?:\.npz|\.safetensors)|xpnet-interrupted\.npz|best\.npz)\.[0-9a-f]{8}\.tmp")


def checkpoint_name(epoch: int, suffix: str = ".npz") -> str:
    """The file name of the checkpoint after ``epoch``: ``epoch-0003.npz``."""
    return f"epoch-{epoch:04d}{suffix}"


def epoch_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """(epoch, path) of every file in ``folder`` named as xpnet names epoch checkpoints, oldest first."""
    found = []
    for path in Path(folder).iterdir():
        match = _EPOCH_FILE.fullmatch(path.name)
        if match is not None and match.group(2) in EXTENSIONS and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def is_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder; False for a name the filesystem cannot look up (too long, a loop),
    so that reading it as a checkpoint file says what is wrong in one line."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False


def newest_usable(folder: str | os.PathLike,
                  skipped: Callable[[str], None] | None = None) -> tuple[Path, Checkpoint]:
    """The newest checkpoint in ``folder`` that loads, and its path.

    Candidates are the epoch checkpoints and the interrupted one, ordered by (epoch, step).
    A candidate that does not load is reported to ``skipped`` (one line) and the next
    newest is tried. CheckpointError when there is none, or none loads.
    """
    folder = Path(folder)
    candidates: list[tuple[tuple[int, int], Path, Checkpoint | None]] = [
        ((epoch, 0), path, None) for epoch, path in epoch_checkpoints(folder)]
    failures = []
    interrupted = folder / INTERRUPTED_NAME
    if interrupted.is_file():
        try:
            checkpoint = load_checkpoint(interrupted)
            steps = (checkpoint.in_progress or {}).get("steps", 0)
            candidates.append(((checkpoint.epoch, steps), interrupted, checkpoint))
        except CheckpointError as error:
            failures.append(str(error))
    for _, path, checkpoint in sorted(candidates, key=lambda item: item[0], reverse=True):
        try:
            chosen = checkpoint if checkpoint is not None else load_checkpoint(path)
        except CheckpointError as error:
            failures.append(str(error))
            continue
        for failure in failures:
            if skipped is not None:
                skipped(f"skipped: {failure}")
        return path, chosen
    if failures:
        raise CheckpointError(f"no usable checkpoint in {folder}: {failures[0]}")
    raise CheckpointError(f"no checkpoint (epoch-NNNN.npz or {INTERRUPTED_NAME}) in {folder}; "
                          f"train with {option('--checkpoint-dir')} to write some")


def prune(folder: str | os.PathLike, keep: int) -> None:
    """Delete all but the ``keep`` newest epoch checkpoints in ``folder`` (xpnet's names only)."""
    found = epoch_checkpoints(folder)
    for _, old in found[:-keep] if keep > 0 else []:
        _delete(old, "an old checkpoint")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the hidden ``.NAME.XXXXXXXX.tmp`` files that killed saves of xpnet's checkpoints left
    in ``folder``; call it while holding the folder's lock, so no live save owns them."""
    removed = []
    for path in Path(folder).iterdir():
        if _TEMPORARY.fullmatch(path.name) and path.is_file() and _delete(path, "the temporary file of a killed save"):
            removed.append(path)
    return removed


class FolderInUse(XpnetError):
    """Another live run holds the checkpoint folder's lock."""


@contextmanager
def locked(folder: str | os.PathLike):
    """Hold ``folder``'s lock while the block runs; FolderInUse at once if another live run holds it.

    The lock is an ``flock`` on ``folder/.xpnet-lock``: the system releases it when its
    process dies however it dies, so a lock left by a killed run is simply taken over.
    (Where ``fcntl`` does not exist, Windows, there is no lock.) The first run to hold it
    gives the folder its identity (:func:`folder_identity`).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise XpnetError(f"cannot make the checkpoint folder {folder} ({error.strerror or error}); "
                         f"choose another {option('--checkpoint-dir')}") from None
    try:
        import fcntl
    except ImportError:
        _give_identity(folder)
        yield folder.absolute()
        return
    descriptor = _open_lock(folder / LOCK_NAME)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
            owner = owner if re.fullmatch(r"[0-9]{1,10}", owner) else "unknown"
            raise FolderInUse(f"another xpnet run (process {owner}) is writing checkpoints to {folder}; "
                              f"wait for it to end, or choose another {option('--checkpoint-dir')}") from None
        try:  # the PID only names the owner to a second run; the flock is the lock, so a full disk is no matter
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        _give_identity(folder)
        yield folder.absolute()
    finally:
        os.close(descriptor)


def _open_lock(path: Path) -> int:
    """A descriptor of the lock file ``path`` (made if missing, never through a link); FolderInUse if unusable."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as error:
        raise FolderInUse(f"cannot use {path} as the folder's lock ({error.strerror or error}); it should be a "
                          "file xpnet made: remove it") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise FolderInUse(f"{path} is not a regular file, so it cannot be the folder's lock; remove it")
    return descriptor


def folder_identity(folder: str | os.PathLike) -> str | None:
    """The random identity xpnet gave ``folder`` when it first locked it (32 hex digits), or None.

    Every checkpoint written there carries it, so a checkpoint proves it lies in the folder of
    the run that wrote it (a file name or a stored path proves nothing: anyone can forge them).
    A link, a FIFO or anything but 32 hex digits is no identity.
    """
    try:
        descriptor = os.open(Path(folder) / FOLDER_ID_NAME,
                             os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        text = os.read(descriptor, 64) if stat.S_ISREG(os.fstat(descriptor).st_mode) else b""
    except OSError:
        text = b""
    finally:
        os.close(descriptor)
    match = re.fullmatch(rb"([0-9a-f]{32})\n?", text)
    return match.group(1).decode() if match else None


def _give_identity(folder: Path) -> None:
    """Give ``folder`` a random identity unless it has one; on a full disk it gets none (its
    checkpoints then prove nothing, and resuming them adopts no outputs), and the run goes on."""
    if folder_identity(folder) is not None:
        return
    path = folder / FOLDER_ID_NAME
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:  # one that is not xpnet's is left alone
        return
    text = f"{secrets.token_hex(16)}\n".encode()
    try:
        written = os.write(descriptor, text)
    except OSError:
        written = 0
    finally:
        os.close(descriptor)
    if written != len(text):
        try:
            path.unlink()
        except OSError:
            pass


# Never a run's checkpoint folder (xpnet deletes old checkpoints in it): the system's folders, /lib*
# and the folders they link to (/lib -> /usr/lib), and /tmp (shared: anyone could plant checkpoints).
_SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/dev/shm", "/etc", "/home", "/opt", "/proc", "/root", "/run", "/sbin",
                   "/srv", "/sys", "/usr", "/var", "/var/tmp", "/tmp")
# The files a run keeps in its checkpoint folder, and those it keeps wherever it writes them.
_FOLDER_FILE = re.compile(rf"{re.escape(BEST_NAME)}|{_EPOCH_FILE.pattern}|{_TEMPORARY.pattern}")
_ITS_OWN = (LOCK_NAME, FOLDER_ID_NAME, INTERRUPTED_NAME, INTERRUPTED_BEST_NAME)


def check_checkpoint_folder(path: str | os.PathLike, flag: str = "--checkpoint-dir") -> None:
    """UsageError, one line, unless ``path`` can be a run's checkpoint folder: a folder that can be
    written (:func:`~xpnet.files.check_output_folder`: no link to nothing on the way) and, links
    resolved, not the filesystem root, a system folder, the home folder itself or a folder anyone
    may write into (like /tmp)."""
    check_output_folder(path, flag)
    real = Path(os.path.realpath(Path(path).absolute()))
    what = _shared_folder(real)
    if what is not None:
        raise UsageError(f"{flag} {path} is {what}; xpnet deletes old checkpoints in its folder: "
                         "give a folder of the run's own, such as ./checkpoints")


def _shared_folder(real: Path) -> str | None:
    """What the resolved folder ``real`` is when it must not be a checkpoint folder, else None."""
    if real == Path(real.anchor):
        return "the filesystem root"
    try:  # (Windows reports every folder writable by all)
        shared = os.name == "posix" and real.stat().st_mode & stat.S_IWOTH
    except OSError:
        shared = False
    if shared:
        return "a folder anyone may write into, where others could plant checkpoints"
    names = (*_SYSTEM_FOLDERS, *glob.glob("/lib*"))
    if real in {Path(name) for name in names} | {Path(os.path.realpath(name)) for name in names}:
        return "a system folder"
    home = os.path.expanduser("~")
    return "your home folder itself" if home != "~" and real == Path(os.path.realpath(home)) else None


def check_not_xpnets(path: str | os.PathLike, flag: str, checkpoint_dir: str | os.PathLike | None = None) -> None:
    """UsageError, one line, when the output ``path`` (or the file a link there leads to) is a file
    xpnet keeps for a run: a folder's lock or identity, or an interrupted checkpoint, anywhere; a
    checkpoint or best epoch in a checkpoint folder (``checkpoint_dir``, or one with a lock)."""
    for target in (Path(path).absolute(), Path(os.path.realpath(path))):
        if target.name in _ITS_OWN or (_FOLDER_FILE.fullmatch(target.name)
                                       and _is_checkpoint_folder(target.parent, checkpoint_dir)):
            raise UsageError(f"{flag} {path}: {target.name} is a file xpnet keeps for a run's checkpoints, and "
                             "writing it would break that run; give another name")


def _is_checkpoint_folder(folder: Path, checkpoint_dir) -> bool:
    own = checkpoint_dir is not None and folder in (Path(checkpoint_dir).absolute(),
                                                    Path(os.path.realpath(checkpoint_dir)))
    return own or os.path.lexists(folder / LOCK_NAME) or os.path.lexists(folder / FOLDER_ID_NAME)


def forget_run(folder: str | os.PathLike) -> list[Path]:
    """Delete the run in ``folder`` (its epoch checkpoints, interrupted checkpoint and best epoch,
    xpnet's names only) so a new run can start there (``--restart``); return what was deleted."""
    doomed = [path for _, path in epoch_checkpoints(folder)]
    doomed += [path for path in (Path(folder) / INTERRUPTED_NAME, Path(folder) / BEST_NAME) if path.is_file()]
    for path in doomed:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise XpnetError(f"{option('--restart')} cannot delete {path} ({error.strerror or error}); delete it "
                             f"yourself, or choose another {option('--checkpoint-dir')}") from None
    return doomed


def _delete(path: Path, what: str) -> bool:
    """Delete ``path``; a failure (an immutable file, another user's) is a warning, never the end of a run."""
    try:
        path.unlink(missing_ok=True)
        return True
    except OSError as error:
        print(f"warning: cannot delete {what}, {path} ({error.strerror or error}); it stays", file=sys.stderr,
              flush=True)
        return False
