"""Watching the dev split: the best epoch so far, and early stopping when it stops improving.

As Keras's ``EarlyStopping`` and scikit-learn's ``n_iter_no_change``: after each epoch the
monitored dev metric either improves on the best so far (strictly) or counts one more
epoch without improvement; ``patience`` such epochs in a row end the run. Everything is
derived from the run's history, so a resumed run watches exactly as the uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MONITORS = {"dev_loss": min, "dev_accuracy": max}


@dataclass
class DevWatch:
    """The best value of ``monitor`` so far, its epoch, and the epochs since it improved.

    ``patience`` 0 never stops the run (the best epoch is still tracked).
    """

    monitor: str
    patience: int = 0
    best_value: float | None = None
    best_epoch: int | None = None
    waited: int = 0

    @classmethod
    def replay(cls, monitor: str, patience: int, history: list[dict]) -> "DevWatch":
        """The watch as it stood after the epochs of ``history``."""
        watch = cls(monitor, patience)
        for record in history:
            watch.update(record)
        return watch

    def update(self, record: dict) -> bool:
        """Take the epoch ``record`` (with its dev metrics) into account; True if it is the new best."""
        value = record[self.monitor]
        if not math.isfinite(value) or (
                self.best_value is not None and MONITORS[self.monitor](value, self.best_value) == self.best_value):
            self.waited += 1
            return False
        self.best_value, self.best_epoch, self.waited = value, record["epoch"], 0
        return True

    def state(self) -> dict:
        """Where the watch stands, for a checkpoint (whose history may not reach back to the best epoch)."""
        return {"monitor": self.monitor, "best_value": self.best_value, "best_epoch": self.best_epoch,
                "waited": self.waited}

    @classmethod
    def resumed(cls, monitor: str, patience: int, state: dict | None, history: list[dict]) -> "DevWatch":
        """The watch a checkpoint's ``state`` describes; or, for older checkpoints and another
        monitor, its ``history`` replayed."""
        if state is None or state.get("monitor") != monitor:
            return cls.replay(monitor, patience, history)
        return cls(monitor, patience, state["best_value"], state["best_epoch"], state["waited"])

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.waited >= self.patience

    def stop_line(self) -> str:
        return (f"early stopping: {self.monitor} has not improved for {self.waited} epoch(s) "
                f"(best {self.best_value:.4f} at epoch {self.best_epoch})")
