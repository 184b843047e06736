"""Runs that are stopped: Ctrl-C at a safe point, and SIGKILL at random moments, then resumed.

Every resumed run must end with parameters bit-identical to an uninterrupted one.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from xpnet.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parent.parent
TRAIN = [sys.executable, "-m", "xpnet.train", "--dataset", "synthetic:30000", "--backend", "numpy", "--hidden", "256",
         "--batch-size", "16", "--epochs", "3", "--dtype", "float32", "--seed", "5", "--threads", "1"]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _same(path_a, path_b):
    a, b = load_checkpoint(path_a), load_checkpoint(path_b)
    return all(np.array_equal(W, W2) and np.array_equal(v, v2) for (W, v), (W2, v2) in zip(a.params, b.params))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("whole") / "model.npz"
    subprocess.run([*TRAIN, "--save", str(path), "--quiet"], check=True, timeout=300)
    return path


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_leaves_a_checkpoint_and_the_same_command_run_again_ends_identical(tmp_path, uninterrupted, signum,
                                                                                    status):
    """Ctrl-C, and what timeout, SLURM, docker stop and a closed terminal send: the run finishes its
    step, checkpoints, says how to resume; the same command line, run again, loses nothing."""
    folder, final, metrics = tmp_path / "run", tmp_path / "final.npz", tmp_path / "metrics.jsonl"
    command = [*TRAIN, "--checkpoint-dir", str(folder), "--save", str(final), "--metrics", str(metrics)]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in run.stdout:
        if line.startswith("epoch 1/3"):
            break
    time.sleep(0.5)
    run.send_signal(signum)  # during epoch 2 of 3: an epoch takes about two seconds
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == status, stderr
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1
    assert stderr.startswith(f"stopped by {'Ctrl-C' if signum == signal.SIGINT else signal.Signals(signum).name} "
                             "in epoch 2") and "rerun the same command" in stderr
    assert load_checkpoint(folder / "xpnet-interrupted.npz").in_progress is not None and not final.exists()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming from {folder / 'xpnet-interrupted.npz'}: epoch 1 of 3 done" in again.stdout
    assert _same(final, uninterrupted)
    assert not (folder / "xpnet-interrupted.npz").exists()
    lines = metrics.read_text().splitlines()
    assert len(lines) == 4 and '"test_accuracy"' in lines[-1]


def test_sigkill_at_random_moments_then_the_same_command_ends_bit_identical(tmp_path, uninterrupted):
    """Three runs killed with SIGKILL at random times; the same command, run again, continues each."""
    chance = random.Random(int(os.environ.get("XPNET_KILL_SEED", "0")))
    for attempt in range(3):
        folder = tmp_path / f"run{attempt}"
        command = [*TRAIN, "--checkpoint-dir", str(folder), "--save", str(folder / "final.npz"), "--quiet"]
        run = subprocess.Popen(command)
        time.sleep(chance.uniform(0.5, 4.0))
        run.kill()
        run.wait()
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        assert _same(folder / "final.npz", uninterrupted), f"attempt {attempt}"
        assert not list(folder.glob(".*.tmp")), "the temporaries of a killed save are removed"


def test_a_second_run_into_the_same_folder_stops_at_once_and_the_first_is_unharmed(tmp_path, uninterrupted):
    folder, final = tmp_path / "run", tmp_path / "final.npz"
    first = subprocess.Popen([*TRAIN, "--checkpoint-dir", str(folder), "--save", str(final)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().startswith("xpnet ")  # it holds the folder from before its first line
        started = time.monotonic()
        second = subprocess.run([*TRAIN, "--checkpoint-dir", str(folder), "--lr", "0.5"], capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 1 and time.monotonic() - started < 30
        assert second.stderr == (f"error: another xpnet run (process {first.pid}) is writing checkpoints to {folder}; "
                                 "wait for it to end, or choose another --checkpoint-dir\n")
    finally:
        first.communicate(timeout=300)
    assert first.returncode == 0 and _same(final, uninterrupted)


def _wait_until_xpnet_is_importing(pid: int) -> None:
    """Until NumPy's C core is loaded in the process (Linux's /proc), which xpnet imports first:
    Ctrl-C before that lands in Python's own start-up, which no program can answer."""
    maps = f"/proc/{pid}/maps"
    deadline = time.monotonic() + 30
    while os.path.exists(maps) and time.monotonic() < deadline:
        try:
            with open(maps) as regions:
                if "_multiarray_umath" in regions.read():
                    return
        except OSError:
            return
        time.sleep(0.005)


def _ctrl_c_as_a_terminal_delivers_it():
    """SIGINT at its default in the child: a suite started in the background by a shell without job
    control ignores SIGINT, and a child would inherit that and never see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.3])
def test_ctrl_c_while_the_command_starts_is_one_line_not_a_traceback(delay, tmp_path):
    run = subprocess.Popen([sys.executable, "-m", "xpnet.train", "--dataset", "synthetic:600", "--backend", "numpy",
                            "--epochs", "50"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},  # a late Ctrl-C writes here
                           preexec_fn=_ctrl_c_as_a_terminal_delivers_it)
    _wait_until_xpnet_is_importing(run.pid)
    time.sleep(delay)  # while Python imports xpnet and its libraries, or loads the data
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    # 130, or ended by the signal itself (-2): a shell shows both as status 130.
    assert run.returncode in (130, -signal.SIGINT) and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith(("interrupted", "stopped by Ctrl-C")), stderr
