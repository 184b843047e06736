"""Ctrl-C, SIGTERM and SIGHUP during ``python -m xpnet.bench``: answered between turns, with one
line of the bench's own, and nothing written.

The bench holds these signals itself for the whole run, through the training's own
:class:`~xpnet.training.interrupt.InterruptRequest`, armed at once: a signal only raises a flag,
read before each turn and case. Nothing is raised in the middle of library code, where an
exception is lost (a garbage-collector callback of JAX prints "Exception ignored" and the bench
ran on to the end) or cannot pass (a callback from C++ code aborts the process). A signal held by
the bench is no longer at its default, so each ``fit`` the bench calls leaves it alone: a
fit neither stops part-way nor writes the interrupted checkpoint and resume hint of a training
run (a bench is not resumable). A second signal acts at once, as in training.

A Ctrl-C typed at a terminal reaches the whole process group: a compiler the libraries run as a
child (g++ under ``torch.compile``) dies of it, and the turn fails with the library's error. Once a
signal has come, such a failure is the stop it asked for, said in the same line.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from ..training.interrupt import InterruptRequest, Interrupted, signal_name

FIRST_SIGNAL_NOTE = "the bench stops before its next turn, writing nothing; a second signal stops it at once"


class BenchStop:
    """Where a bench stands (``cases`` planned, ``done``), and its answer to a signal (:meth:`check`)."""

    def __init__(self, request: InterruptRequest):
        self.request = request
        self.cases: int | None = None
        self.done = 0

    def check(self) -> None:
        """Raise :class:`Interrupted` with the bench's line if a signal came."""
        if self.request.signum is not None:
            raise self.interrupted(self.request.signum)

    def interrupted(self, signum: int, failure: Exception | None = None) -> Interrupted:
        """The bench's stop by ``signum``, naming the type of the error its running turn failed with, if any."""
        where = "before its first case" if self.cases is None else f"after {self.done} of {self.cases} case(s)"
        failed = "" if failure is None else f" (the running turn failed as it stopped: {type(failure).__name__})"
        return Interrupted(f"bench stopped by {signal_name(signum)} {where}{failed}; nothing written", signum)


@contextmanager
def stopping_between_turns() -> Iterator[BenchStop]:
    """The signals held as a flag for as long as the block runs; a signal that came during it ends
    the block with :class:`Interrupted` (exit status 128 + its number), the second Ctrl-C too."""
    with InterruptRequest() as request:
        request.arm()
        request.on_first_signal = lambda: FIRST_SIGNAL_NOTE
        stop = BenchStop(request)
        try:
            yield stop
        except Interrupted:
            raise
        except KeyboardInterrupt:  # the second Ctrl-C, raised wherever the bench was
            raise stop.interrupted(signal.SIGINT) from None
        except Exception as failure:
            if request.signum is None:
                raise
            raise stop.interrupted(request.signum, failure) from None
        stop.check()  # one that came after the last check
