"""Every array on the device the user chose, also where the library has a *current device*.

On CPU, the ``cupy_like`` stand-in (``tests/cupy_like.py``) makes array-api-strict's
``device1`` behave as ``cuda:1`` does under CuPy: creation functions ignore ``device=``
and computations refuse arrays off the current device unless the backend's device context
is entered. Training (every optimiser, dropout, a schedule, a dev split), resuming from
inside an epoch, evaluate, predict and plot run on ``device1`` under it. On a machine with
two GPUs, the ``gpu`` test at the end does the same on ``cuda:1``.
"""

import numpy as np
import pytest

import xpnet
from xpnet.backend import cuda_problem, resolve, to_numpy
from xpnet.training.checkpoint import load_checkpoint
from stopping import stop_after

strict = pytest.importorskip("array_api_strict")
DEVICE1 = strict.Device("device1")
CPU = strict.Device("CPU_DEVICE")
TRAINING = dict(hidden=(16,), batch_size=50, dev_size=100, optimizer="adamw", lr=0.002, weight_decay=0.01,
                dropout=0.2, schedule="cosine", warmup_epochs=1)


def test_the_stand_in_allocates_and_computes_like_cupy(cupy_like):
    """The stand-in itself: it must catch what CuPy would get wrong, or the tests below prove nothing."""
    on_device1 = strict.asarray(np.ones(3, dtype=np.float32), device=DEVICE1)
    assert strict.zeros(3, device=DEVICE1).device == CPU, "device= is ignored outside the context"
    assert strict.astype(strict.ones(2), strict.float64).device == CPU
    with pytest.raises(ValueError, match="current device"):
        on_device1 + 1.0
    with pytest.raises(ValueError, match="current device"):
        strict.sum(on_device1)
    with pytest.raises(ValueError, match="current device"):
        strict.astype(on_device1, strict.float64)
    np.testing.assert_array_equal(to_numpy(on_device1), np.ones(3))  # reading back works from anywhere
    with resolve("array-api-strict", "device1").activate():
        assert strict.zeros(3).device == DEVICE1
        assert strict.zeros_like(strict.asarray(np.ones(2))).device == DEVICE1
        assert float(to_numpy(strict.sum(on_device1 * 2.0))) == 6.0
    assert cupy_like.current == CPU


def _on_device1(params):
    return all(W.device == DEVICE1 and b.device == DEVICE1 for W, b in params)



def test_training_and_resuming_keep_every_array_on_the_chosen_device(cupy_like, tiny_dataset, tmp_path,
                                                                      monkeypatch):
    settings = dict(dataset=tiny_dataset, backend="array-api-strict", device="device1", log=None, **TRAINING)
    whole = xpnet.fit(epochs=2, **settings)
    assert _on_device1(whole.params)
    assert set(cupy_like.created_on) == {str(DEVICE1)}, cupy_like.created_on

    cupy_like.created_on.clear()
    stop_after(monkeypatch, 10 + 4)  # 10 steps per epoch: stop 4 steps into epoch 2
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(epochs=2, checkpoint_dir=str(tmp_path), **settings)
    assert load_checkpoint(tmp_path / "xpnet-interrupted.npz").in_progress["steps"] == 4
    stop_after(monkeypatch, 10 ** 9)
    resumed = xpnet.fit(resume=tmp_path / "xpnet-interrupted.npz", dataset=tiny_dataset, log=None)
    assert _on_device1(resumed.params) and resumed.summary["device"] == "device1"
    assert set(cupy_like.created_on) == {str(DEVICE1)}, cupy_like.created_on
    for (W, b), (W2, b2) in zip(resumed.host_params(), whole.host_params()):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_every_optimiser_keeps_its_state_on_the_chosen_device(cupy_like, tiny_dataset, optimizer):
    result = xpnet.fit(dataset=tiny_dataset, backend="array-api-strict", device="device1", hidden=(8,),
                       batch_size=100, epochs=1, optimizer=optimizer, log=None)
    assert _on_device1(result.params)
    assert set(cupy_like.created_on) == {str(DEVICE1)}, cupy_like.created_on


def test_evaluate_predict_and_plot_run_on_the_chosen_device(cupy_like, tiny_dataset, tmp_path, capsys):
    from xpnet.evaluate import evaluate_checkpoint
    from xpnet.inference import load_model
    from xpnet.plot import plot_checkpoint
    from xpnet.predict import main as predict_main

    path = tmp_path / "m.npz"
    trained = xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(16,), epochs=1, save_path=str(path),
                        log=None)
    cupy_like.created_on.clear()
    on_device1 = dict(backend="array-api-strict", device="device1", dataset=tiny_dataset)
    report = evaluate_checkpoint(path, **on_device1)
    assert report["device"] == "device1"
    assert abs(report["test_accuracy"] - trained.test_accuracy) <= 1e-9  # the same model, another library
    model = load_model(path, **on_device1)
    probabilities = model.class_probabilities(tiny_dataset.test_images[:3])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    pytest.importorskip("matplotlib")
    assert len(plot_checkpoint(path, tmp_path, **on_device1)) == 3
    assert set(cupy_like.created_on) == {str(DEVICE1)}, cupy_like.created_on

    checkpoint = load_checkpoint(path)
    checkpoint.config["dataset"] = "synthetic:600"  # predict loads its data by name,
    checkpoint.data_in_memory = None  # as from a run that was given that name, not arrays in memory
    from xpnet.training.checkpoint import save_checkpoint
    save_checkpoint(path, checkpoint)
    assert predict_main([str(path), "--index", "0", "--backend", "array-api-strict", "--device", "device1"]) == 0
    assert "predicted" in capsys.readouterr().out


@pytest.mark.gpu
def test_a_second_gpu_holds_every_array_of_its_run(tiny_dataset, tmp_path):
    problem = cuda_problem()
    if problem is not None:
        pytest.skip(f"no usable CUDA GPU: {problem}")
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA GPUs; this machine has one")
    from xpnet.evaluate import evaluate_checkpoint

    settings = dict(dataset=tiny_dataset, backend="cupy", device="cuda:1", log=None, **TRAINING)
    result = xpnet.fit(epochs=2, checkpoint_dir=str(tmp_path), **settings)
    assert all(W.device.id == 1 and b.device.id == 1 for W, b in result.params)
    resumed = xpnet.fit(resume=tmp_path / "epoch-0001.npz", dataset=tiny_dataset, log=None)
    assert all(W.device.id == 1 for W, _ in resumed.params)
    for (W, _), (W2, _) in zip(resumed.host_params(), result.host_params()):
        np.testing.assert_array_equal(W, W2)
    report = evaluate_checkpoint(tmp_path / "epoch-0002.npz", dataset=tiny_dataset, backend="cupy", device="cuda:1")
    assert report["device"] == "cuda:1" and report["test_accuracy"] == result.test_accuracy
