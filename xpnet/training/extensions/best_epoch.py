"""The best epoch by a dev metric: its weights kept (``--keep-best``), and early stopping."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint_folder import BEST_NAME
from ..loop import Extension
from .checkpoints import save_or_warn


class BestEpoch(Extension):
    """Marks an epoch that improves on ``run.watch``'s best with ``"best": True``, keeps a snapshot
    of it in ``run.best`` (and ``best.npz`` in the checkpoint folder), and ends the run once the
    monitored metric has not improved for the patience (``run.stop_reason``)."""

    def run_start(self, run) -> None:
        if run.watch.should_stop:  # a resumed run that had already stopped early
            run.stop_reason = run.watch.stop_line()

    def epoch_end(self, run, record: dict) -> None:
        if run.watch.update(record):
            record["best"] = True
            run.best = run.snapshot(record["epoch"])
            if run.outputs.checkpoint_dir:
                save_or_warn(Path(run.outputs.checkpoint_dir) / BEST_NAME, run.best, run)
        if run.watch.should_stop:
            run.stop_reason = run.watch.stop_line()
