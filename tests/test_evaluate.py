"""``python -m xpnet.evaluate`` and ``evaluate_checkpoint``: training's numbers, per-class scores, errors."""

import importlib.util
import json
import shutil

import numpy as np
import pytest
from saved_models import DATASET, one_line_error, run_module, train_and_save

from xpnet.training.checkpoint import Checkpoint
from xpnet.data import DataError, load_dataset
from xpnet.evaluate import evaluate_checkpoint, evaluate_model, main
from xpnet.inference import load_model

REPORT_KEYS = {"checkpoint", "split", "examples", "test_accuracy", "test_loss", "classes", "macro_avg",
               "confusion_matrix", "dataset", "data_source", "backend", "device", "dtype", "layer_sizes", "model",
               "epoch", "eval_batch_size", "xpnet_version"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_and_save(tmp_path_factory.mktemp("evaluate"))


def test_accuracy_and_loss_equal_what_training_reported(trained):
    path, result = trained
    report = evaluate_checkpoint(path, backend="numpy")
    assert report["test_accuracy"] == result.summary["test_accuracy"]
    assert report["test_loss"] == result.summary["test_loss"]
    assert report["dataset"] == "synthetic" and report["examples"] == 100 and report["epoch"] == 2


def test_per_class_scores_match_a_numpy_recomputation(trained):
    path, _ = trained
    report, predicted = evaluate_model(load_model(path, backend="numpy"))
    dataset = load_dataset(DATASET)
    labels = dataset.test_labels

    X = dataset.test_images.reshape(len(labels), -1) / 255.0
    H = X
    for W, b in load_model(path, with_data=False).checkpoint.params[:-1]:
        H = np.maximum(H @ W.astype(np.float64) + b, 0.0)
    W, b = load_model(path, with_data=False).checkpoint.params[-1]
    float64_predictions = np.argmax(H @ W.astype(np.float64) + b, axis=1)
    assert np.mean(float64_predictions == predicted) >= 0.99

    confusion = np.array(report["confusion_matrix"])
    assert confusion.sum() == len(labels)
    assert np.trace(confusion) / len(labels) == pytest.approx(report["test_accuracy"], abs=1e-12)
    for k, row in enumerate(report["classes"]):
        true_positive = np.sum((predicted == k) & (labels == k))
        predicted_k, actual_k = np.sum(predicted == k), np.sum(labels == k)
        precision = true_positive / predicted_k if predicted_k else 0.0
        recall = true_positive / actual_k if actual_k else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert row["class"] == k and row["support"] == actual_k
        assert row["precision"] == pytest.approx(precision) and row["recall"] == pytest.approx(recall)
        assert row["f1"] == pytest.approx(f1)
        assert confusion[k].tolist() == [int(np.sum((labels == k) & (predicted == j))) for j in range(10)]
    for name in ("precision", "recall", "f1"):
        assert report["macro_avg"][name] == pytest.approx(np.mean([row[name] for row in report["classes"]]))


def test_a_class_never_predicted_scores_zero_not_nan():
    from xpnet.inference.scores import class_scores, confusion_matrix

    scores = class_scores(confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 0, 0, 2]), 3))
    assert [row["precision"] for row in scores["classes"]] == [pytest.approx(2 / 3), 0.0, 1.0]
    assert [row["f1"] for row in scores["classes"]][1] == 0.0


def test_command_prints_the_report_and_writes_json(trained, tmp_path):
    path, result = trained
    out = tmp_path / "report.json"
    completed = run_module("evaluate", str(path), "--backend", "numpy", "--json", str(out))
    assert completed.returncode == 0, completed.stderr
    text = completed.stdout
    assert f"test accuracy {100 * result.test_accuracy:.2f}%" in text
    assert "precision" in text and "macro" in text and "confusion matrix" in text and "true\\pred" in text
    report = json.loads(out.read_text())
    assert set(report) == REPORT_KEYS
    assert report["test_accuracy"] == result.summary["test_accuracy"]
    assert len(report["classes"]) == 10 and set(report["macro_avg"]) == {"precision", "recall", "f1"}
    assert [sum(row) for row in report["confusion_matrix"]] == [c["support"] for c in report["classes"]]


