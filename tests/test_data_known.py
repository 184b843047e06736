"""Known datasets found locally: lookup order, checksums of the uncompressed content, offline errors.

'mnist' is patched (fixture tiny_mnist) to publish the checksums of a tiny dataset, so these
tests exercise the real lookup and verification code on a few KB of data.
"""

import dataclasses
import gzip

import numpy as np
import pytest

from datafiles import assert_one_line
from xpnet.data import DATASETS, DataError, load_dataset, write_idx, write_mnist_folder


def test_known_dataset_loads_from_data_dir(tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "root" / "mnist", tiny_mnist)
    dataset = load_dataset("mnist", sandbox / "root", download=False)
    assert dataset.name == "mnist" and dataset.source == f"{sandbox / 'root' / 'mnist'} (from --data-dir)"
    assert dataset.num_classes == 10 and dataset.image_shape == (28, 28)
    np.testing.assert_array_equal(dataset.test_images, tiny_mnist.test_images)


def test_lookup_order_data_dir_then_cache_then_system(tiny_mnist, sandbox, monkeypatch):
    folders = {
        "data_dir": (sandbox / "given" / "mnist", " (from --data-dir)"),
        "cache": (sandbox / "cache" / "xpnet" / "mnist", ""),
        "system": (sandbox / "system" / "mnist", ""),
    }
    for folder, _ in folders.values():
        write_mnist_folder(folder, tiny_mnist)
    # The flag wins: the variable's folder is not looked in when --data-dir is given.
    write_mnist_folder(sandbox / "env" / "mnist", tiny_mnist)
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "env"))
    for place, (folder, origin) in folders.items():
        assert load_dataset("mnist", sandbox / "given", download=False).source == f"{folder}{origin}", place
        # Take this copy away (one file is enough) so the next place in line is used.
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()


def test_xpnet_data_dir_is_used_without_the_flag_and_named_in_the_source(tiny_mnist, sandbox, monkeypatch):
    write_mnist_folder(sandbox / "env" / "mnist", tiny_mnist)
    write_mnist_folder(sandbox / "cache" / "xpnet" / "mnist", tiny_mnist)
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "env"))
    assert load_dataset("mnist", download=False).source == f"{sandbox / 'env' / 'mnist'} (from XPNET_DATA_DIR)"


def test_cache_defaults_to_home_when_xdg_cache_home_is_unset(tiny_mnist, sandbox, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    write_mnist_folder(sandbox / "home" / ".cache" / "xpnet" / "mnist", tiny_mnist)
    assert load_dataset("mnist", download=False).source == str(sandbox / "home" / ".cache" / "xpnet" / "mnist")


def test_recompressed_and_decompressed_copies_are_accepted(tiny_mnist, sandbox):
    folder = sandbox / "root" / "mnist"
    write_mnist_folder(folder, tiny_mnist, compress=True)
    # Another gzip level gives other archive bytes; the content, and so the checksum, is the same.
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes()), compresslevel=1, mtime=12345))
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    (folder / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(labels.read_bytes()))
    labels.unlink()
    assert load_dataset("mnist", sandbox / "root", download=False).train_images.shape == (20, 28, 28)


def test_wrong_checksum_on_a_local_copy(tiny_mnist, sandbox):
    folder = sandbox / "root" / "mnist"
    write_mnist_folder(folder, tiny_mnist)
    images = tiny_mnist.train_images.copy()
    images[0, 0, 0] ^= 0xFF
    write_idx(folder / "train-images-idx3-ubyte.gz", images, compress=True)
    with pytest.raises(DataError) as error:
        load_dataset("mnist", sandbox / "root", download=False)
    expected = DATASETS["mnist"].sha256["train-images-idx3-ubyte"][:12]
    assert_one_line(error, str(folder / "train-images-idx3-ubyte.gz"), "checksum mismatch",
                    f"expected SHA-256 {expected}", "got", "delete the file")


def test_wrong_checksum_is_an_error_even_when_a_later_place_has_a_good_copy(tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "cache" / "xpnet" / "mnist", tiny_mnist)
    write_mnist_folder(sandbox / "root" / "mnist", tiny_mnist)
    write_idx(sandbox / "root" / "mnist" / "t10k-labels-idx1-ubyte.gz", np.ones(10, dtype=np.uint8), compress=True)
    with pytest.raises(DataError) as error:
        load_dataset("mnist", sandbox / "root", download=False)
    assert_one_line(error, "t10k-labels-idx1-ubyte.gz", "checksum mismatch")


def test_known_datasets_must_be_28_by_28(tiny_mnist, sandbox, monkeypatch):
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], image_shape=(32, 32)))
    write_mnist_folder(sandbox / "root" / "mnist", tiny_mnist)
    with pytest.raises(DataError) as error:
        load_dataset("mnist", sandbox / "root", download=False)
    assert_one_line(error, "mnist images must be (32, 32), got (28, 28)")


def test_offline_and_not_found_says_where_it_looked_and_how_to_fix(tiny_mnist, sandbox, monkeypatch):
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "env"))
    write_mnist_folder(sandbox / "env" / "mnist", tiny_mnist)
    (sandbox / "env" / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as error:
        load_dataset("mnist", download=False)
    assert_one_line(
        error, "mnist not found", "downloading is off",
        f"{sandbox / 'env' / 'mnist'} (only 3 of the 4 files)",
        str(sandbox / "cache" / "xpnet" / "mnist"),
        str(sandbox / "system" / "mnist"),
        f"in {sandbox / 'env' / 'mnist'}/ (ROOT/mnist/ of XPNET_DATA_DIR={sandbox / 'env'})",
    )
    assert not (sandbox / "cache").exists(), "an offline lookup must not create the cache"


def test_known_dataset_tables_are_complete():
    for known in DATASETS.values():
        assert sorted(known.sha256) == sorted(
            ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
        assert all(len(digest) == 64 for digest in known.sha256.values())
        assert known.mirrors and all(mirror.endswith("/") for mirror in known.mirrors)
