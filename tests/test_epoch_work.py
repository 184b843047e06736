"""What an epoch and an evaluation cost: no allocation per step, no second copy of the data,
one forward pass per evaluation batch, and every piece of an epoch's work in its seconds.

Each of these is a launch or a buffer on a GPU, where a step is dozens of kernel launches
and the training set is the largest thing in memory.
"""

import time
import tracemalloc

import numpy as np
import pytest

import xpnet
from xpnet.nn import network as network_module
from xpnet.training import loop as loop_module
from xpnet.backend import resolve
from xpnet.nn.dropout import EpochDropout
from xpnet.nn.init import init_params
from xpnet.nn.optim import SGD
from xpnet.training.device_data import DeviceSplit, images_to_device, labels_to_device
from xpnet.training.epoch import EpochPlan, train_epoch
from xpnet.training.step import Step

strict = pytest.importorskip("array_api_strict")


def test_an_epoch_allocates_no_constant_per_step(tiny_dataset, monkeypatch):
    """``zeros``, ``ones``, ``full`` and ``arange`` are the allocations a step should not repeat
    (ReLU's 0-d zero once was one per hidden layer per step)."""
    backend = resolve("array-api-strict", "device1")
    data = DeviceSplit(images_to_device(tiny_dataset.train_images, backend, "float32", True),
                       labels_to_device(tiny_dataset.train_labels, backend)).with_one_hot(10)
    calls = {"n": 0}
    for name in ("zeros", "ones", "full", "arange", "empty"):
        original = getattr(strict, name)

        def counted(*args, _original=original, **kwargs):
            calls["n"] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(strict, name, counted)

    def allocations(batch_size):
        rng = np.random.default_rng(0)
        params = [(backend.asarray(W), backend.asarray(b)) for W, b in init_params([784, 32, 16, 10], rng)]
        calls["n"] = 0
        train_epoch(Step(SGD(0.1)), params, data, batch_size, EpochPlan(backend.asarray(rng.permutation(data.size))))
        return calls["n"]

    allocations(300)  # a first epoch may make its constants once
    assert allocations(10) == allocations(300)  # 60 steps against 2


def test_normalising_keeps_one_float_copy_of_the_data():
    images = np.random.default_rng(0).integers(0, 256, size=(5000, 28, 28), dtype=np.uint8)
    float_bytes = images.size * 4
    backend = resolve("numpy")
    tracemalloc.start()
    try:
        X = images_to_device(images, backend, "float32", normalize=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert float(X.max()) <= 1.0 and X.dtype == np.float32
    # The uint8 copy that crossed to the device and one float array, not two.
    assert peak < images.size + 1.5 * float_bytes, (peak, float_bytes)


def test_evaluation_runs_the_forward_pass_once_per_batch(tiny_dataset, tmp_path, monkeypatch):
    from xpnet.evaluate import evaluate_checkpoint

    path = tmp_path / "m.npz"
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(16,), epochs=1, save_path=str(path), log=None,
              eval_batch_size=64)
    original, calls = network_module.forward, {"n": 0}

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(network_module, "forward", counted)
    report = evaluate_checkpoint(path, dataset=tiny_dataset, backend="numpy")
    assert report["examples"] == 200
    assert calls["n"] == -(-200 // 64)


def test_an_epochs_seconds_include_drawing_and_moving_its_dropout_masks(tiny_dataset, monkeypatch):
    class SlowDropout(EpochDropout):
        def __init__(self, *args, **kwargs):
            time.sleep(0.3)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(loop_module, "EpochDropout", SlowDropout)
    result = xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(16,), dropout=0.2, epochs=1, log=None)
    assert result.history[0]["seconds"] >= 0.3


