"""Runs that are stopped: Ctrl-C at a safe point, and SIGKILL at random moments, then resumed.

Every resumed run must end with parameters bit-identical to an uninterrupted one.
"""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from xpnet.training.checkpoint import load_checkpoint

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


def test_ctrl_c_writes_a_checkpoint_and_the_resumed_run_is_identical(tmp_path, uninterrupted):
    run = subprocess.Popen([*TRAIN, "--checkpoint-dir", str(tmp_path)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    for line in run.stdout:
        if line.startswith("epoch 1/3"):
            break
    run.send_signal(signal.SIGINT)  # during epoch 2 of 3: an epoch takes about a second
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr.splitlines()[-1]
    interrupted = tmp_path / "xpnet-interrupted.npz"
    assert load_checkpoint(interrupted).in_progress is not None
    resumed = subprocess.run([sys.executable, "-m", "xpnet.train", "--resume", str(interrupted),
                              "--save", str(tmp_path / "final.npz"), "--quiet"], capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _same(tmp_path / "final.npz", uninterrupted)


def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path, uninterrupted):
    """Three runs killed with SIGKILL at random times; each resumes from its newest checkpoint."""
    chance = random.Random(int(os.environ.get("XPNET_KILL_SEED", "0")))
    for attempt in range(3):
        folder = tmp_path / f"run{attempt}"
        run = subprocess.Popen([*TRAIN, "--checkpoint-dir", str(folder), "--quiet"])
        time.sleep(chance.uniform(0.5, 4.0))
        run.kill()
        run.wait()
        if any(p.name.startswith("epoch-") for p in folder.glob("*.npz")):
            command = [sys.executable, "-m", "xpnet.train", "--resume", str(folder)]
        else:
            command = list(TRAIN)
        finished = subprocess.run([*command, "--save", str(folder / "final.npz"), "--quiet"], capture_output=True,
                                  text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        assert _same(folder / "final.npz", uninterrupted), f"attempt {attempt}"
