"""The bench compares like with like, runs end to end, and rejects bad flags; no timing assertions."""

import importlib
import importlib.util
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.bench import command as bench
from xpnet.bench import references as refs
from xpnet.backend import cuda_problem


def run_bench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "xpnet.bench", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("hidden", [(), (16,), (16, 8)], ids=["softmax", "one-hidden", "two-hidden"])
def test_references_train_the_same_parameters_as_the_trainer(tiny_dataset, hidden):
    # 600 examples in batches of 64: nine full batches and a partial one.
    sizes, batch, lr, seed = [784, *hidden, 10], 64, 0.05, 7
    expected = xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=hidden, batch_size=batch, epochs=1, lr=lr,
                         dtype="float64", seed=seed, log=None).host_params()
    X, y = refs.host_data(tiny_dataset.train_images, tiny_dataset.train_labels, "float64")
    params, (order,) = refs.fit_draws(sizes, X.shape[0], seed, "float64", epochs=1)
    start = [W.copy() for W, _ in params]
    refs.numpy_loop_epoch(params, X, y, order, batch, lr)
    trained = {"numpy-loop": params}
    if importlib.util.find_spec("torch") is not None:
        params, *arrays = refs.to_torch(refs.fit_draws(sizes, X.shape[0], seed, "float64", epochs=1)[0], X, y, order)
        refs.torch_eager_epoch(params, *arrays, batch, lr)
        trained["torch-eager"] = [(W.numpy(), b.numpy()) for W, b in params]
    assert not np.allclose(start[0], expected[0][0])  # the epoch moved the weights
    for name, got in trained.items():
        for (W, b), (eW, eb) in zip(got, expected):
            np.testing.assert_allclose(W, eW, rtol=1e-10, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(b, eb, rtol=1e-10, atol=1e-12, err_msg=name)


def test_gemm_floor_counts_and_runs_the_products():
    X = np.random.default_rng(0).random((100, 784), dtype=np.float32)
    floor = refs.GemmFloor([784, 16, 8, 10], 32, X)
    floor.epoch()
    assert all(np.isfinite(dW).all() for dW in floor.dW)
    # forward + weight gradients for every layer, input gradients for all but the first
    assert refs.gemm_flops([784, 16, 8, 10], 100) == 2 * 100 * (3 * (784 * 16 + 16 * 8 + 8 * 10) - 784 * 16)


def test_quick_run_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "out.json"
    result = run_bench("--quick", "--json", str(out), "--plot", str(tmp_path / "plot.png"))
    assert result.returncode == 0, result.stderr
    assert "| model | batch | implementation |" in result.stdout
    assert "| 784-32-10 | 64 | xpnet/numpy |" in result.stdout
    assert "Environment:" in result.stdout
    assert "plot written" in result.stderr or "plot skipped" in result.stderr
    report = json.loads(out.read_text())
    rows = {(row["model"], row["implementation"]): row for row in report["results"]}
    for model in ("784-32-10", "784-10"):
        for name in ("xpnet/numpy", "numpy-loop", "gemm-floor"):
            row = rows[model, name]
            assert row["min_seconds"] > 0 and row["median_seconds"] > 0 and row["gflop_per_second"] > 0
        ratios = rows[model, "xpnet/numpy"]["ratios"]
        assert ratios["numpy-loop"]["median_paired"] > 0 and ratios["gemm-floor"]["median_paired"] > 0
    assert report["memory"][0]["data_bytes"] == 512 * 784 * 4
    assert report["environment"]["cores"] >= 1


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--models", "784-x-10"], ["--models", "100-10"],
                                  ["--backends", "mxnet"], ["--batch-sizes", "64,-1"], ["--frobnicate"]])
