"""Helpers for the data tests: tiny MNIST-shaped datasets, a sandboxed environment, a local mirror.

Nothing here reads real data or the user's cache: every file lives under pytest's tmp_path.
"""

import dataclasses
import functools
import http.server
import threading

import numpy as np
import pytest

from xpnet.data import DATASETS, DataError, Dataset
from xpnet.data.idx import idx_sha256


def tiny_dataset_arrays(n_train: int = 20, n_test: int = 10, seed: int = 0) -> Dataset:
    """A Dataset shaped like MNIST (28x28, 10 classes, every class present) but a few KB big."""
    rng = np.random.default_rng(seed)
    return Dataset(
        name="tiny",
        train_images=rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        train_labels=np.arange(n_train, dtype=np.int64) % 10,
        test_images=rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        test_labels=np.arange(n_test, dtype=np.int64) % 10,
        num_classes=10,
        source="tests",
    )


def sha256_table(dataset: Dataset) -> dict[str, str]:
    """The checksum table a KnownDataset would publish for this dataset's four files."""
    return {
        "train-images-idx3-ubyte": idx_sha256(dataset.train_images),
        "train-labels-idx1-ubyte": idx_sha256(dataset.train_labels.astype(np.uint8)),
        "t10k-images-idx3-ubyte": idx_sha256(dataset.test_images),
        "t10k-labels-idx1-ubyte": idx_sha256(dataset.test_labels.astype(np.uint8)),
    }


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> str:
    """The error is a DataError whose message is one line containing every fragment."""
    assert isinstance(error.value, DataError), type(error.value)
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """HOME, the cache and XPNET_DATA_DIR point into tmp_path; proxies are bypassed."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    monkeypatch.setenv("no_proxy", "*")
    return tmp_path


@pytest.fixture
def tiny_mnist(sandbox, monkeypatch):
    """A tiny dataset that 'mnist' is patched to know (its checksums), with no mirrors and a
    system folder inside tmp_path; returns the tiny Dataset."""
    dataset = tiny_dataset_arrays()
    patched = dataclasses.replace(
        DATASETS["mnist"],
        sha256=sha256_table(dataset),
        mirrors=(),
        system_dirs=(str(sandbox / "system" / "mnist"),),
    )
    monkeypatch.setitem(DATASETS, "mnist", patched)
    return dataset


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """(folder, base_url): a local HTTP server on 127.0.0.1 serving folder, for mirror tests."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval keeps shutdown (and so each test) fast.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()
