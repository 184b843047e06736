"""The real MNIST, where it is available: run with XPNET_DATA_DIR=ROOT, ROOT/mnist holding the files."""

import os
from pathlib import Path

import numpy as np
import pytest

from xpnet.data import load_dataset

DATA_DIR = os.environ.get("XPNET_DATA_DIR")


@pytest.mark.data
@pytest.mark.skipif(not (DATA_DIR and (Path(DATA_DIR) / "mnist").is_dir()),
                    reason="real MNIST not found: set XPNET_DATA_DIR to a folder holding mnist/")
def test_real_mnist_loads_and_matches_the_published_checksums(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # load_dataset raises unless all four files match the published SHA-256 of their content.
    dataset = load_dataset("mnist", data_dir=DATA_DIR, download=False)
    assert dataset.source == f"{os.path.abspath(Path(DATA_DIR) / 'mnist')} (from --data-dir)"
    assert dataset.train_images.shape == (60000, 28, 28) and dataset.test_images.shape == (10000, 28, 28)
    assert dataset.train_labels.shape == (60000,) and dataset.test_labels.shape == (10000,)
    assert dataset.num_classes == 10
    assert np.bincount(dataset.train_labels).tolist()[:2] == [5923, 6742]
