"""A run that cannot fit in memory is refused before anything is allocated."""

import os
import subprocess
import sys

import pytest

from xpnet.errors import UsageError
from xpnet.nn.architecture import Architecture
from xpnet.training.memory import check_fits, run_bytes

pytestmark = pytest.mark.hostile


def test_the_estimate_counts_data_weights_optimiser_state_and_activations():
    mlp = Architecture.mlp((128,), (28, 28, 1), 10)
    parts = run_bytes(mlp, examples=70000, batch=128, eval_batch=10000, itemsize=4, optimizer_slots=2)
    weights = 784 * 128 + 128 + 128 * 10 + 10
    assert parts["the weights, their gradients and the optimiser's state"] == weights * 4 * 4
    assert parts["the data"] == 70000 * (784 * 5 + 10 * 4 + 8)
    assert parts["the activations of a batch"] == 10000 * 2 * 784 * 4
    check_fits(parts, 2**30, "cpu")  # MNIST's MLP fits in 1 GiB
    with pytest.raises(UsageError, match=r"needs about 3\d\d\.\d MiB on cpu, which has 100\.0 MiB free \(the data"):
        check_fits(parts, 100 * 2**20, "cpu")


PEAK = """
import atexit, runpy, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("peak " + line.split()[1] + "\\n")
atexit.register(peak)
sys.argv = ["python -m xpnet.train", *sys.argv[1:]]
runpy.run_module("xpnet.train", run_name="__main__")
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak from /proc (Linux)")
def test_a_huge_hidden_layer_is_refused_in_one_line_before_any_allocation():
    done = subprocess.run([sys.executable, "-c", PEAK, "--dataset", "synthetic:600", "--backend", "numpy",
                           "--hidden", ",".join(["65536"] * 8), "--epochs", "1"], capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("peak ")]
    peak_kib = int(done.stderr.split("peak ")[1].split()[0])
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 2, done.stderr
    assert "this run needs about" in lines[0] and "use smaller layers, batches or data" in lines[0]
    assert peak_kib < 400 * 1024  # nothing big was allocated


@pytest.mark.parametrize("flags", [["--models", "-".join(["784", *["65536"] * 8, "10"])],
                                   ["--n-train", "1000000000"]])
def test_the_bench_refuses_a_model_or_data_that_cannot_fit_before_making_anything(flags, capsys, monkeypatch):
    from xpnet.bench import command

    monkeypatch.setattr(command, "make_synthetic", lambda *a, **k: pytest.fail("data were made"))
    assert command.main(["--backends", "numpy", *flags]) == 2
    assert "this run needs about" in capsys.readouterr().err