def test_a_checkpoint_from_a_gpu_run_says_how_to_resume_on_this_machine(tiny_dataset, tmp_path, capsys):
    from xpnet.backend import cuda_problem
    from xpnet.training.checkpoint import load_checkpoint, save_checkpoint
    from xpnet.train import main as train_main

    if cuda_problem() is None:
        pytest.skip("a CUDA GPU is usable here, so the checkpoint's device is too")
    path = tmp_path / "gpu-run.npz"
    xpnet.fit(dataset="synthetic:600", backend="numpy", hidden=(8,), epochs=1, save_path=str(path), log=None)
    # (the checkpoint's backend and device, flags given with --resume, the flags that fix it)
    cases = [("cupy", "cuda", [], "--backend numpy --device cpu"),
             ("auto", "cuda:1", [], "--device cpu"),
             ("auto", "cuda", ["--backend", "numpy"], "--device cpu"),
             ("cupy", "cuda", ["--device", "cpu"], "--backend numpy --device cpu")]
    for backend_name, device, given, fix in cases:
        checkpoint = load_checkpoint(path)
        checkpoint.config.update(backend=backend_name, device=device)
        save_checkpoint(path, checkpoint)
        trained = f"trained with --backend {backend_name} --device {device}"
        if not given:
            with pytest.raises(xpnet.XpnetError) as caught:
                xpnet.fit(resume=path, log=None)
            message = str(caught.value)  # from Python, fit's keywords
            keywords = ", ".join(f"{flag[2:]}={value!r}" for flag, value in zip(fix.split()[::2], fix.split()[1::2]))
            assert "\n" not in message and str(path) in message, message
            assert f"trained with backend={backend_name!r}, device={device!r}" in message, message
            assert message.endswith(keywords), message
        assert train_main(["--resume", str(path), "--epochs", "2", *given]) in (1, 2)
        error = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("try: ")][-1]
        assert trained in error and error.endswith(fix), error
        assert train_main(["--resume", str(path), "--epochs", "2", "--quiet", *fix.split()]) == 0


def _an_epoch_of(dataset):
    """``dataset``'s training split on NumPy in float64, an epoch's order, and fresh 784-16-10 parameters."""
    backend = resolve("numpy", "cpu")
    data = DeviceSplit(images_to_device(dataset.train_images, backend, "float64", True),
                       labels_to_device(dataset.train_labels, backend)).with_one_hot(10)

    def fresh():
        return [(W.copy(), b.copy()) for W, b in init_params([784, 16, 10], np.random.default_rng(0), dtype="float64")]

    return data, np.random.default_rng(1).permutation(data.size), fresh


def test_the_hooks_stop_count_and_limit_an_epoch_and_a_stopped_epoch_continues_exactly(tiny_dataset):
    from xpnet.training.epoch import EpochHooks

    data, order, fresh = _an_epoch_of(tiny_dataset)

    whole_params, whole, finished = train_epoch(Step(SGD(0.1)), fresh(), data, 64, EpochPlan(order))
    steps = {"n": 0}
    counting = EpochHooks(stop=lambda: steps["n"] >= 3,
                          on_step=lambda _params, _totals: steps.__setitem__("n", steps["n"] + 1))
    params, part, finished_part = train_epoch(Step(SGD(0.1)), fresh(), data, 64, EpochPlan(order), counting)
    assert whole.steps > 3 and finished and not finished_part and part.steps == 3 and part.seen == 3 * 64
    params, rest, finished_rest = train_epoch(Step(SGD(0.1)), params, data, 64, EpochPlan(order, totals=part))
    assert finished_rest and (rest.steps, rest.seen) == (whole.steps, whole.seen)
    assert rest.read() == whole.read()
    for (W, b), (rW, rb) in zip(params, whole_params):
        assert np.array_equal(W, rW) and np.array_equal(b, rb)
    _, limited, finished_limited = train_epoch(Step(SGD(0.1)), fresh(), data, 64, EpochPlan(order),
                                                   EpochHooks(max_steps=2))
    assert finished_limited and limited.steps == 2


def test_each_step_hands_on_the_epochs_running_totals_as_an_epoch_of_that_many_steps_ends_with(tiny_dataset):
    """--log-interval's batch lines read them: after step k, the totals of the first k steps."""
    from xpnet.training.epoch import EpochHooks

    data, order, fresh = _an_epoch_of(tiny_dataset)

    seen = []
    train_epoch(Step(SGD(0.1)), fresh(), data, 64, EpochPlan(order),
                EpochHooks(on_step=lambda _params, totals: seen.append((totals.steps, totals.seen, totals.read()))))
    assert [steps for steps, _, _ in seen] == list(range(1, len(seen) + 1)) and len(seen) > 3
    for k in (1, 3):
        _, first_k, _ = train_epoch(Step(SGD(0.1)), fresh(), data, 64, EpochPlan(order), EpochHooks(max_steps=k))
        assert seen[k - 1] == (k, first_k.seen, first_k.read())
    assert seen[2][2][0] > seen[0][2][0] > 0  # summed: it grows


def test_an_epoch_without_one_hot_labels_says_how_to_make_them(tiny_dataset):
    backend = resolve("numpy", "cpu")
    data = DeviceSplit(images_to_device(tiny_dataset.train_images, backend, "float32", True),
                       labels_to_device(tiny_dataset.train_labels, backend))
    with pytest.raises(ValueError, match="with_one_hot"):
        train_epoch(Step(SGD(0.1)), init_params([784, 10], np.random.default_rng(0)), data, 64)
