"""Ctrl-C at a chosen moment, without a signal: ``stop_after(monkeypatch, n)``.

``fit`` asks its interrupt request "stop?" between steps; after ``stop_after(monkeypatch, n)``
the answer is yes from the (n + 1)-th question on, as if Ctrl-C had come then.
"""

from xpnet.training import run as run_module


class StopAfter(run_module.InterruptRequest):
    """Answers 'stop' once ``calls_before_stop`` questions have been answered 'go on'."""

    calls_before_stop = 0

    def __call__(self):
        type(self).calls_before_stop -= 1
        return type(self).calls_before_stop < 0


def stop_after(monkeypatch, questions: int) -> None:
    """Make every later ``fit`` of this test stop after ``questions`` steps in all."""
    StopAfter.calls_before_stop = questions
    monkeypatch.setattr(run_module, "InterruptRequest", StopAfter)
