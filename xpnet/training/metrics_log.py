"""The ``--metrics`` file: JSON Lines, one object per epoch and a final summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..arguments import option
from ..errors import XpnetError
from ..files import standard_stream, write_output

_LARGEST_READ_BACK = 100 * 2**20
_sync = os.fsync


class MetricsLog:
    """Written whole once, when the run starts; then one line appended per record.

    A resumed run starts the file again from its checkpoint's history, keeping the lines of
    any earlier epochs the checkpoint no longer carries. Each append is one write, flushed
    and synced, so an epoch costs the same however long the run, and a run stopped at any
    moment leaves a line for every finished epoch. An append that fails (a full disk) is
    undone, and its line is written with the next one that succeeds. A path that is the
    command's own standard output or error (``--metrics /dev/stdout``) gets every line
    appended as a stream, between the lines the run prints.
    """

    def __init__(self, path: str, records: list[dict] = ()):
        """Start the file with ``records`` (a resumed run's epochs so far)."""
        self.path = path
        self.pending: list[bytes] = []
        self.stream = standard_stream(path)
        earlier = _earlier_lines(Path(path), records[0]["epoch"]) if records and self.stream is None else []
        self.unwritten_start: str | None = "".join(earlier + [json.dumps(record) + "\n" for record in records])
        self.start_error: XpnetError | None = None
        try:
            self._write_start()
        except XpnetError as error:  # a full disk: tried again with each append
            self.start_error = error

    def _write_start(self) -> None:
        write_output(self.path, self.unwritten_start + b"".join(self.pending).decode(), fix=_fix())
        self.unwritten_start = None
        self.pending.clear()

    def append(self, record: dict) -> None:
        self.pending.append((json.dumps(record) + "\n").encode())
        if self.unwritten_start is not None:
            self._write_start()
            return
        try:
            if self.stream is not None:
                self.stream.write(b"".join(self.pending).decode())
                self.stream.flush()
            else:
                self._append_to_file()
        except OSError as error:
            raise XpnetError(f"cannot write {self.path}: {error.strerror or error}; {_fix()}") from None
        self.pending.clear()

    def _append_to_file(self) -> None:
        """The pending lines in one write, synced; never through a link that replaced the file.
        O_NONBLOCK: a FIFO put at the path is refused (ENXIO) where none reads it, not waited on."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
        with open(fd, "ab") as file:
            size = os.fstat(fd).st_size
            try:
                file.write(b"".join(self.pending))
                file.flush()
                _sync(file.fileno())
            except OSError:
                file.truncate(size)  # no half line for the next append to follow
                raise


def _earlier_lines(path: Path, first_epoch: int) -> list[str]:
    """The lines of an existing metrics file for epochs before ``first_epoch`` (none if it cannot be read)."""
    try:
        if not path.is_file() or path.stat().st_size > _LARGEST_READ_BACK:
            return []
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (OSError, UnicodeDecodeError):
        return []
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            break
        epoch = record.get("epoch") if isinstance(record, dict) else None
        if not isinstance(epoch, int) or epoch >= first_epoch or "test_accuracy" in record:
            break
        kept.append(line if line.endswith("\n") else line + "\n")
    return kept


def _fix() -> str:
    """What to do when the metrics file cannot be written, as a flag or as a keyword."""
    return f"choose a writable path with {option('--metrics')}"
