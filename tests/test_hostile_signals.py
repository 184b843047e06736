"""Signals the user chose to ignore stay ignored (``nohup``, ``trap '' TERM``, a background job of
a shell without job control), and a signal during a long compilation stops the run promptly
(issue 25, item 8).

Each case runs a command in a child process, sends it a signal at a known moment (once its
first epoch line is printed, or while it compiles) and checks the exit status, the last line and
the outputs.
"""

import importlib.util
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


def _signal_after(process: subprocess.Popen, text: str, signum: int, times: int = 1,
                  delay: float = 0.0) -> tuple[str, str, float]:
    """Send ``signum`` ``times``, ``delay`` seconds after ``text`` starts a line of the child's stdout:
    its (stdout, stderr) and the seconds from the signal to its exit."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith(text):
            break
    assert lines and lines[-1].startswith(text), lines
    time.sleep(delay)
    sent = time.monotonic()
    for _ in range(times):
        process.send_signal(signum)
        time.sleep(0.05)
    out, err = process.communicate(timeout=120)
    return "".join(lines) + out, err, time.monotonic() - sent


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=["nohup", "trap-term", "bg-int"])
def test_a_signal_ignored_when_the_run_starts_stays_ignored(tmp_path, signum):
    """Twice, so the second-signal path (which restores the defaults) is crossed too."""
    run = _start([*TRAIN, "--save", "m.npz"], tmp_path, _ignoring(signum))
    out, err, _ = _signal_after(run, "epoch 1/3", signum, times=2)
    assert run.returncode == 0, (run.returncode, err)
    assert "model saved to m.npz" in out and load_checkpoint(tmp_path / "m.npz").epoch == 3
    assert not list(tmp_path.glob("*interrupted*"))


def test_under_nohup_the_run_survives_the_terminal_closing(tmp_path):
    run = _start(["-c", "import os, sys; os.execvp('nohup', ['nohup', *sys.argv[1:]])", sys.executable, *TRAIN,
                  "--save", "m.npz"], tmp_path)
    out, err, _ = _signal_after(run, "epoch 1/3", signal.SIGHUP)
    assert run.returncode == 0, err
    assert load_checkpoint(tmp_path / "m.npz").epoch == 3 and "model saved to m.npz" in out


def test_an_ignored_signal_leaves_the_others_answered(tmp_path):
    """SIGHUP ignored, SIGTERM still stops the run at a safe point with its checkpoint."""
    run = _start([*TRAIN, "--save", "m.npz"], tmp_path, _ignoring(signal.SIGHUP))
    _, err, _ = _signal_after(run, "epoch 1/3", signal.SIGTERM)
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


# A deep JAX network whose step takes XLA seconds to compile (a few times longer on a busy machine).
DEEP_JAX = ["-m", "xpnet.train", "--dataset", "synthetic:210", "--backend", "jax", "--arch", ",".join(["fc8"] * 40),
            "--optimizer", "adam", "--dropout", "0.1", "--shift", "2", "--batch-size", "50", "--epochs", "2",
            "--threads", "1"]
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
PROMPTLY = 10  # seconds from the signal to the exit: a bound with a wide margin, where waiting took minutes


def _stop_while_compiling(process, after: str, signum: int, times: int = 1) -> tuple[str, str, float]:
    """Signal half a second after ``after``, a line printed before the first compilation."""
    return _signal_after(process, after, signum, times, delay=0.5)


@needs_jax
def test_a_signal_during_a_jax_compilation_stops_the_run_at_once_with_one_line(tmp_path):
    run = _start(DEEP_JAX, tmp_path)
    out, err, seconds = _stop_while_compiling(run, "model:", signal.SIGTERM)
    assert run.returncode == 143 and seconds < PROMPTLY, (run.returncode, seconds, err)
    assert len(err.splitlines()) == 1 and err.startswith("stopped by SIGTERM in epoch 1 after 0 step(s)"), err
    assert "epoch 1/2" not in out
    stopped = load_checkpoint(tmp_path / "xpnet-interrupted.npz")  # nothing trained, and all to resume from
    assert stopped.epoch == 0 and stopped.in_progress["steps"] == 0


@needs_jax
def test_a_second_ctrl_c_during_a_compilation_ends_the_run_at_once(tmp_path):
    run = _start(DEEP_JAX, tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # After the line a deep network's run prints before it compiles.
    _, err, seconds = _stop_while_compiling(run, "compiling the training step (41 layers; this can take a while)",
                                            signal.SIGINT, times=2)
    # Ended by the second signal (130), wherever it came: never aborted by the compiler's thread (-6).
    assert run.returncode in (130, -signal.SIGINT) and seconds < PROMPTLY, (run.returncode, seconds, err)
    assert "terminate called" not in err and "Fatal Python error" not in err, err


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_a_signal_during_torch_compile_stops_the_run_at_once_with_one_line(tmp_path):
    run = _start(["-m", "xpnet.train", "--dataset", "synthetic:210", "--backend", "torch", "--compile", "--hidden",
                  "16", "--batch-size", "50", "--epochs", "2", "--threads", "1"], tmp_path)
    _, err, seconds = _stop_while_compiling(run, "model:", signal.SIGTERM)  # torch.compile takes 10 s and more
    assert run.returncode == 143 and seconds < PROMPTLY, (run.returncode, seconds, err)
    assert len(err.splitlines()) == 1 and err.startswith("stopped by SIGTERM in epoch 1 after 0 step(s)"), err


@needs_jax
def test_a_signal_while_a_resumed_run_compiles_leaves_its_checkpoint_as_it_was(tmp_path):
    """The checkpoint the run resumed from stands, and the interrupted one holds the same epoch."""
    eager = [*DEEP_JAX[:DEEP_JAX.index("--backend")], "--backend", "numpy", *DEEP_JAX[DEEP_JAX.index("--arch"):]]
    subprocess.run([sys.executable, *eager, "--epochs", "1", "--checkpoint-dir", "ck", "--quiet"], cwd=tmp_path,
                   env=child_env(), check=True, timeout=60)  # epoch 1, quickly, by NumPy
    before = (tmp_path / "ck" / "epoch-0001.npz").read_bytes()
    run = _start([*DEEP_JAX, "--checkpoint-dir", "ck"], tmp_path)
    _, err, seconds = _stop_while_compiling(run, "resuming from", signal.SIGTERM)
    assert run.returncode == 143 and seconds < PROMPTLY, (run.returncode, seconds, err)
    assert len(err.splitlines()) == 1 and err.startswith("stopped by SIGTERM in epoch 2 after 0 step(s)"), err
    assert (tmp_path / "ck" / "epoch-0001.npz").read_bytes() == before
    stopped, resumed_from = (load_checkpoint(tmp_path / "ck" / name) for name in ("xpnet-interrupted.npz",
                                                                                    "epoch-0001.npz"))
    assert stopped.epoch == 1 and all((W == W1).all() and (b == b1).all()
                                      for (W, b), (W1, b1) in zip(stopped.params, resumed_from.params))
