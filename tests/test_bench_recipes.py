"""The recipes race (``python -m xpnet.bench --recipes``): xpnet's cnn preset and a CNN written the
usual PyTorch way, each trained whole on the same data, seed by seed."""

import importlib.util
import json
import subprocess
import sys

import pytest

from xpnet.bench import command as bench
from xpnet.bench import recipes
from xpnet.data import make_synthetic
from xpnet.nn.architecture import Architecture

torch_installed = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
PEER = "conv32k5v,pool,conv64k5v,pool,fc256"


@torch_installed
def test_the_pytorch_recipe_is_the_peer_network_in_torch_layers():
    net = recipes.torch_network(recipes.TorchRecipe())
    counted = sum(parameter.numel() for parameter in net.parameters())
    assert counted == Architecture.of(PEER, (28, 28, 1), 10).parameter_count() == 317_066


@torch_installed
def test_the_pytorch_recipe_learns_and_repeats_itself_from_a_seed():
    dataset = make_synthetic(512, 128, seed=3)
    first = recipes.train_torch_recipe(dataset, 0, recipes.TorchRecipe(epochs=2))
    again = recipes.train_torch_recipe(dataset, 0, recipes.TorchRecipe(epochs=2))
    assert first["test_accuracy"] == again["test_accuracy"] and first["epochs"] == 2
    assert first["test_accuracy"] > 0.3 and first["seconds"] > 0  # chance is 0.1


@torch_installed
def test_the_race_gives_a_row_per_run_and_means_per_implementation(tmp_path, capsys):
    report = tmp_path / "race.json"
    assert bench.main(["--recipes", "--dataset", "synthetic:300", "--recipe-epochs", "1", "--seeds", "0,2",
                       "--threads", "1", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(report.read_text())
    rows = figures["recipes"]
    assert [(row["implementation"], row["seed"]) for row in rows] == [
        ("xpnet/numpy --preset cnn", 0), ("torch-recipe", 0), ("xpnet/numpy --preset cnn", 2), ("torch-recipe", 2)]
    assert all(0 <= row["test_accuracy"] <= 1 and row["seconds"] > 0 and row["epochs"] == 1 for row in rows)
    means = {entry["implementation"]: entry for entry in figures["summary"]}
    xpnet_rows = [row for row in rows if row["implementation"].startswith("xpnet")]
    assert means["xpnet/numpy --preset cnn"]["mean_test_accuracy"] == pytest.approx(
        sum(row["test_accuracy"] for row in xpnet_rows) / 2)
    assert means["torch-recipe"]["time_ratio"] == 1.0
    assert means["xpnet/numpy --preset cnn"]["time_ratio"] == pytest.approx(
        means["xpnet/numpy --preset cnn"]["mean_seconds"] / means["torch-recipe"]["mean_seconds"])
    assert "recipes raced on synthetic (300 train" in printed and printed.count("torch-recipe") == 3


@pytest.mark.parametrize("flags, words", [
    (["--plot", "x.png"], "--plot draws the timed epochs, which --recipes does not time"),
    (["--seeds", "0,x"], "argument --seeds: a seed must be a whole number"),
])
def test_the_race_refuses_bad_usage_in_one_line(tmp_path, flags, words):
    done = subprocess.run([sys.executable, "-m", "xpnet.bench", "--recipes", "--dataset", "synthetic:60", *flags],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "x.png").exists()


def test_the_race_without_pytorch_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(bench.refs, "torch_installed", lambda: False)
    assert bench.main(["--recipes", "--dataset", "synthetic:60"]) == 2
    assert "which needs PyTorch: pip install -e '.[torch]'" in capsys.readouterr().err
