"""The ``--metrics`` file: JSON Lines, one object per epoch and a final summary."""

from __future__ import annotations

import json

from ..files import write_output


class MetricsLog:
    """Keeps the records written so far and rewrites the whole file atomically on each append.

    A run stopped at any moment leaves a complete, parseable file of the epochs finished.
    """

    def __init__(self, path: str, records: list[dict] = ()):
        """Start the file with ``records`` (a resumed run's earlier epochs)."""
        self.path = path
        self.lines: list[str] = [json.dumps(record) for record in records]
        self._write()

    def append(self, record: dict) -> None:
        self.lines.append(json.dumps(record))
        self._write()

    def _write(self) -> None:
        write_output(self.path, "".join(line + "\n" for line in self.lines),
                     fix="choose a writable path with --metrics")
