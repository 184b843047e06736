"""Every update keeps what it returns, so training is right where arrays cannot change (JAX).

Under the ``immutable_arrays`` stand-in (``tests/immutable_like.py``), array-api-strict's
``W -= dW`` binds ``W`` to a new array and leaves the old one as it was. Training there must
give, bit for bit, what NumPy gives with its in-place updates: every optimiser, weight decay,
dropout, a schedule, and a resume from inside an epoch.
"""

import importlib.util

import numpy as np
import pytest

import xpnet
from stopping import stop_after

strict = pytest.importorskip("array_api_strict")

TRAINING = {
    "sgd": dict(optimizer="sgd", weight_decay=1e-3),
    "momentum": dict(optimizer="momentum", weight_decay=1e-3, dropout=0.2),
    "nesterov": dict(optimizer="nesterov", schedule="step"),
    "adam": dict(optimizer="adam", lr=0.002, schedule="cosine", warmup_epochs=1),
    "adamw": dict(optimizer="adamw", lr=0.002, weight_decay=0.05, dropout=0.2),
    "rmsprop": dict(optimizer="rmsprop", lr=0.001, weight_decay=1e-3, dropout=0.2),
    "adagrad": dict(optimizer="adagrad", lr=0.01, weight_decay=1e-3, schedule="cosine"),
}


def test_the_stand_in_never_changes_an_array(immutable_arrays):
    x = strict.asarray([1.0, 2.0])
    y = x
    y -= 1.0
    y *= 3.0
    assert strict.all(x == strict.asarray([1.0, 2.0])) and strict.all(y == strict.asarray([0.0, 3.0]))
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 5.0


def _same(a, b):
    return all(np.array_equal(W, W2) and np.array_equal(v, v2) for (W, v), (W2, v2) in zip(a, b))


@pytest.mark.parametrize("training", sorted(TRAINING))
def test_training_on_immutable_arrays_equals_numpy_in_place(immutable_arrays, tiny_dataset, training):
    settings = dict(dataset=tiny_dataset, hidden=(16, 8), batch_size=50, epochs=2, log=None, **TRAINING[training])
    in_place = xpnet.fit(backend="numpy", **settings)
    immutable = xpnet.fit(backend="array-api-strict", **settings)
    assert _same(immutable.host_params(), in_place.host_params())
    assert [r["train_loss"] for r in immutable.history] == [r["train_loss"] for r in in_place.history]
    assert immutable.test_accuracy == in_place.test_accuracy


def _stopped_and_resumed(backend: str, training: str, dataset, folder, monkeypatch, questions: int = 12 + 5,
                         **extra):
    """(uninterrupted, resumed) runs of ``training`` on ``backend``, stopped at the ``questions + 1``-th
    "stop?" (an eager run asks before each step, 12 per epoch here: by default 5 steps into epoch 2)."""
    settings = dict(dataset=dataset, backend=backend, hidden=(16,), batch_size=50, log=None, **TRAINING[training],
                    **extra)
    whole = xpnet.fit(epochs=2, **settings)
    stop_after(monkeypatch, questions)
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(epochs=2, checkpoint_dir=str(folder), **settings)
    stop_after(monkeypatch, 10 ** 9)
    resumed = xpnet.fit(resume=folder / "xpnet-interrupted.npz", dataset=dataset, log=None)
    return whole, resumed


def test_resuming_on_immutable_arrays_keeps_the_optimiser_state(immutable_arrays, tiny_dataset, tmp_path,
                                                                monkeypatch):
    whole, resumed = _stopped_and_resumed("array-api-strict", "adamw", tiny_dataset, tmp_path, monkeypatch)
    assert _same(resumed.host_params(), whole.host_params())


# The same promises on JAX itself, whose arrays really are immutable.
jax_installed = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


@jax_installed
@pytest.mark.parametrize("training", sorted(TRAINING))
def test_training_on_jax_follows_numpy_in_float64(tiny_dataset, training):
    """Every optimiser, weight decay, dropout and schedule: JAX's new arrays carry the same run as NumPy's
    in-place updates (float64; XLA's matrix products sum in another order, so not bit for bit)."""
    settings = dict(dataset=tiny_dataset, hidden=(16, 8), batch_size=50, epochs=2, dtype="float64", log=None,
                    **TRAINING[training])
    in_place = xpnet.fit(backend="numpy", **settings)
    on_jax = xpnet.fit(backend="jax", **settings)
    for (W, b), (W_ref, b_ref) in zip(on_jax.host_params(), in_place.host_params()):
        assert W.dtype == np.float64
        np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-12)
    assert on_jax.test_accuracy == in_place.test_accuracy


@jax_installed
@pytest.mark.parametrize("training", ["adamw", "momentum"])
def test_resuming_on_jax_inside_an_epoch_is_bit_identical(tiny_dataset, tmp_path, monkeypatch, training):
    whole, resumed = _stopped_and_resumed("jax", training, tiny_dataset, tmp_path, monkeypatch, compile=False)
    assert resumed.backend.name == "jax"
    assert _same(resumed.host_params(), whole.host_params())


@jax_installed
@pytest.mark.parametrize("training", ["adamw", "momentum"])
def test_resuming_a_compiled_jax_run_is_bit_identical(tiny_dataset, tmp_path, monkeypatch, training):
    """A compiled epoch is one call, asked "stop?" once: Ctrl-C lands between epochs."""
    whole, resumed = _stopped_and_resumed("jax", training, tiny_dataset, tmp_path, monkeypatch, questions=1)
    assert len(resumed.history) == 2
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    assert _same(resumed.host_params(), whole.host_params())
