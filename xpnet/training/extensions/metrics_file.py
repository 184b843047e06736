"""The metrics file (``--metrics``): one JSON line per epoch, and the summary last."""

from __future__ import annotations

from ...errors import XpnetError
from ..loop import Extension
from ..metrics_log import MetricsLog
from ..run_state import warn


class MetricsFile(Extension):
    """Writes the run's history so far at the start (a resumed run's included), each epoch's
    record, and the summary; a failed write is a warning (every checkpoint keeps the metrics)."""

    def __init__(self, path: str):
        self.path = path
        self.log = None

    def run_start(self, run) -> None:
        self.log = MetricsLog(self.path, run.history)
        if self.log.start_error is not None:
            warn(f"{self.log.start_error}; training goes on, and the metrics are kept in every checkpoint")

    def epoch_end(self, run, record: dict) -> None:
        self._append(record)

    def run_end(self, run, summary: dict) -> None:
        self._append(summary)

    def _append(self, record: dict) -> None:
        try:
            self.log.append(record)
        except XpnetError as error:
            warn(f"{error}; training goes on, and the metrics are kept in every checkpoint")
