"""Convolutional networks through the whole program: ``fit(arch=...)`` and ``--arch`` on every
backend, checkpoints that resume bit for bit, evaluate, predict and plot on a CNN checkpoint,
compiled JAX against eager JAX, and one-line errors for architectures that cannot work."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from stopping import stop_after
from xpnet.errors import UsageError
from xpnet.training.checkpoint import load_checkpoint

ARCH = "conv4k3,pool,conv6k3v,pool,fc16"  # 28 -> 28 -> 14 -> 12 -> 6: 6*6*6 = 216 -> 16 -> 10
SMALL = dict(arch=ARCH, hidden=None, batch_size=64, epochs=2, lr=0.05, log=None)
jax_installed = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


@pytest.fixture(scope="module")
def small_dataset():
    from xpnet.data import make_synthetic

    return make_synthetic(320, 100, seed=4)


def _settings(**changes):
    settings = {key: value for key, value in SMALL.items() if key != "hidden"}
    return {**settings, **changes}


def test_a_cnn_trains_on_every_backend_like_numpy_in_float64(backend, small_dataset):
    if backend.name == "cupy":
        pytest.skip("the gpu lane runs the CuPy case: ci/gpu_report.py's parity-cnn-float64 check trains a CNN "
                    "on shifted images on CuPy against NumPy")
    settings = _settings(dataset=small_dataset, dtype="float64", dropout=0.2, optimizer="adam", lr=0.002)
    reference = xpnet.fit(backend="numpy", **settings)
    result = xpnet.fit(backend=backend.name, device=backend.device_name, **settings)
    assert result.summary["model"].startswith("CNN conv4k3-pool-conv6k3v-pool-fc16")
    for (W, b), (W_ref, b_ref) in zip(result.host_params(), reference.host_params(), strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-12)
    assert result.test_accuracy == reference.test_accuracy
    assert reference.history[-1]["train_loss"] < reference.history[0]["train_loss"]


def test_a_cnn_checkpoint_resumes_bit_for_bit(small_dataset, tmp_path, monkeypatch):
    settings = _settings(dataset=small_dataset, backend="numpy", optimizer="momentum", dropout=0.1)
    whole = xpnet.fit(**settings)
    stop_after(monkeypatch, 5 + 3)  # 5 steps per epoch: stop 3 steps into epoch 2
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    stop_after(monkeypatch, 10 ** 9)
    held = load_checkpoint(tmp_path / "xpnet-interrupted.npz")
    assert held.params[0][0].shape == (3, 3, 1, 4) and held.network().text == ARCH.replace(",", "-")
    resumed = xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    for (W, b), (W_ref, b_ref) in zip(resumed.host_params(), whole.host_params(), strict=True):
        assert np.array_equal(W, W_ref) and np.array_equal(b, b_ref)


def test_resuming_with_another_network_is_refused_naming_both(small_dataset, tmp_path):
    xpnet.fit(checkpoint_dir=str(tmp_path), **_settings(dataset=small_dataset, backend="numpy", epochs=1))
    with pytest.raises(UsageError, match="arch='conv8k3,pool,fc16' .the checkpoint's run has arch='conv4k3"):
        xpnet.fit(checkpoint_dir=str(tmp_path), **_settings(dataset=small_dataset, backend="numpy", epochs=1,
                                                            arch="conv8k3,pool,fc16"))


@jax_installed
def test_compiled_jax_trains_a_cnn_as_eager_jax_does_in_float64(small_dataset):
    settings = _settings(dataset=small_dataset, backend="jax", dtype="float64", dropout=0.2)
    compiled = xpnet.fit(**settings)
    eager = xpnet.fit(compile=False, **settings)
    assert compiled.summary["compiled"]["compilations"] == 1
    for (W, b), (W_ref, b_ref) in zip(compiled.host_params(), eager.host_params(), strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-12)


def test_evaluate_predict_and_plot_read_a_cnn_checkpoint(small_dataset, tmp_path):
    saved = tmp_path / "cnn.npz"
    result = xpnet.fit(save_path=str(saved), **_settings(dataset=small_dataset, backend="numpy"))
    model = xpnet.load_model(saved, dataset=small_dataset)
    assert model.contents().startswith("CNN conv4k3-pool-conv6k3v-pool-fc16 (28x28x1 -> 10), float32")
    from xpnet.evaluate import evaluate_model

    report, _ = evaluate_model(model)
    assert report["test_accuracy"] == result.test_accuracy and report["model"].startswith("CNN")
    images, _ = model.split("test")
    assert model.predict(images[:5]).shape == (5,)
    pytest.importorskip("matplotlib")
    from xpnet.plot import plot_checkpoint

    written = plot_checkpoint(saved, tmp_path / "pictures", dataset=small_dataset)
    assert any(str(path).endswith("cnn-weights.png") for path in written)


@pytest.mark.parametrize("args, fragment", [
    (["--arch", "conv8k4"], "odd kernel"),
    (["--arch", "conv8"], "unknown layer 'conv8'"),
    (["--arch", "pool,pool,pool,pool,pool"], "even height and width"),
    (["--arch", "conv8k3", "--hidden", "64"], "either with --arch"),
])
def test_a_bad_architecture_on_the_command_line_is_one_line(args, fragment):
    done = subprocess.run([sys.executable, "-m", "xpnet.train", "--dataset", "synthetic:200", "--epochs", "1", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and fragment in done.stderr.splitlines()[0]


def test_an_mlp_written_as_fc_tokens_is_the_same_run_as_hidden(small_dataset):
    by_arch = xpnet.fit(dataset=small_dataset, backend="numpy", arch="fc32", epochs=1, log=None)
    by_hidden = xpnet.fit(dataset=small_dataset, backend="numpy", hidden=(32,), epochs=1, log=None)
    assert by_arch.summary["config"]["arch"] == "" and by_arch.summary["config"]["hidden"] == [32]
    for (W, _), (W_ref, _) in zip(by_arch.host_params(), by_hidden.host_params()):
        assert np.array_equal(W, W_ref)


def test_a_cnn_too_big_for_memory_is_refused_before_training(small_dataset):
    """Patches dominate a CNN's memory: conv4096k15 twice on 28x28 needs over a hundred GiB, counted up front."""
    with pytest.raises(UsageError, match=r"this run needs about [0-9.]+ [GT]iB .*\(the activations of a batch"):
        xpnet.fit(dataset=small_dataset, backend="numpy", arch="conv4096k15,conv4096k15", log=None)


