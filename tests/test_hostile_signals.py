"""Signals the user chose to ignore stay ignored (``nohup``, ``trap '' TERM``, a background job of
a shell without job control), and a signal during a long compilation stops the run promptly
(issue 25, item 8).

Each case runs a command in a child process, sends it a signal at a known moment (once its
first epoch line is printed, or while it compiles) and checks the exit status, the last line and
the outputs.
"""

import signal
import subprocess
import sys
import time

import pytest
from test_hostile_outputs import child_env

from xpnet.training.checkpoint import load_checkpoint

pytestmark = [pytest.mark.hostile, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

# About 2 s of training on one core: long enough to be signalled between its first and last epochs.
TRAIN = ["-m", "xpnet.train", "--dataset", "synthetic:20000", "--backend", "numpy", "--hidden", "64",
         "--batch-size", "8", "--epochs", "3", "--seed", "3", "--threads", "1"]


def _ignoring(*signums):
    """A ``preexec_fn`` that starts the child with ``signums`` ignored, as ``nohup`` or ``trap ''`` do."""
    def ignore():
        for signum in signums:
            signal.signal(signum, signal.SIG_IGN)
    return ignore


def _start(args, folder, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=folder, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)


def _signal_after(process: subprocess.Popen, text: str, signum: int, times: int = 1) -> tuple[str, str]:
    """Send ``signum`` ``times`` once ``text`` starts a line of the child's stdout; its (stdout, stderr)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(text):
            break
    assert lines and lines[-1].startswith(text), lines
    for _ in range(times):
        process.send_signal(signum)
        time.sleep(0.05)
    out, err = process.communicate(timeout=60)
    return "".join(lines) + out, err


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=["nohup", "trap-term", "bg-int"])
def test_a_signal_ignored_when_the_run_starts_stays_ignored(tmp_path, signum):
    """Twice, so the second-signal path (which restores the defaults) is crossed too."""
    run = _start([*TRAIN, "--save", "m.npz"], tmp_path, _ignoring(signum))
    out, err = _signal_after(run, "epoch 1/3", signum, times=2)
    assert run.returncode == 0, (run.returncode, err)
    assert "model saved to m.npz" in out and load_checkpoint(tmp_path / "m.npz").epoch == 3
    assert not list(tmp_path.glob("*interrupted*"))


def test_under_nohup_the_run_survives_the_terminal_closing(tmp_path):
    run = _start(["-c", "import os, sys; os.execvp('nohup', ['nohup', *sys.argv[1:]])", sys.executable, *TRAIN,
                  "--save", "m.npz"], tmp_path)
    out, err = _signal_after(run, "epoch 1/3", signal.SIGHUP)
    assert run.returncode == 0, err
    assert load_checkpoint(tmp_path / "m.npz").epoch == 3 and "model saved to m.npz" in out


def test_an_ignored_signal_leaves_the_others_answered(tmp_path):
    """SIGHUP ignored, SIGTERM still stops the run at a safe point with its checkpoint."""
    run = _start([*TRAIN, "--save", "m.npz"], tmp_path, _ignoring(signal.SIGHUP))
    _, err = _signal_after(run, "epoch 1/3", signal.SIGTERM)
    assert run.returncode == 143, err
    assert "stopped by SIGTERM" in err.splitlines()[-1] and list(tmp_path.glob("*interrupted*.npz"))


def test_a_second_signal_leaves_an_ignored_signal_ignored():
    """The second signal gives the signals xpnet took over their defaults back, and no other."""
    from xpnet.training.interrupt import InterruptRequest

    previous = signal.signal(signal.SIGINT, signal.default_int_handler), signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with InterruptRequest() as request:
            request.arm()
            signal.raise_signal(signal.SIGTERM)
            assert request.signum == signal.SIGTERM
            with pytest.raises(KeyboardInterrupt):  # the second signal, at once
                signal.raise_signal(signal.SIGINT)
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGHUP, previous[1])
