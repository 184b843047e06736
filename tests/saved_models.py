"""Helpers for the tests of the commands that use a saved model (evaluate, predict, plot)."""

import os
import subprocess
import sys
from pathlib import Path

import xpnet

REPO = Path(__file__).resolve().parent.parent
DATASET = "synthetic:600"


def train_and_save(folder: Path, name: str = "model.npz", **overrides):
    """(checkpoint path, FitResult) of a 2-epoch NumPy run on synthetic:600, saved to folder/name.

    The dataset is passed by name so that the checkpoint's config records it.
    """
    path = folder / name
    settings = {"dataset": DATASET, "epochs": 2, "backend": "numpy", "log": None,
                "metrics_path": str(folder / "run.jsonl")}
    result = xpnet.fit(save_path=str(path), **{**settings, **overrides})
    return path, result


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m xpnet.<module> ARGS`` from the checkout under test."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", f"xpnet.{module}", *args], check=False, capture_output=True,
                          text=True, timeout=120, env=env)


def one_line_error(status: int, expected: int, stderr: str) -> str:
    """The last line of ``stderr`` after checking the exit status and that no traceback was printed."""
    assert status == expected, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    if expected == 2:  # a usage error: its line, then where to look
        assert len(lines) == 2 and lines[1].startswith("try: ") and lines[1].endswith(" --help"), stderr
        lines.pop()
    assert len(lines) == 1 and "error: " in lines[0], stderr
    return lines[0]
