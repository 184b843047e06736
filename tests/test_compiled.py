"""Compiled training (``--compile``): the same hand-written step, traced by ``jax.jit`` (the
epoch as one ``lax.scan``) and by ``torch.compile``, follows the eager step it was traced from.

Tolerances: float64, after two epochs with dropout, weight decay and a per-step schedule, every
parameter within rtol 1e-10 / atol 1e-12 of the eager run on the same library (measured: at most
5e-15 apart; XLA fuses and reorders sums, so not bit for bit), the summed loss within 1e-10,
the correct counts equal.
"""

import contextlib
import importlib.util
import math

import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve, to_numpy
from xpnet.errors import UsageError
from xpnet.nn.dropout import EpochDropout
from xpnet.nn.init import init_params
from xpnet.nn.optim import OPTIMIZERS, make_optimizer
from xpnet.training.compiled import CompiledEpochs
from xpnet.training.device_data import DeviceSplit
from xpnet.training.epoch import EpochHooks, EpochPlan, train_epoch
from xpnet.training.step import Step

jax_installed = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
torch_installed = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")

N, FEATURES, HIDDEN, CLASSES = 230, 12, 16, 4  # 230 = 4 batches of 50 and a partial one of 30


def _schedule(step: int) -> float:
    """A learning rate that changes every step (a warmup), as a schedule's would."""
    return 0.02 * (step + 1) / 5


def _epochs(backend_name: str, compiled: bool, optimizer_name: str, *, epochs: int = 2, batch_size=50,
            dropout: float = 0.2, dtype: str = "float64", hooks=None, start_steps: int = 0, around=None):
    """Train ``epochs`` epochs on fixed random data; (host params, per-epoch (loss_sum, correct), trainer).

    ``around(epoch)``, if given, is a context each epoch's call runs in."""
    backend = resolve(backend_name, "cpu")
    rng = np.random.default_rng(0)
    images, labels = rng.random((N, FEATURES)), rng.integers(0, CLASSES, N)
    with backend.activate():
        data = DeviceSplit(backend.asarray(images, dtype=backend.dtype(dtype)),
                           backend.asarray(labels.astype(np.int64))).with_one_hot(CLASSES)
        params = [(backend.asarray(W), backend.asarray(b))
                  for W, b in init_params([FEATURES, HIDDEN, CLASSES], rng, "he", "zeros", dtype)]
        optimizer = make_optimizer(optimizer_name, 0.02, weight_decay=0.01)
        trainer = CompiledEpochs(backend) if compiled else None
        epoch_fn = trainer if compiled else train_epoch
        totals_seen = []
        for epoch in range(epochs):
            order = backend.asarray(rng.permutation(N))
            masks = EpochDropout(rng, N, (HIDDEN,), dropout, backend.asarray) if dropout else None
            totals = None
            if start_steps:
                # Continue an epoch as a resumed run does: its first steps done by the eager loop.
                params, totals, _ = train_epoch(Step(optimizer, dropout=masks), params, data, batch_size,
                                                EpochPlan(order, _schedule), EpochHooks(max_steps=start_steps))
            with (around(epoch) if around is not None else contextlib.nullcontext()):
                params, totals, finished = epoch_fn(Step(optimizer, dropout=masks), params, data, batch_size,
                                                    EpochPlan(order, _schedule, totals), hooks)
            assert finished
            totals_seen.append((totals.read(), totals.seen, totals.steps))
        return [(to_numpy(W), to_numpy(b)) for W, b in params], totals_seen, trainer


def _assert_close(compiled, eager):
    (params, totals, _), (params_ref, totals_ref, _) = compiled, eager
    for (W, b), (W_ref, b_ref) in zip(params, params_ref, strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-12)
    for ((loss, correct), seen, steps), ((loss_ref, correct_ref), seen_ref, steps_ref) in zip(totals, totals_ref):
        assert math.isclose(loss, loss_ref, rel_tol=1e-10)
        assert (correct, seen, steps) == (correct_ref, seen_ref, steps_ref)


@jax_installed
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_compiled_jax_epoch_follows_the_eager_one_in_float64(optimizer):
    _assert_close(_epochs("jax", True, optimizer), _epochs("jax", False, optimizer))


