"""Ctrl-C as a request, answered at the next safe point instead of in the middle of a step."""

from __future__ import annotations

import signal
import threading


class InterruptRequest:
    """While active, SIGINT only raises a flag that the training loop reads between steps.

    A second Ctrl-C restores Python's default behaviour at once, so a user is never stuck.
    Outside the main thread (where signals cannot be caught) it does nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> "InterruptRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
