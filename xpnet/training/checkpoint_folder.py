"""A checkpoint folder that xpnet owns: its file names, its newest usable checkpoint,
pruning, the temporaries of killed saves, and a lock that keeps a second run out.

xpnet writes ``epoch-NNNN.npz`` (or ``.safetensors``) after an epoch and
``xpnet-interrupted.npz`` when a run is stopped inside one. Only files with exactly these
names are ever chosen or deleted; anything else a user puts in the folder is left alone.
Epoch numbers are compared as numbers, so ``epoch-10000`` comes after ``epoch-9999``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..errors import XpnetError
from .checkpoint import EXTENSIONS, Checkpoint, CheckpointError, load_checkpoint

INTERRUPTED_NAME = "xpnet-interrupted.npz"
BEST_NAME = "best.npz"
INTERRUPTED_BEST_NAME = "xpnet-interrupted-best.npz"  # the best epoch beside an interrupted run with no folder
LOCK_NAME = ".xpnet-lock"
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
                          "train with --checkpoint-dir to write some")


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
    (Where ``fcntl`` does not exist, Windows, there is no lock.)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield folder.absolute()
        return
    path = folder / LOCK_NAME
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as error:
        raise FolderInUse(f"cannot use {path} as the folder's lock ({error.strerror or error}); it should be a "
                          "file xpnet made: remove it") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise FolderInUse(f"{path} is not a regular file, so it cannot be the folder's lock; remove it")
    handle = os.fdopen(descriptor, "r+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise FolderInUse(f"another xpnet run (process {owner}) is writing checkpoints to {folder}; "
                              "wait for it to end, or choose another --checkpoint-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield folder.absolute()
    finally:
        handle.close()


def forget_run(folder: str | os.PathLike) -> list[Path]:
    """Delete the run in ``folder`` (its epoch checkpoints, interrupted checkpoint and best epoch,
    xpnet's names only) so a new run can start there (``--restart``); return what was deleted."""
    doomed = [path for _, path in epoch_checkpoints(folder)]
    doomed += [path for path in (Path(folder) / INTERRUPTED_NAME, Path(folder) / BEST_NAME) if path.is_file()]
    for path in doomed:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise XpnetError(f"--restart cannot delete {path} ({error.strerror or error}); delete it yourself, "
                             "or choose another --checkpoint-dir") from None
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