@jax_installed
@pytest.mark.parametrize("case", ["full batch", "one batch", "no dropout", "resumed inside an epoch"])
def test_compiled_jax_covers_every_shape_of_epoch(case):
    settings = {"full batch": dict(batch_size=None), "one batch": dict(batch_size=N),
                "no dropout": dict(dropout=0.0), "resumed inside an epoch": dict(start_steps=2)}[case]
    _assert_close(_epochs("jax", True, "adam", **settings), _epochs("jax", False, "adam", **settings))


@jax_installed
def test_a_dry_run_step_compiles_and_stops_after_it():
    compiled = _epochs("jax", True, "momentum", epochs=1, hooks=EpochHooks(max_steps=1))
    eager = _epochs("jax", False, "momentum", epochs=1, hooks=EpochHooks(max_steps=1))
    _assert_close(compiled, eager)
    assert compiled[1][0][1:] == (50, 1)


@jax_installed
def test_a_schedule_never_retraces_and_an_epoch_is_one_call():
    """The learning rate changes every step and Adam's step count every step: both are arrays of the
    epoch, so three epochs compile once and call once each, whatever the number of steps."""
    _, _, trainer = _epochs("jax", True, "adam", epochs=3)
    assert trainer.compilations == 1
    assert trainer.calls == 3


@jax_installed
def test_a_compiled_epoch_makes_no_implicit_transfer():
    """Under jax.transfer_guard("disallow") only explicit transfers (the epoch's permutation,
    dropout codes and coefficients, moved with jax.device_put) may happen: the step reads nothing
    back from the device and takes nothing from the host implicitly. The first epoch, which
    compiles and makes the optimiser's state, runs outside the guard; the next two inside."""
    import jax

    def guarded(epoch):
        return jax.transfer_guard("disallow") if epoch > 0 else contextlib.nullcontext()

    params, totals, trainer = _epochs("jax", True, "adamw", epochs=3, dtype="float32", around=guarded)
    assert trainer.compilations == 1 and np.isfinite(totals[-1][0][0])


@jax_installed
def test_compiled_jax_buffers_are_donated():
    """The parameters passed in are reused for the ones returned (JAX marks them deleted)."""
    backend = resolve("jax", "cpu")
    rng = np.random.default_rng(0)
    data = DeviceSplit(backend.asarray(rng.random((N, FEATURES)), dtype=backend.dtype("float32")),
                       backend.asarray(rng.integers(0, CLASSES, N).astype(np.int64))).with_one_hot(CLASSES)
    params = [(backend.asarray(W), backend.asarray(b))
              for W, b in init_params([FEATURES, CLASSES], rng, "he", "zeros", "float32")]
    new_params, _, _ = CompiledEpochs(backend)(Step(make_optimizer("sgd", 0.1)), params, data, 50,
                                               EpochPlan(backend.asarray(rng.permutation(N))))
    assert params[0][0].is_deleted() and not new_params[0][0].is_deleted()


@torch_installed
def test_torch_compile_follows_eager_torch_in_float64_with_two_graphs():
    """torch.compile traces the same step (no graph break: fullgraph), one graph for the full
    batches and one for the last, partial batch; a schedule retraces nothing."""
    compiled = _epochs("torch", True, "adamw", epochs=2)
    _assert_close(compiled, _epochs("torch", False, "adamw", epochs=2))
    assert compiled[2].compilations <= 2
    assert compiled[2].calls == 2 * 5


@pytest.mark.parametrize("backend", ["numpy", "array-api-strict"])
def test_compile_on_a_library_without_a_compiler_is_one_line(backend, tiny_dataset):
    if backend == "array-api-strict":
        pytest.importorskip("array_api_strict")
    with pytest.raises(UsageError, match="compiled training .* needs the jax or torch backend"):
        xpnet.fit(dataset=tiny_dataset, backend=backend, compile=True, log=None)


def test_compile_must_be_a_switch(tiny_dataset):
    with pytest.raises(UsageError, match="compile must be True, False or None"):
        xpnet.fit(dataset=tiny_dataset, backend="numpy", compile="yes", log=None)


