"""Checkpoints while a run trains: one every N epochs in the checkpoint folder (the last few
kept), and one whenever a signal stops the run, with or without a folder."""

from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path

from ...arguments import flags_are_named, option
from ...errors import XpnetError
from ..checkpoint import Checkpoint, CheckpointError, save_checkpoint
from ..checkpoint_folder import INTERRUPTED_BEST_NAME, INTERRUPTED_NAME, checkpoint_name, prune
from ..loop import Extension
from ..run_state import warn

KEEP_CHECKPOINTS = 3  # the newest epoch checkpoints a folder holds; older ones are pruned


class Checkpoints(Extension):
    """Writes ``epoch-NNNN.npz`` every ``--checkpoint-every`` epochs, at the last epoch and when the
    run stops early (pruned to the newest ``KEEP_CHECKPOINTS``), and deletes an interrupted
    checkpoint once a newer one holds all it held. When a signal stops the run it keeps the epoch
    or the steps done in a checkpoint and tells the loop where, and how to resume."""

    def epoch_end(self, run, record: dict) -> None:
        epoch, outputs = record["epoch"], run.outputs
        folder = outputs.checkpoint_dir
        if not folder or not (epoch % outputs.checkpoint_every == 0 or epoch == run.epochs
                              or run.stop_reason is not None):
            return
        saved = save_or_warn(Path(folder) / checkpoint_name(epoch), run.snapshot(epoch), run)
        if saved is not None:
            run.last_saved = saved
            prune(folder, KEEP_CHECKPOINTS)
            forget_interrupted(run, Path(folder) / INTERRUPTED_NAME)

    def interrupted(self, run, stop) -> None:
        just_saved = (run.outputs.checkpoint_dir and run.last_saved is not None
                      and run.last_saved.name == checkpoint_name(stop.epoch))
        if stop.in_progress is None and just_saved:
            stop.checkpoint = run.last_saved  # the epoch just got its own checkpoint
        else:
            stop.checkpoint = _write_interrupted(run, run.snapshot(stop.epoch - (stop.in_progress is not None),
                                                                   stop.in_progress))
        stop.resume = resume_hint(run, stop.checkpoint)


def save_or_warn(path: Path, checkpoint: Checkpoint, run) -> Path | None:
    """Save a checkpoint while training goes on; a failure (a full disk) is a warning, not the end of the run."""
    try:
        return save_checkpoint(path, checkpoint)
    except CheckpointError as error:
        kept = f"the last checkpoint is {run.last_saved}" if run.last_saved else "no checkpoint was written yet"
        warn(f"{error}; training goes on ({kept})")
        return None


def save_or_rescue(path: Path, checkpoint: Checkpoint, run) -> Path:
    """Save ``checkpoint`` to ``path``; if that fails (a full disk), to a new folder of the temporary
    folder, raising XpnetError that names both places. Returns where it was saved."""
    try:
        return save_checkpoint(path, checkpoint)
    except CheckpointError as error:
        kept = f"; the last checkpoint is {run.last_saved}" if run.last_saved else ""
        try:
            # mkdtemp makes a folder of a name nobody can guess, that only this user can enter: no
            # link planted in the temporary folder can choose what the rescued model overwrites.
            rescue = Path(tempfile.mkdtemp(prefix="xpnet-rescued-")) / path.name
        except OSError as failure:
            raise XpnetError(f"{error}, and no folder can be made in {tempfile.gettempdir()} either "
                             f"({failure.strerror or failure}){kept}") from None
        try:
            save_checkpoint(rescue, checkpoint)
        except CheckpointError:
            shutil.rmtree(rescue.parent, ignore_errors=True)
            raise XpnetError(f"{error}, and no room in {rescue.parent.parent} either{kept}") from None
        raise XpnetError(f"{error}; the model was saved to {rescue} instead: move it where it belongs") from None


def forget_interrupted(run, path: Path) -> None:
    """Delete an interrupted checkpoint once a newer checkpoint of the run holds all it held."""
    if path.is_file() and (path == run.resumed_from or path.parent == Path(run.outputs.checkpoint_dir or "")):
        for done in (path, path.parent / INTERRUPTED_BEST_NAME):
            try:
                done.unlink(missing_ok=True)
            except OSError as error:
                warn(f"cannot delete {done}, which a newer checkpoint replaces ({error.strerror or error})")


def resume_hint(run, path: Path) -> str:
    """How to resume: the same command (or ``fit`` call), or --resume (``resume=``) with the output
    flags spelled out (resuming adopts only outputs inside the checkpoint folder, and none without one)."""
    outputs = run.outputs
    named = [(flag, str(value)) for flag, value in (("--save", outputs.save_path), ("--metrics", outputs.metrics_path))
             if value]
    source = outputs.checkpoint_dir if outputs.checkpoint_dir is not None else str(path)
    if flags_are_named():
        resume = f"python -m xpnet.train --resume {shlex.quote(source)}" + "".join(
            f" {flag} {shlex.quote(value)}" for flag, value in named)
        again = "rerun the same command, or: "
    else:
        resume = "fit(..., " + ", ".join(f"{option(flag)}={value!r}"
                                         for flag, value in [("--resume", source)] + named) + ")"
        again = "call fit again as before, or "
    return f"{again}{resume}" if outputs.checkpoint_dir is not None else resume


def _write_interrupted(run, checkpoint: Checkpoint) -> Path:
    """The interrupted checkpoint written (rescued if it cannot be), with the best epoch's beside it
    when there is no checkpoint folder (with one, best.npz already holds it); its path."""
    folder = run.outputs.checkpoint_dir
    path = save_or_rescue(Path(folder or ".") / INTERRUPTED_NAME, checkpoint, run)
    if run.best is not None and folder is None:
        save_or_warn(path.parent / INTERRUPTED_BEST_NAME, run.best, run)
    return path
