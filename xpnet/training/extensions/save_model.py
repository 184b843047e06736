"""The model written at the end of a run (``--save``): the best epoch's when kept, else the last."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint_folder import INTERRUPTED_NAME
from ..loop import Extension
from .checkpoints import forget_interrupted, save_or_rescue


class SaveModel(Extension):
    """Saves the final model to ``path`` after the test (rescued to a temporary folder, and the run
    ends with an error naming it, when the disk is full); a run resumed from an interrupted
    checkpoint then deletes it."""

    def __init__(self, path: str):
        self.path = path

    def run_end(self, run, summary: dict) -> None:
        final = run.best if run.best is not None else run.snapshot(run.epochs_done)
        run.say(f"model saved to {save_or_rescue(Path(self.path), final, run)}")
        if run.resumed_from is not None and run.resumed_from.name == INTERRUPTED_NAME:
            forget_interrupted(run, run.resumed_from)
