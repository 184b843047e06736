"""Random shifts (``--shift``): the gather that moves images, against an independent NumPy
oracle (slicing into a zero canvas) on every backend; the draws, the same on every backend and
redrawn on resume; training with shifts on every backend equal to NumPy (float64), compiled
JAX equal to eager; and one-line refusals of shifts that cannot work."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from reference import assert_same_params
from stopping import stop_after
from xpnet.backend import to_numpy
from xpnet.errors import UsageError
from xpnet.nn.augment import EpochShifts, shift_images

jax_installed = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


def canvas_shift(image, dy, dx):
    """The oracle: ``image`` (h, w, c) pasted onto a zero canvas dy rows lower and dx columns to the right."""
    h, w, _ = image.shape
    out = np.zeros_like(image)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0), :] = \
        image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0), :]
    return out


@pytest.mark.parametrize("shape", [(6, 5, 1), (5, 7, 3)])
def test_shifting_matches_pasting_onto_a_zero_canvas_on_every_backend(backend, shape):
    rng = np.random.default_rng(1)
    pairs = np.array([(dy, dx) for dy in range(-3, 4) for dx in range(-4, 5)], dtype=np.int8)
    images = rng.normal(size=(len(pairs), *shape)) + 2.0  # no zeros of their own
    moved = to_numpy(shift_images(backend.asarray(images.reshape(len(pairs), -1)), backend.asarray(pairs), shape))
    for image, (dy, dx), got in zip(images, pairs, moved, strict=True):
        np.testing.assert_array_equal(got.reshape(shape), canvas_shift(image, int(dy), int(dx)))


def test_no_shift_is_the_identity_and_a_shift_loses_what_leaves_the_frame():
    X = np.arange(1, 2 * 28 * 28 + 1, dtype=np.float32).reshape(2, 784)
    same = shift_images(X, np.zeros((2, 2), dtype=np.int8), (28, 28, 1))
    assert np.array_equal(same, X)
    moved = shift_images(X, np.array([[2, 0], [0, -1]], dtype=np.int8), (28, 28, 1)).reshape(2, 28, 28)
    assert np.all(moved[0, :2, :] == 0) and np.array_equal(moved[0, 2:, :], X[0].reshape(28, 28)[:-2, :])
    assert np.all(moved[1, :, -1] == 0) and np.array_equal(moved[1, :, :-1], X[1].reshape(28, 28)[:, 1:])


def test_the_draws_cover_every_shift_evenly_and_are_the_same_on_every_backend(backend):
    shifts = EpochShifts(np.random.default_rng(7), 9000, 2, (28, 28, 1), backend.asarray)
    codes = to_numpy(shifts.codes)
    host = EpochShifts(np.random.default_rng(7), 9000, 2, (28, 28, 1), np.asarray).codes
    assert codes.shape == (9000, 2) and np.array_equal(codes, host)
    for axis in (0, 1):
        counts = np.bincount(codes[:, axis].astype(np.int64) + 2, minlength=5)
        assert counts.size == 5 and counts.min() > 1600, counts  # 1800 each expected


@pytest.fixture(scope="module")
def small_dataset():
    from xpnet.data import make_synthetic

    return make_synthetic(320, 100, seed=4)


SETTINGS = dict(arch="conv4k3,pool,fc16", batch_size=64, epochs=2, lr=0.05, shift=2, log=None)


def test_training_with_shifts_on_every_backend_is_numpy_s_in_float64(backend, small_dataset):
    if backend.name == "cupy":
        pytest.skip("the gpu lane runs the CuPy case: ci/gpu_report.py's parity-cnn-float64 check trains a CNN "
                    "on shifted images on CuPy against NumPy")
    settings = dict(SETTINGS, dataset=small_dataset, dtype="float64", dropout=0.2)
    reference = xpnet.fit(backend="numpy", **settings)
    result = xpnet.fit(backend=backend.name, device=backend.device_name, **settings)
    assert_same_params(result, reference, rtol=1e-9, atol=1e-12)
    unshifted = xpnet.fit(backend="numpy", **dict(settings, shift=0))
    assert not np.allclose(unshifted.host_params()[0][0], reference.host_params()[0][0])


def test_an_mlp_trains_on_shifted_images_too(small_dataset):
    said = []
    result = xpnet.fit(backend="numpy", dataset=small_dataset, hidden=(32,), shift=1, epochs=2, log=said.append)
    plain = xpnet.fit(backend="numpy", dataset=small_dataset, hidden=(32,), epochs=2, log=None)
    assert result.summary["config"]["shift"] == 1 and any("shifts up to 1 px" in line for line in said)
    assert not np.allclose(result.host_params()[0][0], plain.host_params()[0][0])


@jax_installed
def test_compiled_jax_shifts_as_eager_jax_does(small_dataset):
    settings = dict(SETTINGS, dataset=small_dataset, backend="jax", dtype="float64", dropout=0.2)
    compiled = xpnet.fit(**settings)
    eager = xpnet.fit(compile=False, **settings)
    assert compiled.summary["compiled"]["compilations"] == 1
    assert_same_params(compiled, eager, rtol=1e-10, atol=1e-12)


def test_a_run_with_shifts_resumes_bit_for_bit(small_dataset, tmp_path, monkeypatch):
    settings = dict(SETTINGS, dataset=small_dataset, backend="numpy", optimizer="momentum")
    whole = xpnet.fit(**settings)
    stop_after(monkeypatch, 5 + 2)  # 5 steps per epoch: stop 2 steps into epoch 2
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    stop_after(monkeypatch, 10 ** 9)
    resumed = xpnet.fit(checkpoint_dir=str(tmp_path), **settings)
    for (W, b), (W_ref, b_ref) in zip(resumed.host_params(), whole.host_params(), strict=True):
        assert np.array_equal(W, W_ref) and np.array_equal(b, b_ref)
    with pytest.raises(UsageError, match=r"shift=1 \(the checkpoint's run has 2\)"):
        xpnet.fit(checkpoint_dir=str(tmp_path), **dict(settings, shift=1))


@pytest.mark.parametrize("shift, fragment", [(-1, "0 or more"), (1.5, "whole number"), (True, "whole number"),
                                             ("2", "whole number")])
def test_a_shift_that_is_not_a_count_of_pixels_is_refused(shift, fragment):
    with pytest.raises(UsageError, match=r"shift \(--shift\)") as caught:
        xpnet.Config(shift=shift).validate()
    assert fragment in str(caught.value)


def test_a_shift_as_large_as_the_image_is_refused_before_training(small_dataset):
    with pytest.raises(UsageError, match=r"smaller than the images \(28x28\), got 28"):
        xpnet.fit(dataset=small_dataset, backend="numpy", shift=28, log=None)


def test_a_negative_shift_on_the_command_line_is_one_line():
    done = subprocess.run([sys.executable, "-m", "xpnet.train", "--dataset", "synthetic", "--shift", "-2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "argument --shift: expected an integer >= 0, got '-2'" in done.stderr