def test_a_cnn_evaluates_a_few_hundred_images_at_a_time():
    from xpnet.nn.architecture import Architecture
    from xpnet.training.config import CNN_EVAL_BATCH, Config

    cnn, mlp = Architecture.of(ARCH, (28, 28), 10), Architecture.mlp((128,), (28, 28), 10)
    assert Config().evaluation_batch(cnn) == CNN_EVAL_BATCH < Config().evaluation_batch(mlp) == 10000
    assert Config(eval_batch_size=64).evaluation_batch(cnn) == 64


@pytest.mark.parametrize("preset, network", [("lenet", "conv6k5-pool-conv16k5v-pool-fc120-fc84"),
                                             ("cnn", xpnet.PRESETS["cnn"].settings["arch"].replace(",", "-"))])
def test_the_cnn_presets_run_their_networks(preset, network):
    from xpnet.data import make_synthetic

    result = xpnet.fit(preset=preset, dataset=make_synthetic(256, 64, seed=2), dry_run=True, backend="numpy",
                       log=None)
    assert result.summary["model"].startswith(f"CNN {network} (28x28x1 -> 10)")
    assert result.summary["config"]["arch"] == network.replace("-", ",")


def test_a_cnn_preset_refuses_hidden_naming_arch():
    with pytest.raises(UsageError, match="preset lenet is the network conv6k5,pool,conv16k5v,pool,fc120,fc84: "
                                         "change its fc layers with arch, not hidden"):
        xpnet.from_preset("lenet", hidden=(64,))
    assert xpnet.from_preset("lenet", arch="conv6k5,pool,fc32").hidden == (32,)


