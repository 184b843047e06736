"""What the docs promise about data (docs/getting-started.md, "Data"): --data-dir at the folder of files,
one offline line, EMNIST's names."""

import dataclasses
import shutil
import socket
import urllib.error
import urllib.request

import pytest

import xpnet
from datafiles import assert_one_line, tiny_dataset_arrays
from saved_models import one_line_error
from xpnet.data import DATASETS, DataError, load_dataset, read_mnist_folder, write_idx, write_mnist_folder

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def test_data_dir_may_be_the_folder_holding_the_four_files(tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "downloads", tiny_mnist)
    dataset = load_dataset("mnist", sandbox / "downloads", download=False)
    assert dataset.source == f"{sandbox / 'downloads'} (from --data-dir)"
    assert dataset.num_classes == 10


def test_data_dir_subfolder_still_comes_first(tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "root" / "mnist", tiny_mnist)
    write_mnist_folder(sandbox / "root", tiny_dataset_arrays(seed=1))  # not mnist: would fail its checksums
    assert load_dataset("mnist", sandbox / "root", download=False).source == f"{sandbox / 'root' / 'mnist'} (from --data-dir)"


def test_files_in_the_data_dir_itself_are_still_checked(tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "other", tiny_dataset_arrays(seed=1))
    with pytest.raises(DataError) as error:
        load_dataset("mnist", sandbox / "other", download=False)
    assert_one_line(error, "checksum mismatch for mnist")


@pytest.fixture
def offline(monkeypatch):
    """Every name lookup fails (in urllib's opener, which the downloader uses), as on a machine
    without network; returns the list of URLs tried."""
    tried = []

    def no_dns(opener, request, *args, **kwargs):
        tried.append(request.full_url)
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_dns)
    return tried


def test_offline_is_one_short_line_after_one_lookup(tiny_mnist, sandbox, offline, capsys):
    mirrors = ["http://first.invalid/", "http://second.invalid/", "http://third.invalid/"]
    with pytest.raises(DataError) as error:
        load_dataset("mnist", mirrors=mirrors)
    message = assert_one_line(error, "no network", "first.invalid", "data_dir=ROOT")
    assert message.endswith("or set XPNET_DATA_DIR=ROOT") and len(message) < 200, message
    assert "synthetic" not in message, "generated data help a run, not a model that needs its own data"
    assert offline == ["http://first.invalid/train-images-idx3-ubyte.gz"], "stop after the first failed lookup"
    assert capsys.readouterr().err == "", "no per-mirror notes: the error is the only line"
    assert not (sandbox / "cache").exists()


@pytest.fixture
def mnist_gone_offline(tiny_mnist, sandbox, offline, monkeypatch):
    """A checkpoint of a run on 'mnist' whose files are gone, on a machine without network."""
    write_mnist_folder(sandbox / "root" / "mnist", tiny_mnist)
    path = sandbox / "model.npz"
    xpnet.fit(dataset="mnist", data_dir=str(sandbox / "root"), epochs=1, backend="numpy", log=None, save=str(path))
    shutil.rmtree(sandbox / "root")
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], mirrors=("http://first.invalid/",)))
    return path


def test_a_plot_without_its_data_names_the_fix_not_synthetic_data(mnist_gone_offline, sandbox, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install -e '.[plot]')")
    from xpnet.plot import main

    line = one_line_error(main(["--checkpoint", str(mnist_gone_offline), "--out-dir", str(sandbox)]), 1,
                          capsys.readouterr().err)
    assert "no network" in line and "--data-dir ROOT" in line and "XPNET_DATA_DIR=ROOT" in line, line
    assert "synthetic" not in line, "the model's pictures need its own data: generated data cannot help"


def test_training_without_data_still_offers_generated_data(mnist_gone_offline):
    with pytest.raises(DataError) as error:
        xpnet.fit(dataset="mnist", epochs=1, backend="numpy", log=None)
    assert_one_line(error, "no network", "data_dir=ROOT", "XPNET_DATA_DIR=ROOT", "dataset='synthetic'")


def _write_prefixed(folder, prefix, dataset, test_word="test"):
    arrays = {"train-images-idx3": dataset.train_images, "train-labels-idx1": dataset.train_labels.astype("uint8"),
              f"{test_word}-images-idx3": dataset.test_images,
              f"{test_word}-labels-idx1": dataset.test_labels.astype("uint8")}
    for stem, array in arrays.items():
        write_idx(folder / f"{prefix}{stem}-ubyte.gz", array, compress=True)


def test_emnist_style_names_are_read(tmp_path):
    dataset = tiny_dataset_arrays()
    folder = tmp_path / "emnist"
    folder.mkdir()
    _write_prefixed(folder, "emnist-digits-", dataset)
    (folder / "emnist-digits-mapping.txt").write_text("0 48\n")
    back = read_mnist_folder(folder)
    assert back.name == "emnist" and back.num_classes == 10
    assert (back.test_images == dataset.test_images).all() and (back.train_labels == dataset.train_labels).all()
    assert load_dataset(str(folder)).source == str(folder)


def test_several_prefixed_sets_are_one_line_naming_them(tmp_path):
    folder = tmp_path / "gzip"
    folder.mkdir()
    _write_prefixed(folder, "emnist-digits-", tiny_dataset_arrays())
    _write_prefixed(folder, "emnist-mnist-", tiny_dataset_arrays(seed=1))
    with pytest.raises(DataError) as error:
        read_mnist_folder(folder)
    assert_one_line(error, "2 sets", "emnist-digits-*", "emnist-mnist-*", "folder of their own")


def test_an_incomplete_prefixed_set_is_still_missing_files(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    _write_prefixed(folder, "emnist-digits-", tiny_dataset_arrays())
    (folder / "emnist-digits-test-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as error:
        read_mnist_folder(folder)
    assert_one_line(error, "missing", "emnist-digits-")


def test_known_datasets_keep_their_own_names(tiny_mnist):
    assert DATASETS["fashion-mnist"].class_names[0] == "T-shirt/top"
    assert DATASETS["mnist"].class_names is None
