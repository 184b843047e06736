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
from xpnet.nn.architecture import Architecture

torch_installed = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")


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


@torch_installed
@pytest.mark.parametrize("text", ["conv4k3,pool,conv6k3v,pool,fc16", "conv4k3,avgpool,conv6k3v,avgpool,fc16"])
def test_the_torch_conv2d_reference_trains_the_same_cnn_as_the_trainer(tiny_dataset, text):
    """Same network (kernels and the first fc's rows moved to PyTorch's NCHW layouts), same start, same
    batches: after one float64 epoch (ten SGD steps, the last one partial) the weights agree to rounding
    (measured: about 1e-16 apart; allowed: rtol 1e-9, atol 1e-12). Valid and same padding both occur."""
    batch, lr, seed = 64, 0.05, 7
    arch = Architecture.of(text, (28, 28, 1), 10)
    expected = xpnet.fit(dataset=tiny_dataset, backend="numpy", arch=text, batch_size=batch, epochs=1, lr=lr,
                         dtype="float64", seed=seed, log=None).host_params()
    X, y = refs.host_data(tiny_dataset.train_images, tiny_dataset.train_labels, "float64")
    params, (order,) = refs.fit_draws(arch, X.shape[0], seed, "float64", epochs=1)
    net, *arrays = refs.to_torch_conv(arch, params, X, y, order)
    for (W, b), (W_back, b_back) in zip(params, refs.from_torch_conv(arch, net), strict=True):
        assert np.array_equal(W, W_back) and np.array_equal(b, b_back)  # the layouts convert both ways
    refs.torch_conv2d_epoch(net, *arrays, batch, lr)
    trained = refs.from_torch_conv(arch, net)
    assert not np.allclose(params[0][0], expected[0][0])  # the epoch moved the weights
    for (W, b), (eW, eb) in zip(trained, expected, strict=True):
        np.testing.assert_allclose(W, eW, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, eb, rtol=1e-9, atol=1e-12)


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
    # The conv case: xpnet on every backend against torch-conv2d, and no MLP peers.
    conv = [row for row in report["results"] if row["model"] == "conv4k3-pool-fc16"]
    peer = ["torch-conv2d"] if importlib.util.find_spec("torch") is not None else []
    xpnet_rows = [row for row in conv if row["backend"] is not None]
    assert [row["implementation"] for row in conv] == [row["implementation"] for row in xpnet_rows] + peer
    assert {row["backend"] for row in xpnet_rows} == set(report["settings"]["backends"]) >= {"numpy"}
    for row in conv:
        assert row["arch"] == "conv4k3,pool,fc16" and row["layer_sizes"] is None and row["batch_size"] == 64
        assert row["median_seconds"] > 0 and row["examples_per_second"] == 256 / row["median_seconds"]
        assert sorted(row["ratios"]) in ([], peer) if row["backend"] is not None else row["ratios"] == {}
    assert sorted(rows["conv4k3-pool-fc16", "xpnet/numpy"]["ratios"]) == peer  # a CPU row: against torch-conv2d
    assert "| conv4k3-pool-fc16 | 64 | xpnet/numpy |" in result.stdout
    memory = {m["model"]: m for m in report["memory"]}["conv4k3-pool-fc16"]
    arch = Architecture.of("conv4k3,pool,fc16", (28, 28, 1), 10)
    assert memory["data_bytes"] == 256 * 784 * 4 and memory["params_bytes"] == arch.parameter_count() * 4


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--models", "784-x-10"], ["--models", "100-10"],
                                  ["--backends", "mxnet"], ["--batch-sizes", "64,-1"], ["--frobnicate"],
                                  ["--cnn", "conv4k3,pool,frob"], ["--cnn", "conv4k29v"], ["--cnn", "fc16"],
                                  ["--cnn-images", "0"]])
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


def test_targets_match_conv_rows_by_architecture():
    """The CNN targets judge xpnet/numpy and xpnet/jax compiled on their own network and batch only; MLP targets
    ignore conv rows."""
    def row(model, arch, layer_sizes, backend, compiled, ratios, batch=128):
        return {"model": model, "arch": arch, "layer_sizes": layer_sizes, "batch_size": batch, "backend": backend,
                "implementation": f"xpnet/{backend}" + (" compiled" if compiled else " eager"), "compiled": compiled,
                "ratios": {peer: {"median_paired": r, "of_min": r} for peer, r in ratios.items()}}

    peer_cnn = bench.DEFAULT_CNN
    rows = [row("conv32k5-pool-conv64k5-pool-fc256", peer_cnn, None, "jax", True, {"torch-conv2d": 3.0}),
            row("conv32k5-pool-conv64k5-pool-fc256", peer_cnn, None, "jax", False, {"torch-conv2d": 1.0}),
            row("conv32k5-pool-conv64k5-pool-fc256", peer_cnn, None, "jax", True, {"torch-conv2d": 1.0}, batch=64),
            row("conv4k3-pool-fc16", "conv4k3,pool,fc16", None, "jax", True, {"torch-conv2d": 1.0}),
            row("784-128-10", None, [784, 128, 10], "jax", True, {"numpy-loop": 0.5}),
            row("conv32k5-pool-conv64k5-pool-fc256", peer_cnn, None, "numpy", False, {"torch-conv2d": 2.0})]
    found = bench.check_targets(rows, "float32")
    assert [(t["model"], t["peer"], t["ratio"], t["met"]) for t in found] == [
        ("784-128-10", "numpy-loop", 0.5, True), ("conv32k5-pool-conv64k5-pool-fc256", "torch-conv2d", 2.0, True),
        ("conv32k5-pool-conv64k5-pool-fc256", "torch-conv2d", 3.0, False)]
    assert {"at_most": 2.5, "implementation": "xpnet/jax compiled"}.items() <= found[2].items()
    assert bench.check_targets(rows, "float64") == []


@pytest.mark.parametrize("flags, models, cnn", [
    (["--quick"], ((784, 32, 10), (784, 10)), ("conv4k3,pool,fc16",)),
    (["--quick", "--models", "784-10"], ((784, 10),), ()),
    (["--quick", "--cnn", "conv2k3,pool,fc8"], (), ("conv2k3,pool,fc8",)),
    (["--full"], tuple(bench.DEFAULT_BATCH), (bench.DEFAULT_CNN,)),
])
def test_models_and_cnn_each_leave_the_other_kind_out(flags, models, cnn):
    settings = bench.settings_from(bench.build_parser().parse_args([*flags, "--backends", "numpy"]))
    assert settings["models"] == models
    assert tuple(",".join(arch.tokens) for arch in settings["cnn"]) == cnn
    assert settings["cnn_images"] == (256 if "--quick" in flags else 2560)
    assert settings["cnn_batch_sizes"] == ((64,) if "--quick" in flags else (128,))