@pytest.fixture(scope="module")
def cnn_checkpoint(small_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("cnn") / "cnn.npz"
    xpnet.fit(save_path=str(path), **_settings(dataset=small_dataset, backend="numpy", epochs=1, optimizer="adam"))
    return path


@pytest.mark.parametrize("key, value, fragment", [
    ("arch", "garbage", "unusable setting in its config (unknown layer 'garbage'"),
    ("arch", 123, "unusable setting in its config (arch must be a string such as 'conv32k5"),
    ("arch", "conv4k4,pool,conv6k3v,pool,fc16", "unusable network in its config"),
    ("shift", 99, "unusable setting in its config (the largest shift (--shift) must be smaller than the images"),
])
def test_an_edited_cnn_checkpoint_is_refused_naming_the_setting(cnn_checkpoint, tmp_path, key, value, fragment):
    from test_hostile_checkpoints import _contents, _write
    from xpnet.training.checkpoint import CheckpointError

    tensors, metadata = _contents(cnn_checkpoint)
    metadata["config"][key] = value
    edited = _write(tmp_path / "edited.npz", tensors, metadata)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(edited)
    assert fragment in str(caught.value) and "optimizer_tensors" not in str(caught.value), str(caught.value)


@pytest.mark.parametrize("first, then, fragment", [
    (dict(arch="fc32"), dict(arch="fc64"), "arch='fc64' (the checkpoint's run has 32)"),
    (dict(hidden=(32,)), dict(hidden=(64,)), "hidden=64 (the checkpoint's run has 32)"),
    (dict(hidden=(32,)), dict(arch="conv4k3,fc32"), "arch='conv4k3,fc32' (the checkpoint's run has 32)"),
    (dict(arch=ARCH), dict(hidden=(16,)), f"the checkpoint's run is the network {ARCH}, which only arch describes"),
    (dict(arch=ARCH), dict(arch="fc16"), f"arch='fc16' (the checkpoint's run has arch='{ARCH}')"),
    (dict(arch=ARCH), dict(arch=ARCH.replace("fc16", "fc8")), "arch='conv4k3,pool,conv6k3v,pool,fc8' (the"),
])
def test_resuming_with_another_network_names_it_whichever_flag_describes_it(small_dataset, tmp_path, first, then,
                                                                           fragment):
    settings = dict(dataset=small_dataset, backend="numpy", batch_size=64, epochs=1, log=None)
    xpnet.fit(checkpoint_dir=str(tmp_path), **settings, **first)
    with pytest.raises(UsageError) as caught:
        xpnet.fit(resume=str(tmp_path), **{**settings, "epochs": 2}, **then)
    assert fragment in str(caught.value), str(caught.value)


def test_a_resume_that_agrees_on_the_network_goes_on(small_dataset, tmp_path):
    settings = dict(dataset=small_dataset, backend="numpy", batch_size=64, log=None)
    xpnet.fit(checkpoint_dir=str(tmp_path), arch="conv04k03,POOL,fc16", epochs=1, **settings)
    resumed = xpnet.fit(checkpoint_dir=str(tmp_path), arch="conv4k3,pool,fc16", epochs=2, **settings)
    assert resumed.summary["epochs"] == 2 and resumed.summary["config"]["arch"] == "conv4k3,pool,fc16"


@pytest.mark.parametrize("settings, fragment", [
    (dict(arch="conv4k3,pool", dropout=0.5), "arch='conv4k3,pool' has no fc layer"),
    (dict(hidden=(), dropout=0.5), "softmax regression has no hidden layer"),
])
def test_dropout_without_an_fc_layer_is_refused_before_a_new_run(small_dataset, settings, fragment):
    with pytest.raises(UsageError) as caught:
        xpnet.fit(dataset=small_dataset, backend="numpy", epochs=1, log=None, **settings)
    assert "dropout (--dropout) drops units of the fc layers" in str(caught.value) and fragment in str(caught.value)
    xpnet.Config(**settings).validate()  # a stored config where it did nothing, as older runs wrote, still loads


def test_an_empty_arch_on_the_command_line_is_refused():
    done = subprocess.run([sys.executable, "-m", "xpnet.train", "--dataset", "synthetic", "--arch", " , "],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "argument --arch: expected layers such as" in done.stderr
    assert "Traceback" not in done.stderr
