"""The training loop and the Python API, on small generated data."""

import json

import numpy as np
import pytest

import xpnet
from xpnet.errors import UsageError, XpnetError


def test_fit_learns_and_reports_history(tiny_dataset):
    result = xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(64,), epochs=4, lr=0.1, batch_size=32,
                       log=None)
    assert len(result.history) == 4
    for record in result.history:
        assert set(record) >= {"epoch", "train_loss", "train_accuracy", "seconds", "examples_per_second"}
        assert 0 <= record["train_accuracy"] <= 1 and record["seconds"] > 0
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < losses[0]
    assert result.test_accuracy > 0.3
    assert [W.shape for W, _ in result.host_params()] == [(784, 64), (64, 10)]


def test_replays_notebook_000_on_the_same_data(tiny_dataset):
    """The notebook's own loop, verbatim in NumPy float32, against the seed000 preset."""
    x_train = tiny_dataset.train_images.reshape(-1, 28 * 28).astype("float32") / 255.0
    y_train = tiny_dataset.train_labels
    Y_train = np.zeros((y_train.shape[0], 10), dtype=np.float32)
    Y_train[np.arange(y_train.shape[0]), y_train] = 1.0
    rng = np.random.default_rng(42)
    W = rng.normal(0, 0.01, size=(28 * 28, 10)).astype(np.float32)
    b = np.zeros((10,), dtype=np.float32)

    def forward(X):
        z = X @ W + b
        z = z - z.max(axis=1, keepdims=True)
        expz = np.exp(z)
        return expz / expz.sum(axis=1, keepdims=True)

    for epoch in range(3):
        idx = rng.permutation(x_train.shape[0])
        for i in range(0, len(idx), 256):
            j = idx[i:i + 256]
            Xb, Yb = x_train[j], Y_train[j]
            grad_logits = (forward(Xb) - Yb) / Xb.shape[0]
            W -= 0.1 * (Xb.T @ grad_logits)
            b -= 0.1 * grad_logits.sum(axis=0)

    result = xpnet.fit(preset="seed000", dataset=tiny_dataset, backend="numpy", epochs=3, log=None)
    (W_got, b_got), = result.host_params()
    assert W_got.dtype == np.float32
    np.testing.assert_allclose(W_got, W, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b_got, b, rtol=1e-5, atol=1e-7)


def test_full_batch_dev_split_and_drawn_biases(tiny_dataset):
    result = xpnet.fit(preset="seed004", dataset=tiny_dataset, backend="numpy", dev_size=100, epochs=30,
                       log=None)
    assert result.summary["config"]["batch_size"] is None
    assert all("dev_accuracy" in r for r in result.history)
    assert result.history[-1]["train_accuracy"] > result.history[0]["train_accuracy"]
    assert result.summary["dev_accuracy"] == result.history[-1]["dev_accuracy"]
    assert result.summary["layer_sizes"] == [784, 10, 10]


def test_metrics_file_is_json_lines_with_a_summary(tiny_dataset, tmp_path):
    path = tmp_path / "metrics.jsonl"
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), epochs=2, dev_size=50, metrics_path=str(path),
              log=None)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r.get("epoch") for r in records[:2]] == [1, 2]
    assert {"train_loss", "train_accuracy", "dev_accuracy", "seconds", "examples_per_second"} <= set(records[0])
    summary = records[-1]
    assert 0 <= summary["test_accuracy"] <= 1
    assert summary["backend"] == "numpy" and summary["dtype"] == "float32"
    assert summary["config"]["hidden"] == [] and summary["config"]["dev_size"] == 50


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_stops_with_a_clear_error(tiny_dataset):
    with pytest.raises(XpnetError, match="diverged in epoch 1.*lower the learning rate") as caught:
        xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), lr=1e38, epochs=3, normalize=False,
                  log=None)
    assert "\n" not in str(caught.value)


def test_dry_run_takes_one_step(tiny_dataset):
    result = xpnet.fit(dataset=tiny_dataset, backend="numpy", dry_run=True, batch_size=50, log=None)
    assert len(result.history) == 1
    assert result.history[0]["examples_per_second"] == pytest.approx(50 / result.history[0]["seconds"])


def test_float64_and_log_lines(tiny_dataset):
    lines = []
    result = xpnet.fit(dataset=tiny_dataset, backend="numpy", dtype="float64", epochs=2, log=lines.append)
    assert result.params[0][0].dtype == np.float64
    assert lines[0].startswith("xpnet ") and "float64" in lines[0]
    assert any(line.startswith("epoch 2/2") for line in lines)
    assert lines[-1].startswith("test accuracy")


@pytest.mark.parametrize("settings", [dict(lr=-1), dict(epochs=0), dict(hidden=(0,)), dict(dtype="float16"),
                                      dict(init="gauss"), dict(batch_size=0), dict(dev_size=-2), dict(bogus=1)])
def test_bad_settings_are_usage_errors(tiny_dataset, settings):
    with pytest.raises(UsageError):
        xpnet.fit(dataset=tiny_dataset, log=None, **settings)


def test_dev_split_cannot_swallow_the_training_set(tiny_dataset):
    with pytest.raises(UsageError, match="dev_size="):
        xpnet.fit(dataset=tiny_dataset, dev_size=600, log=None)
