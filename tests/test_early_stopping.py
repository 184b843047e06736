"""Early stopping on the dev split, and the best epoch's weights kept, tested and saved."""

import json
import math

import numpy as np
import pytest

import xpnet
from stopping import stop_after
from xpnet.errors import UsageError
from xpnet.training.checkpoint import load_checkpoint
from xpnet.training.early_stopping import DevWatch
from xpnet.training.device_data import DeviceSplit, images_to_device, labels_to_device
from xpnet.training.evaluation import loss_and_accuracy

RUN = dict(backend="numpy", hidden=(64,), lr=0.5, batch_size=50, epochs=40, dev_size=200, early_stopping=3, seed=2,
           log=None)


def _records(values, key="dev_loss"):
    return [{"epoch": epoch, key: value} for epoch, value in enumerate(values, 1)]


def test_the_watch_needs_strict_improvement_and_counts_the_epochs_without():
    watch = DevWatch.replay("dev_loss", 2, _records([0.9, 0.5, 0.5, 0.6]))
    assert (watch.best_epoch, watch.best_value, watch.waited, watch.should_stop) == (2, 0.5, 2, True)
    watch = DevWatch.replay("dev_accuracy", 2, _records([0.5, 0.7, 0.6, 0.8], "dev_accuracy"))
    assert (watch.best_epoch, watch.waited, watch.should_stop) == (4, 0, False)
    watch = DevWatch.replay("dev_loss", 0, _records([0.5, math.nan, math.inf, 0.6, 0.7, 0.8]))
    assert (watch.best_epoch, watch.waited, watch.should_stop) == (1, 5, False)  # patience 0 never stops


@pytest.fixture(scope="module")
def stopped(tiny_dataset_module):
    return xpnet.fit(dataset=tiny_dataset_module, **RUN)


@pytest.fixture(scope="module")
def tiny_dataset_module():
    from xpnet.data import make_synthetic

    return make_synthetic(600, 200, seed=3)


def test_the_run_stops_when_the_dev_loss_stops_improving_and_tests_the_best_epoch(stopped, tiny_dataset_module):
    history, summary = stopped.history, stopped.summary
    best = min(history, key=lambda record: record["dev_loss"])
    assert len(history) < RUN["epochs"] and summary["stopped_early"]
    assert summary["best_epoch"] == best["epoch"] == len(history) - 3
    assert [r["epoch"] for r in history if r.get("best")] == [
        r["epoch"] for r in history if r["dev_loss"] == min(x["dev_loss"] for x in history[:r["epoch"]])]
    backend = stopped.backend
    test = DeviceSplit(images_to_device(tiny_dataset_module.test_images, backend, "float32", True),
                       labels_to_device(tiny_dataset_module.test_labels, backend))
    loss, accuracy = loss_and_accuracy(stopped.params, test, 10)
    assert (loss, accuracy) == (summary["test_loss"], summary["test_accuracy"])


def test_the_best_weights_are_saved_kept_and_the_same_run_rerun_trains_no_further(tiny_dataset_module, tmp_path,
                                                                                stopped):
    outputs = dict(checkpoint_dir=str(tmp_path / "run"), save_path=str(tmp_path / "model.npz"),
                   metrics_path=str(tmp_path / "metrics.jsonl"))
    result = xpnet.fit(dataset=tiny_dataset_module, keep_best=True, **outputs, **RUN)
    best_epoch = result.summary["best_epoch"]
    saved, kept = load_checkpoint(tmp_path / "model.npz"), load_checkpoint(tmp_path / "run" / "best.npz")
    assert saved.epoch == kept.epoch == best_epoch
    assert all(np.array_equal(W, W2) for (W, _), (W2, _) in zip(saved.params, stopped.host_params()))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["best_epoch"] == best_epoch and records[best_epoch - 1]["best"] is True
    lines = []
    again = xpnet.fit(dataset=tiny_dataset_module, keep_best=True, **outputs, **{**RUN, "log": lines.append})
    assert len(again.history) == len(result.history) and again.summary["test_accuracy"] == \
        result.summary["test_accuracy"]
    assert not any(line.startswith("epoch ") for line in lines)


def test_an_interrupted_watched_run_resumed_stops_at_the_same_epoch_with_the_same_weights(tiny_dataset_module,
                                                                                       tmp_path, monkeypatch,
                                                                                       stopped):
    folder = str(tmp_path / "run")
    stop_after(monkeypatch, 4 * (stopped.summary["best_epoch"] + 1) + 2)  # 4 steps an epoch: after the best one
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(dataset=tiny_dataset_module, checkpoint_dir=folder, **RUN)
    monkeypatch.undo()
    again = xpnet.fit(dataset=tiny_dataset_module, checkpoint_dir=folder, **RUN)
    timeless = [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_second")} for r in again.history]
    assert timeless == [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_second")}
                        for r in stopped.history]
    assert again.summary["best_epoch"] == stopped.summary["best_epoch"]
    assert all(np.array_equal(W, W2) for (W, _), (W2, _) in zip(again.host_params(), stopped.host_params()))


@pytest.mark.parametrize("settings, words", [
    (dict(early_stopping=3), "early_stopping watches the dev split, and there is none: add dev_size=N "
                              r"\(e\.g\. dev_size=5000\)"),
    (dict(keep_best=True), "keep_best watches the dev split"),
    (dict(early_stopping=3, dev_size=100, monitor="test_accuracy"), "bad monitor 'test_accuracy'"),
    (dict(early_stopping=-1, dev_size=100), r"patience \(--early-stopping\) must be a whole number, 0 or more"),
])
def test_watching_without_a_dev_split_or_with_a_bad_monitor_is_refused(settings, words):
    with pytest.raises(UsageError, match=words):
        xpnet.Config(**settings).validate()


def test_to_numpy_is_a_copy_on_every_backend(backend):
    """The best epoch's snapshot must not follow the in-place updates of later epochs."""
    from xpnet.backend import to_numpy

    W = backend.asarray(np.ones((3, 2), dtype=np.float32))
    host = to_numpy(W)
    W -= backend.asarray(np.ones((3, 2), dtype=np.float32))
    assert np.array_equal(host, np.ones((3, 2), dtype=np.float32))
