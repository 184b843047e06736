"""Ctrl-C, SIGTERM and SIGHUP as a request, answered at the next safe point instead of in
the middle of a step.

``timeout``, SLURM, ``docker stop`` and a closed terminal send SIGTERM or SIGHUP; they are
treated as Ctrl-C is: the run finishes its step, writes a checkpoint and says how to
resume, and the command exits with 128 + the signal's number (130, 143, 129). A signal the
user chose to ignore (``nohup``, ``trap '' TERM``, a background job of a shell without job
control) stays ignored: only signals at their default are taken over.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable

from ..errors import XpnetError

HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_received: list[int] = []  # the signals the runs of this process received, the latest last


def at_default(signum: int) -> bool:
    """Whether ``signum`` does what it does unless someone chose otherwise: ``SIG_DFL``, or for
    SIGINT Python's own handler (KeyboardInterrupt). Ignored, or handled by the program, is a choice."""
    handler = signal.getsignal(signum)
    return handler is signal.SIG_DFL or (signum == signal.SIGINT and handler is signal.default_int_handler)


class Interrupted(XpnetError):
    """A run stopped by a signal; ``exit_status`` is 128 + its number."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + int(self.signum)


def signal_name(signum: int) -> str:
    """``'SIGTERM'`` for 15; ``'Ctrl-C'`` for SIGINT."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class InterruptRequest:
    """While active, SIGINT, SIGTERM and SIGHUP stop the run at a safe point.

    Before :meth:`arm` (loading or downloading data, moving it to the device) there is
    nothing to save, so a signal stops at once (:class:`KeyboardInterrupt` for Ctrl-C,
    :class:`Interrupted` for the others). Once armed, a signal only raises a flag that the
    training loop reads between steps (``request()`` is true). A second signal restores
    the default behaviour and acts at once, so a user is never stuck; every write is
    atomic, so nothing is damaged. A signal not at its default (:func:`at_default`: ignored,
    or the program's own handler) is left as it is. Outside the main thread it does nothing.
    """

    def __init__(self):
        self.signum: int | None = None
        self.armed = False
        # Called when the first signal arrives, once armed: a line saying what the run does now, to print
        # (a compiled epoch takes a while), or None; a compiled run also leaves a compilation under way.
        self.on_first_signal: Callable[[], str | None] | None = None
        self._previous: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def arm(self) -> None:
        """From now on, answer a signal at the next step instead of at once."""
        self.armed = True

    def __enter__(self) -> "InterruptRequest":
        if threading.current_thread() is threading.main_thread():
            for signum in filter(at_default, HANDLED):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        _received.append(signum)
        if self.signum is not None:  # the second signal: its default action, now
            self._restore_defaults()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signum)
        if not self.armed:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Interrupted(f"stopped by {signal_name(signum)} before training started; nothing to save",
                              signum)
        self.signum = signum
        note = self.on_first_signal() if self.on_first_signal is not None else None
        if note:
            print(f"{signal_name(signum)}: {note}", file=sys.stderr, flush=True)

    def _restore_defaults(self) -> None:
        for signum, previous in self._previous.items():  # only signals that were at their default
            signal.signal(signum, previous)


def end_at_exit_unless(finished: threading.Event) -> None:
    """At exit, end the process at once unless ``finished`` is set (a compilation that a signal made the
    run leave behind is over), with status 128 + that signal: an interpreter that shuts down under a
    thread inside a compiler's C++ code aborts, and waiting for it would take as long as the compilation."""
    def end():
        if finished.is_set():
            return
        try:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):  # a closed or full stream: nothing more can be said
                    pass
        finally:  # even if another Ctrl-C comes meanwhile
            os._exit(128 + (_received[-1] if _received else signal.SIGINT))
    atexit.register(end)
