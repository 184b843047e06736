"""A progress bar of each epoch's steps, on a terminal."""

from __future__ import annotations

import sys

from ..epoch import batch_count
from ..loop import Extension


class ProgressBar(Extension):
    """A tqdm bar on stderr per epoch, closed when the epoch ends or the run stops."""

    per_step = True

    def __init__(self):
        self.bar = None

    def epoch_start(self, run, epoch: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=batch_count(run.data.train.size, run.batch_size), desc=f"epoch {epoch}/{run.epochs}",
                        unit="step", leave=False, file=sys.stderr)

    def step_end(self, run) -> None:
        self.bar.update()

    def epoch_end(self, run, record: dict) -> None:
        self._close()

    def interrupted(self, run, stop) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
