"""``python -m xpnet.plot``: every picture is a valid PNG, drawn headless; one-line errors."""

import importlib.util
import subprocess
import sys

import pytest
from saved_models import REPO, one_line_error, train_and_save

from xpnet.plot import main, read_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is not installed (pip install -e '.[plot]')")


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """A checkpoint and metrics file of an MLP run with a dev split."""
    folder = tmp_path_factory.mktemp("plot-mlp")
    path, _ = train_and_save(folder, dev_size=100)
    return path, folder / "run.jsonl"


@pytest.fixture(scope="module")
def softmax_regression(tmp_path_factory):
    return train_and_save(tmp_path_factory.mktemp("plot-softmax"), name="templates.npz", hidden=())[0]


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE), path


@needs_matplotlib
def test_metrics_and_checkpoint_pictures(mlp, tmp_path, capsys):
    checkpoint, metrics = mlp
    assert main(["--metrics", str(metrics), "--checkpoint", str(checkpoint), "--out-dir", str(tmp_path),
                 "--backend", "numpy"]) == 0
    names = ["run-curves.png", "model-confusion.png", "model-misclassified.png", "model-weights.png"]
    for name in names:
        assert_png(tmp_path / name)
    assert capsys.readouterr().out.splitlines() == [f"wrote {tmp_path / name}" for name in names]


@needs_matplotlib
def test_softmax_regression_templates_and_train_split(softmax_regression, tmp_path):
    assert main(["--checkpoint", str(softmax_regression), "--split", "train", "--out-dir", str(tmp_path)]) == 0
    for kind in ("confusion", "misclassified", "weights"):
        assert_png(tmp_path / f"templates-{kind}.png")


@needs_matplotlib
def test_headless_without_pyplot(mlp, tmp_path):
    _, metrics = mlp
    code = ("import sys; from xpnet.plot import main; "
            f"status = main(['--metrics', {str(metrics)!r}, '--out-dir', {str(tmp_path)!r}]); "
            "assert 'matplotlib.pyplot' not in sys.modules; sys.exit(status)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "MPLBACKEND": "TkAgg", "HOME": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert_png(tmp_path / "run-curves.png")


def test_read_metrics_keeps_epochs_in_order_and_the_summary(mlp):
    _, metrics = mlp
    epochs, summary = read_metrics(metrics)
    assert [record["epoch"] for record in epochs] == [1, 2]
    assert "dev_accuracy" in epochs[0] and 0 <= summary["test_accuracy"] <= 1


def test_without_matplotlib_one_line_and_exit_1(mlp, tmp_path, monkeypatch, capsys):
    _, metrics = mlp
    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    line = one_line_error(main(["--metrics", str(metrics), "--out-dir", str(tmp_path)]), 1,
                          capsys.readouterr().err)
    assert "pip install -e '.[plot]'" in line
    assert not list(tmp_path.iterdir())


@needs_matplotlib
@pytest.mark.parametrize("content, fragment", [
    (None, "not found"), ("{not json\n", "line 1"), ('{"hello": 1}\n', "line 1"), ("", "no epoch records"),
])
def test_bad_metrics_file_is_one_line(tmp_path, capsys, content, fragment):
    metrics = tmp_path / "run.jsonl"
    if content is not None:
        metrics.write_text(content)
    line = one_line_error(main(["--metrics", str(metrics), "--out-dir", str(tmp_path)]), 1,
                          capsys.readouterr().err)
    assert fragment in line and str(metrics) in line


def test_nothing_to_draw_is_usage_error(capsys):
    assert "--metrics" in one_line_error(main([]), 2, capsys.readouterr().err)


@needs_matplotlib
def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    line = one_line_error(main(["--checkpoint", str(tmp_path / "none.npz")]), 1, capsys.readouterr().err)
    assert "not found" in line
