"""Fashion-MNIST's classes are named in predictions and reports; JSON keeps the numbers."""

import dataclasses
import json

import pytest

import xpnet
from datafiles import sha256_table, tiny_dataset_arrays
from xpnet.inference.scores import class_scores, scores_table
from xpnet.data import DATASETS, load_dataset, write_mnist_folder
from xpnet.evaluate import main as evaluate_main
from xpnet.predict import main as predict_main

NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@pytest.fixture
def fashion_root(sandbox, monkeypatch):
    """ROOT with a tiny 'fashion-mnist' in ROOT/fashion-mnist/, which the patched table accepts."""
    dataset = tiny_dataset_arrays(n_train=200, n_test=50)
    patched = dataclasses.replace(DATASETS["fashion-mnist"], sha256=sha256_table(dataset), mirrors=(),
                                  system_dirs=())
    monkeypatch.setitem(DATASETS, "fashion-mnist", patched)
    write_mnist_folder(sandbox / "root" / "fashion-mnist", dataset)
    return sandbox / "root"


@pytest.fixture
def checkpoint(fashion_root, sandbox):
    path = sandbox / "model.npz"
    xpnet.fit(dataset="fashion-mnist", data_dir=str(fashion_root), download=False, epochs=1, backend="numpy",
              log=None, metrics_path=str(sandbox / "run.jsonl"), save_path=str(path))
    return path


def test_fashion_mnist_knows_its_class_names(fashion_root):
    dataset = load_dataset("fashion-mnist", fashion_root, download=False)
    assert dataset.class_names == NAMES and dataset.class_name(9) == "Ankle boot"
    assert load_dataset("synthetic:100").class_names is None


def test_predict_names_the_classes(checkpoint, fashion_root, capsys):
    assert predict_main([str(checkpoint), "--index", "9", "--data-dir", str(fashion_root), "--no-download"]) == 0
    out = capsys.readouterr().out
    assert "(label Ankle boot (9)" in out
    predicted = next(line for line in out.splitlines() if line.startswith("predicted "))
    top = next(line for line in out.splitlines() if line.startswith("top 3: "))
    assert any(name in predicted for name in NAMES), predicted
    assert sum(name in top for name in NAMES) == 3, top


def test_evaluate_names_the_classes_and_json_keeps_the_numbers(checkpoint, fashion_root, sandbox, capsys):
    report_path = sandbox / "report.json"
    assert evaluate_main([str(checkpoint), "--data-dir", str(fashion_root), "--no-download",
                          "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    assert "9 Ankle boot" in out and "0 T-shirt/top" in out
    classes = json.loads(report_path.read_text())["classes"]
    assert [row["class"] for row in classes] == list(range(10))
    assert [row["name"] for row in classes] == list(NAMES)


def test_digits_stay_numbers():
    import numpy as np

    scores = class_scores(np.eye(3, dtype=np.int64))
    assert "name" not in scores["classes"][0]
    assert scores_table(scores).splitlines()[1].split()[0] == "0"


def test_plot_names_the_classes(fashion_root, sandbox, monkeypatch):
    """The confusion matrix's axes, the misclassified images' captions and softmax regression's
    templates name Fashion-MNIST's classes, as evaluate and predict do."""
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install -e '.[plot]')")
    from xpnet.inference import figures
    from xpnet.plot import plot_checkpoint

    path = sandbox / "templates.npz"
    xpnet.fit(dataset="fashion-mnist", data_dir=str(fashion_root), download=False, epochs=1, hidden=(),
              backend="numpy", log=None, save=str(path))
    drawn = []
    monkeypatch.setattr(figures, "_png", lambda fig: drawn.append(fig) or b"\x89PNG")
    plot_checkpoint(path, sandbox, backend="numpy")
    confusion, wrong, weights = drawn
    axis = confusion.axes[0]
    for ticks in (axis.get_xticklabels(), axis.get_yticklabels()):
        assert [tick.get_text() for tick in ticks] == [f"{k} {name}" for k, name in enumerate(NAMES)]
    captions = [ax.get_title() for ax in wrong.axes if ax.get_title()]
    assert captions and all(any(name in caption for name in NAMES) for caption in captions), captions
    assert [ax.get_title() for ax in weights.axes if ax.get_title()] == [f"{k} {name}" for k, name in enumerate(NAMES)]