@pytest.mark.skipif(importlib.util.find_spec("array_api_strict") is None, reason="array-api-strict is not installed")
def test_same_numbers_on_array_api_strict_device1(trained, tmp_path):
    path, _ = trained
    out = tmp_path / "strict.json"
    completed = run_module("evaluate", str(path), "--backend", "array-api-strict", "--device", "device1",
                           "--json", str(out))
    assert completed.returncode == 0, completed.stderr
    strict, numpy = json.loads(out.read_text()), evaluate_checkpoint(path, backend="numpy")
    assert strict["device"] == "device1"
    assert strict["test_accuracy"] == numpy["test_accuracy"]
    assert strict["confusion_matrix"] == numpy["confusion_matrix"]


def test_train_split_a_checkpoint_folder_and_a_loaded_checkpoint(trained, tmp_path):
    path, _ = trained
    shutil.copy(path, tmp_path / "epoch-0002.npz")
    report = evaluate_checkpoint(tmp_path, split="train", backend="numpy")
    assert report["split"] == "train" and report["examples"] == 600 and "train_accuracy" in report
    in_memory = load_model(path, with_data=False).checkpoint
    assert evaluate_checkpoint(in_memory, backend="numpy")["test_accuracy"] == \
        evaluate_checkpoint(path, backend="numpy")["test_accuracy"]


def test_data_of_another_shape_is_one_line():
    checkpoint = Checkpoint(params=[(np.zeros((100, 10), np.float32), np.zeros(10, np.float32))],
                            config={"dataset": DATASET}, image_shape=(10, 10))
    for load in (lambda: load_model(checkpoint, with_data=True, backend="numpy"),
                 lambda: load_model(checkpoint, backend="numpy").split("test")):  # the data loaded when asked
        with pytest.raises(DataError) as error:
            load()
        assert "\n" not in str(error.value) and "the dataset it was trained on" in str(error.value)


def test_a_data_setting_misspelt_is_a_type_error_naming_it(trained):
    path, _ = trained
    for call in (lambda: load_model(path, datset=DATASET), lambda: evaluate_checkpoint(path, datset=DATASET)):
        with pytest.raises(TypeError, match="unexpected keyword argument 'datset'"):
            call()


@pytest.mark.parametrize("make", ["missing", "damaged", "folder without checkpoints"])
def test_bad_checkpoint_is_one_line_and_exit_1(tmp_path, capsys, make):
    target = tmp_path / "model.npz"
    if make == "damaged":
        target.write_bytes(b"PK\x03\x04 not really a zip")
    elif make == "folder without checkpoints":
        target = tmp_path
    status = main([str(target)])
    line = one_line_error(status, 1, capsys.readouterr().err)
    assert str(target) in line


@pytest.mark.parametrize("args", [["--frobnicate"], ["--split", "dev"], ["--threads", "0"], ["--backend", "mxnet"], []])
def test_bad_usage_exits_2(trained, capsys, args):
    path, _ = trained
    with pytest.raises(SystemExit) as exit_info:
        main(([str(path)] if args else []) + args)
    assert exit_info.value.code == 2
    one_line_error(2, 2, capsys.readouterr().err)


def test_a_bad_device_and_an_unwritable_json_are_usage_errors(trained, tmp_path, capsys):
    path, _ = trained
    one_line_error(main([str(path), "--device", "tpu"]), 2, capsys.readouterr().err)
    blocker = tmp_path / "file"
    blocker.write_text("")
    status = main([str(path), "--backend", "numpy", "--json", str(blocker / "report.json")])
    assert "--json" in one_line_error(status, 2, capsys.readouterr().err)
