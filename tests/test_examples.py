"""Every example runs on a tiny generated dataset, so none of them rots."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import xpnet

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
TINY = ["--dataset", "synthetic:600", "--epochs", "2"]
EXTRA = {
    "seed004_tiny_net_dev_split.py": ["--dev-size", "100"],
    "train_on_gpu.py": ["--device", "cpu"],
}
ACCURACY = re.compile(r"accuracy \d+\.\d\d%")


def run_example(script: Path, *args: str) -> subprocess.CompletedProcess:
    # The checkout under test comes first, whether or not xpnet is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(script), *args], check=False, capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)


def test_the_examples_are_there():
    names = {path.name for path in EXAMPLES}
    assert {"compare_backends.py", "train_on_gpu.py"} <= names
    assert {name[:7] for name in names if name.startswith("seed")} == {f"seed00{i}" for i in range(5)}


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script):
    result = run_example(script, *TINY, *EXTRA.get(script.name, []))
    assert result.returncode == 0, result.stderr
    assert ACCURACY.search(result.stdout), result.stdout


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_has_docstring_and_help(script):
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    assert docstring and f"examples/{script.name}" in docstring, "the docstring says what it shows and how to run it"
    result = run_example(script, "--help")
    assert result.returncode == 0, result.stderr
    assert "--dataset" in result.stdout and "(default: mnist)" in " ".join(result.stdout.split())


def test_seed004_shows_predictions_and_a_digit():
    result = run_example(REPO / "examples" / "seed004_tiny_net_dev_split.py", *TINY, "--dev-size", "100", "--quiet")
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"test image \d: predicted \d, label \d", result.stdout)) == 4
    assert len([line for line in result.stdout.splitlines() if len(line) == 56]) == 28
    assert "epoch" not in result.stdout


@pytest.mark.skipif("cupy" in xpnet.available_backends(), reason="a usable CUDA GPU is here")
def test_gpu_example_without_a_gpu_says_why_in_one_line():
    result = run_example(REPO / "examples" / "train_on_gpu.py", *TINY)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["error", "hint"]
