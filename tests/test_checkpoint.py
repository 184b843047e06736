"""Checkpoints: round trips, every kind of damage as one clear error, and bit-exact resume."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.training import preparing as preparing_module
from xpnet.training.checkpoint import FORMAT_VERSION, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from xpnet.training.checkpoint_folder import newest_usable
from stopping import stop_after



def _formats():
    try:
        import safetensors  # noqa: F401
        return [".npz", ".safetensors"]
    except ImportError:
        return [".npz", pytest.param(".safetensors", marks=pytest.mark.skip(reason="safetensors is not installed"))]


def _checkpoint(dtype="float32"):
    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(6, 4)).astype(dtype), rng.normal(size=4).astype(dtype)),
              (rng.normal(size=(4, 3)).astype(dtype), rng.normal(size=3).astype(dtype))]
    return Checkpoint(params=params, config=xpnet.Config(hidden=(4,)).to_dict(), epoch=2,
                      history=[{"epoch": 1, "train_loss": 1.5}, {"epoch": 2, "train_loss": 1.2}],
                      rng_state=np.random.default_rng(3).bit_generator.state, num_classes=3, image_shape=(2, 3))


@pytest.mark.parametrize("suffix", _formats())
def test_round_trip_keeps_everything(tmp_path, suffix):
    original = _checkpoint()
    loaded = load_checkpoint(save_checkpoint(tmp_path / f"model{suffix}", original))
    for (W, b), (W0, b0) in zip(loaded.params, original.params):
        assert W.dtype == W0.dtype and np.array_equal(W, W0) and np.array_equal(b, b0)
    assert loaded.layer_sizes == [6, 4, 3] and loaded.epoch == 2 and loaded.history == original.history
    assert loaded.rng_state == original.rng_state and loaded.config == original.config
    assert loaded.num_classes == 3 and loaded.image_shape == (2, 3) and loaded.xpnet_version == xpnet.__version__


def _one_line_error(path, match):
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message and match in message, message
    return message


def test_missing_file_and_unknown_extension(tmp_path):
    _one_line_error(tmp_path / "nope.npz", "not found")
    (tmp_path / "model.pt").write_bytes(b"x")
    _one_line_error(tmp_path / "model.pt", "unknown checkpoint format")


def test_a_device_is_not_called_missing(capsys):
    """/dev/null exists: 'checkpoint /dev/null not found' sent the user looking for a file that is there."""
    from xpnet.evaluate import main

    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null here")
    message = _one_line_error(Path("/dev/null"), "checkpoint /dev/null is not a regular file")
    assert "not found" not in message
    assert main(["/dev/null"]) == 1
    assert "is not a regular file; pass the path of a .npz" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", _formats())
def test_truncated_file(tmp_path, suffix):
    path = save_checkpoint(tmp_path / f"model{suffix}", _checkpoint())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _one_line_error(path, "damaged")


def test_a_foreign_npz_and_a_pickled_one(tmp_path):
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    _one_line_error(tmp_path / "foreign.npz", "not written by xpnet")
    np.savez(tmp_path / "pickled.npz", weights=np.array([{"code": 1}], dtype=object))
    _one_line_error(tmp_path / "pickled.npz", "damaged")


def _rewrite_npz(path, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    np.savez(path, **arrays)


def test_unknown_version_missing_tensor_wrong_shape_and_dtype(tmp_path):
    def bump_version(arrays):
        meta = json.loads(arrays["__xpnet_metadata__"].tobytes())
        meta["format_version"] = FORMAT_VERSION + 1
        arrays["__xpnet_metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)

    cases = [
        (bump_version, "format version"),
        (lambda a: a.pop("params.1.b"), "lacks tensor 'params.1.b'"),
        (lambda a: a.update({"params.0.W": np.zeros((5, 4), np.float32)}), "expected float32[6, 4]"),
        (lambda a: a.update({"params.0.b": np.zeros(4, np.float64)}), "is float64[4]"),
        (lambda a: a.update({"params.7.W": np.zeros(2, np.float32)}), "unexpected tensors"),
    ]
    for change, match in cases:
        path = save_checkpoint(tmp_path / "model.npz", _checkpoint())
        _rewrite_npz(path, change)
        _one_line_error(path, match)


def test_the_newest_in_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        newest_usable(tmp_path)
    for epoch in (1, 2, 10):
        save_checkpoint(tmp_path / f"epoch-{epoch:04d}.npz", _checkpoint())
    assert newest_usable(tmp_path)[0].name == "epoch-0010.npz"


def _same_params(a, b):
    return all(np.array_equal(W, W2) and np.array_equal(v, v2) for (W, v), (W2, v2) in zip(a, b))


TRAINING = {"sgd": {}, "adam": dict(optimizer="adam", lr=0.002, schedule="cosine", warmup_epochs=1),
            "nesterov": dict(optimizer="nesterov", weight_decay=1e-4, schedule="step", dropout=0.2)}


@pytest.mark.parametrize("training", sorted(TRAINING))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_resume_after_an_epoch_is_bit_identical(tiny_dataset, tmp_path, dtype, training):
    """A run of 4 epochs resumed from its checkpoint after epoch 2 ends where it ended."""
    settings = dict(dataset=tiny_dataset, backend="numpy", hidden=(32,), batch_size=64, dev_size=100, dtype=dtype,
                    log=None, **TRAINING[training])
    whole = xpnet.fit(epochs=4, checkpoint_dir=str(tmp_path), **settings)
    resumed = xpnet.fit(resume=tmp_path / "epoch-0002.npz", dataset=tiny_dataset, log=None)
    assert _same_params(resumed.host_params(), whole.host_params())
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    assert resumed.test_accuracy == whole.test_accuracy



@pytest.mark.parametrize("training", sorted(TRAINING))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_interrupt_inside_an_epoch_resumes_bit_identically(tiny_dataset, tmp_path, monkeypatch, dtype, training):
    settings = dict(dataset=tiny_dataset, backend="numpy", hidden=(16,), batch_size=50, dtype=dtype, log=None,
                    **TRAINING[training])
    whole = xpnet.fit(epochs=3, **settings)
    stop_after(monkeypatch, 12 + 5)  # 12 steps per epoch: stop 5 steps into epoch 2
    with pytest.raises(xpnet.TrainingInterrupted, match=r"epoch 2 after 5 step.*call fit again as before, or fit\(\.\.\., resume="):
        xpnet.fit(epochs=3, checkpoint_dir=str(tmp_path), **settings)
    interrupted = load_checkpoint(tmp_path / "xpnet-interrupted.npz")
    assert interrupted.epoch == 1 and interrupted.in_progress["steps"] == 5
    stop_after(monkeypatch, 10 ** 9)
    resumed = xpnet.fit(resume=tmp_path / "xpnet-interrupted.npz", dataset=tiny_dataset, log=None)
    assert _same_params(resumed.host_params(), whole.host_params())
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    real_epoch = preparing_module.train_epoch
    calls = {"n": 0}

    def poisoned(step, params, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            W, _ = params[0]
            W *= float("nan")
        return real_epoch(step, params, *args, **kwargs)

    monkeypatch.setattr(preparing_module, "train_epoch", poisoned)
    with pytest.raises(xpnet.XpnetError, match="diverged in epoch 3.*last good checkpoint is .*epoch-0002.npz"):
        xpnet.fit(dataset=tiny_dataset, backend="numpy", epochs=5, checkpoint_dir=str(tmp_path), log=None)
    assert sorted(p.name for p in tmp_path.glob("epoch-*")) == ["epoch-0001.npz", "epoch-0002.npz"]
    assert np.isfinite(load_checkpoint(tmp_path / "epoch-0002.npz").params[0][0]).all()


def test_resuming_with_another_architecture_is_refused(tiny_dataset, tmp_path):
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(8,), epochs=1, save_path=str(tmp_path / "m.npz"),
              log=None)
    with pytest.raises(xpnet.XpnetError, match=r"hidden=9 \(the checkpoint's run has 8\)"):
        xpnet.fit(resume=tmp_path / "m.npz", dataset=tiny_dataset, hidden=(9,), log=None)


def test_a_model_saved_on_one_backend_loads_on_another(backend, tiny_dataset, tmp_path):
    result = xpnet.fit(dataset=tiny_dataset, backend=backend.name, device=backend.device_name, hidden=(8,), epochs=1,
                       save_path=str(tmp_path / "m.npz"), log=None)
    loaded = load_checkpoint(tmp_path / "m.npz")
    assert all(isinstance(W, np.ndarray) for W, _ in loaded.params)
    assert _same_params(loaded.params, result.host_params())
    with zipfile.ZipFile(tmp_path / "m.npz") as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mlp-784-16-10-v0.1.0.npz"


def test_a_checkpoint_written_by_xpnet_0_1_0_still_loads_predicts_and_resumes(tmp_path):
    """A 784-16-10 model saved by `python -m xpnet.train --dataset synthetic:600 --hidden 16 --epochs 2
    --seed 0 --backend numpy --save FILE` before the math moved to xpnet/nn."""
    import shutil

    import reference
    from xpnet.data import load_dataset
    from xpnet.inference import load_model

    checkpoint = load_checkpoint(FIXTURE)
    assert checkpoint.layer_sizes == [784, 16, 10] and checkpoint.epoch == 2
    data = load_dataset("synthetic:600")
    model = load_model(FIXTURE, with_data=False, backend="numpy")
    host = [(W.astype(np.float64), b.astype(np.float64)) for W, b in checkpoint.params]
    logits, _ = reference.forward(host, data.test_images.reshape(-1, 784) / 255.0)
    np.testing.assert_array_equal(model.predict(data.test_images), logits.argmax(axis=1))
    copy = tmp_path / FIXTURE.name
    shutil.copyfile(FIXTURE, copy)
    resumed = xpnet.fit(resume=copy, epochs=3, log=None)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


def test_a_file_that_is_not_a_zip_or_holds_pickles_is_refused_without_advice_to_unpickle(tmp_path):
    text = tmp_path / "text.npz"
    text.write_text("hello, not an archive")
    with pytest.raises(CheckpointError, match=r"not an \.npz archive") as caught:
        load_checkpoint(text)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, params=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="pickled objects, which xpnet never loads") as caught_too:
        load_checkpoint(pickled)
    for error in (caught.value, caught_too.value):
        assert "allow_pickle" not in str(error) and "\n" not in str(error)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_divergence_from_a_huge_weight_decay_names_it(tiny_dataset):
    with pytest.raises(xpnet.XpnetError, match=r"lower the weight decay \(now weight_decay=1e\+300\) or the "
                                               r"learning rate"):
        xpnet.fit(dataset=tiny_dataset, backend="numpy", epochs=2, weight_decay=1e300, log=None)


def test_npz_members_in_fortran_order_or_with_a_version_2_header_still_load(tmp_path):
    """The reader checks each .npy header itself before reading; what NumPy's own writers produce still loads."""
    import io

    path = save_checkpoint(tmp_path / "model.npz", _checkpoint())
    with zipfile.ZipFile(path) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    for name, version, order in (("params.0.W.npy", (2, 0), "F"), ("params.1.W.npy", (1, 0), "F")):
        array = np.load(io.BytesIO(contents[name]))
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asarray(array, order=order), version=version)
        contents[name] = buffer.getvalue()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    loaded = load_checkpoint(path)
    assert _same_params(loaded.params, _checkpoint().params) and loaded.params[0][0].flags.f_contiguous


@pytest.mark.parametrize("value", [5, "", "two\nlines", "x" * 201, ["bars"]])
def test_the_name_of_data_given_in_memory_round_trips_and_a_bad_one_is_refused(tiny_dataset, tmp_path, value):
    from test_hostile_checkpoints import _contents, _write

    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), epochs=1, save=tmp_path / "m.npz", log=None)
    assert load_checkpoint(tmp_path / "m.npz").data_in_memory == tiny_dataset.name
    tensors, metadata = _contents(tmp_path / "m.npz")
    metadata.pop("data_in_memory")
    assert load_checkpoint(_write(tmp_path / "older.npz", tensors, metadata)).data_in_memory is None
    metadata["data_in_memory"] = value
    with pytest.raises(xpnet.XpnetError, match=r"has a bad data_in_memory in its metadata"):
        load_checkpoint(_write(tmp_path / "edited.npz", tensors, metadata))