@jax_installed
def test_fit_compiles_on_jax_by_default_and_says_so(tiny_dataset):
    lines = []
    compiled = xpnet.fit(dataset=tiny_dataset, backend="jax", hidden=(16,), epochs=2, dtype="float64", log=lines.append)
    eager = xpnet.fit(dataset=tiny_dataset, backend="jax", hidden=(16,), epochs=2, dtype="float64", compile=False,
                      log=None)
    assert "compiled by jax.jit (XLA)" in lines[0]
    for (W, b), (W_ref, b_ref) in zip(compiled.host_params(), eager.host_params()):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-12)
    assert compiled.test_accuracy == eager.test_accuracy


@jax_installed
def test_a_compiled_run_resumed_on_a_library_without_a_compiler_goes_on_eagerly(tiny_dataset, tmp_path):
    saved = tmp_path / "run.npz"
    xpnet.fit(dataset=tiny_dataset, backend="jax", compile=True, hidden=(8,), epochs=1, save_path=str(saved),
              log=None)
    lines = []
    result = xpnet.fit(resume=saved, dataset=tiny_dataset, backend="numpy", epochs=2, log=lines.append)
    assert any("was trained compiled" in line and "goes on eagerly" in line for line in lines)
    assert len(result.history) == 2 and "compiled" not in result.summary
    with pytest.raises(UsageError, match="compiled training .* needs the jax or torch backend"):
        xpnet.fit(resume=saved, dataset=tiny_dataset, backend="numpy", compile=True, epochs=2, log=None)


class SignalDuring(__import__("xpnet.training.run", fromlist=["InterruptRequest"]).InterruptRequest):
    """A signal that arrives while the ``arrives_at``-th "stop?" question's epoch (or step) runs:
    the answer is still "go on", but the request is raised, as a real SIGINT would raise it."""

    arrives_at = 1

    def __call__(self):
        type(self).arrives_at -= 1
        if type(self).arrives_at == 0:
            self.signum = __import__("signal").SIGINT
            return False
        return self.signum is not None


@jax_installed
def test_a_signal_during_the_last_compiled_epoch_stops_after_it_and_the_rerun_finishes(tiny_dataset, tmp_path,
                                                                                       monkeypatch):
    """A compiled JAX epoch is asked "stop?" once, before it runs; a signal during the last one used
    to be ignored (exit 0). Now the run keeps that epoch, stops with its checkpoint, and the same
    command run again tests and saves the same model."""
    from xpnet.training import run as run_module

    settings = dict(dataset=tiny_dataset, backend="jax", hidden=(16,), epochs=2, log=None)
    whole = xpnet.fit(**settings)
    SignalDuring.arrives_at = 2  # during epoch 2, the last
    monkeypatch.setattr(run_module, "InterruptRequest", SignalDuring)
    with pytest.raises(xpnet.TrainingInterrupted, match="after epoch 2 of 2; checkpoint written to .*epoch-0002"):
        xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    monkeypatch.undo()
    rerun = xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    assert len(rerun.history) == 2
    for (W, b), (W_ref, b_ref) in zip(rerun.host_params(), whole.host_params()):
        assert np.array_equal(W, W_ref) and np.array_equal(b, b_ref)


@torch_installed
def test_torch_compiled_stops_between_steps_and_resumes_bit_for_bit(tiny_dataset, tmp_path, monkeypatch):
    """torch.compile's step is called once per batch, so Ctrl-C stops between steps, as eagerly."""
    from stopping import stop_after

    settings = dict(dataset=tiny_dataset, backend="torch", compile=True, hidden=(16,), batch_size=100, epochs=2,
                    optimizer="adam", lr=0.01, log=None)
    whole = xpnet.fit(**settings)
    stop_after(monkeypatch, 6 + 2)  # 6 steps per epoch: stop 2 steps into epoch 2
    with pytest.raises(xpnet.TrainingInterrupted, match="in epoch 2 after 2 step"):
        xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    stop_after(monkeypatch, 10 ** 9)
    resumed = xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    for (W, b), (W_ref, b_ref) in zip(resumed.host_params(), whole.host_params()):
        assert np.array_equal(W, W_ref) and np.array_equal(b, b_ref)