def test_bad_flags_exit_2(args):
    result = run_bench(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("python -m xpnet.bench: error:"), result.stderr
    assert lines[1] == "try: python -m xpnet.bench --help"


def test_unusable_backend_is_one_line_and_exit_1():
    if cuda_problem() is None:
        pytest.skip("CUDA is usable here")
    result = run_bench("--quick", "--backends", "cupy")
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error:") and "cuda" in result.stderr.lower()


def test_a_backend_runs_on_the_device_named_after_it(monkeypatch, capsys):
    """--backends NAME@DEVICE trains on that device, and its row says so; the old bench took
    names only, so gpu_report's bench ran CuPy on cuda:0 whatever device was under test."""
    trained_on = []

    def recording_fit(**settings):
        result = xpnet.fit(**settings)
        trained_on.append((settings["backend"], result.backend.device_name))
        return result

    monkeypatch.setattr(bench, "fit", recording_fit)
    status = bench.main(["--quick", "--models", "784-10", "--n-train", "64", "--backends",
                         "numpy,array-api-strict@device1"])
    out = capsys.readouterr().out
    assert status == 0
    assert set(trained_on) == {("numpy", "cpu"), ("array-api-strict", "device1")}
    implementations = re.findall(r"^\| 784-10 \| 64 \| (\S+) \|", out, re.MULTILINE)
    assert implementations == ["xpnet/numpy", "xpnet/array-api-strict@device1", "numpy-loop", "gemm-floor"]
    assert "--backends NAME[@DEVICE]" in bench.build_parser().format_help()


@pytest.mark.parametrize("backends, status, fragment", [
    ("numpy,array-api-strict@device9", 2, "array-api-strict@device9 cannot run here"),
    ("numpy@cuda:1", 2, "numpy@cuda:1 cannot run here"),
    ("numpy,numpy@cpu", 2, "numpy and numpy@cpu are the same backend"),
    ("numpy@", 2, "NAME@DEVICE"),
    ("numpy+compile", 2, "numpy+compile cannot run here: compiled training (--compile, +compile"),
    ("numpy+fast", 2, "NAME+compile or NAME+eager"),
    pytest.param("numpy,jax+compile@cpu,jax@cpu+compile", 2, "jax@cpu+compile and jax@cpu+compile are the same",
                 marks=pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")),
    pytest.param("jax,jax+compile", 2, "jax and jax+compile are the same backend", marks=pytest.mark.skipif(
        importlib.util.find_spec("jax") is None, reason="jax is not installed")),
    pytest.param("torch@cuda", 1, "torch@cuda cannot run here", marks=pytest.mark.skipif(
        importlib.util.find_spec("torch") is None or importlib.import_module("torch").cuda.is_available(),
        reason="needs a PyTorch that sees no CUDA GPU")),
])
def test_a_bad_entry_is_one_line_naming_it(backends, status, fragment, capsys):
    try:
        found = bench.main(["--quick", "--backends", backends])
    except SystemExit as stop:
        found = stop.code
    err = capsys.readouterr().err
    assert found == status, err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and fragment in error_lines[0], err


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_compiled_and_eager_rows_say_which_and_count_their_dispatches(tmp_path, capsys):
    """A compiled JAX epoch is one call into compiled code; an eager epoch dispatches every
    operation (counted by PyTorch's dispatcher where PyTorch is installed: about 37 a step)."""
    out = tmp_path / "bench.json"
    status = bench.main(["--quick", "--models", "784-10", "--n-train", "256", "--backends", "numpy,jax,jax+eager",
                         "--json", str(out)])
    assert status == 0, capsys.readouterr().err
    rows = {row["implementation"]: row for row in json.loads(out.read_text())["results"]}
    assert rows["xpnet/jax compiled"]["compiled"] and not rows["xpnet/jax eager"]["compiled"]
    assert rows["xpnet/jax compiled"]["dispatches_per_epoch"] == 1
    assert "numpy-loop" in rows["xpnet/jax compiled"]["ratios"]
    eager = rows["xpnet/numpy"]["dispatches_per_epoch"]
    if importlib.util.find_spec("torch") is not None:
        steps = 256 // 64
        assert eager == rows["xpnet/jax eager"]["dispatches_per_epoch"] and 20 * steps < eager < 60 * steps
    assert rows["numpy-loop"]["dispatches_per_epoch"] is None
