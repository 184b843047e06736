"""Ctrl-C, SIGTERM and SIGHUP answered at a safe point once the run can save."""

from __future__ import annotations

from ..interrupt import InterruptRequest
from ..loop import Extension


class Signals(Extension):
    """Arms ``request`` (an entered :class:`~xpnet.training.interrupt.InterruptRequest`) when the run
    starts: from then on a signal is a request the loop reads between steps (``signals()``) and
    after each epoch (``signals.signum``). A compiled JAX epoch, which cannot stop part-way, says so."""

    def __init__(self, request: InterruptRequest):
        self.request = request

    def __call__(self) -> bool:
        return self.request()

    @property
    def signum(self) -> int | None:
        return self.request.signum

    def run_start(self, run) -> None:
        self.request.arm()
        if run.compiled is not None:
            self.request.on_first_signal = run.compiled.answer_signal
