"""Data folders that never mislead: another dataset's files are named, not called corrupt; a given
folder that does not exist is named; --data-dir wins over XPNET_DATA_DIR and the header says which."""

import dataclasses

import pytest

from datafiles import assert_one_line, sha256_table, tiny_dataset_arrays
from saved_models import train_and_save
from xpnet.data import DATASETS, load_dataset, write_idx, write_mnist_folder
from xpnet.errors import UsageError
from xpnet.predict import main as predict_main
from xpnet.train import main as train_main


@pytest.fixture
def tiny_fashion(tiny_mnist, sandbox, monkeypatch):
    """'fashion-mnist' patched to know another tiny dataset (mnist is tiny_mnist's), no mirrors."""
    dataset = tiny_dataset_arrays(seed=7)
    patched = dataclasses.replace(DATASETS["fashion-mnist"], sha256=sha256_table(dataset), mirrors=(),
                                  system_dirs=(str(sandbox / "system" / "fashion-mnist"),))
    monkeypatch.setitem(DATASETS, "fashion-mnist", patched)
    return dataset


def test_the_mnist_folder_given_for_fashion_mnist_is_named_not_called_corrupt(tiny_fashion, tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "data" / "mnist", tiny_mnist)
    with pytest.raises(Exception) as error:
        load_dataset("fashion-mnist", sandbox / "data" / "mnist", download=False)
    message = assert_one_line(error, "fashion-mnist not found", f"{sandbox / 'data' / 'mnist'} (holds mnist, not "
                              "fashion-mnist)", "not corrupt", "ROOT/fashion-mnist/", "holding mnist/ and fashion-mnist/")
    assert "delete" not in message and "checksum mismatch" not in message


def test_the_asked_dataset_is_still_found_past_a_folder_of_another(tiny_fashion, tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "data" / "fashion-mnist", tiny_mnist)  # misplaced: mnist's files
    write_mnist_folder(sandbox / "system" / "fashion-mnist", tiny_fashion)
    assert load_dataset("fashion-mnist", sandbox / "data", download=False).source == str(
        sandbox / "system" / "fashion-mnist")


def test_one_file_of_another_dataset_is_named_as_such(tiny_fashion, tiny_mnist, sandbox):
    folder = sandbox / "data" / "mnist"
    write_mnist_folder(folder, tiny_mnist)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", tiny_fashion.test_images, compress=True)
    with pytest.raises(Exception) as error:
        load_dataset("mnist", sandbox / "data", download=False)
    message = assert_one_line(error, str(folder / "t10k-images-idx3-ubyte.gz"),
                              "fashion-mnist's t10k-images-idx3-ubyte, not mnist's", "a folder of its own")
    assert "delete" not in message


def test_predict_names_the_other_dataset_too(tiny_fashion, tiny_mnist, sandbox, capsys):
    path, _ = train_and_save(sandbox)
    write_mnist_folder(sandbox / "data" / "mnist", tiny_mnist)
    status = predict_main([str(path), "--dataset", "fashion-mnist", "--data-dir", str(sandbox / "data" / "mnist"),
                           "--no-download", "--index", "0"])
    err = capsys.readouterr().err
    assert status == 1 and "holds mnist, not fashion-mnist" in err and "delete" not in err, err


def test_a_data_dir_that_does_not_exist_is_named_even_with_the_variable_set(tiny_mnist, sandbox, monkeypatch):
    write_mnist_folder(sandbox / "env" / "mnist", tiny_mnist)
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "env"))
    with pytest.raises(UsageError) as error:
        load_dataset("mnist", sandbox / "dta", download=False)
    assert_one_line(error, f"data_dir {sandbox / 'dta'}: no such folder", "check the path")


def test_an_xpnet_data_dir_that_does_not_exist_is_named(tiny_mnist, sandbox, monkeypatch):
    write_mnist_folder(sandbox / "cache" / "xpnet" / "mnist", tiny_mnist)
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "nowhere"))
    with pytest.raises(Exception) as error:
        load_dataset("mnist", download=False)
    assert_one_line(error, f"XPNET_DATA_DIR={sandbox / 'nowhere'}: no such folder")


def test_the_flag_wins_over_the_variable(tiny_mnist, sandbox, monkeypatch):
    write_mnist_folder(sandbox / "env" / "mnist", tiny_mnist)
    write_mnist_folder(sandbox / "cache" / "xpnet" / "mnist", tiny_mnist)
    (sandbox / "given").mkdir()
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "env"))
    assert load_dataset("mnist", sandbox / "given", download=False).source == str(sandbox / "cache" / "xpnet" / "mnist")


def test_the_header_says_which_folder_and_where_it_came_from(tiny_mnist, sandbox, capsys):
    write_mnist_folder(sandbox / "data" / "mnist", tiny_mnist)
    status = train_main(["--data-dir", str(sandbox / "data"), "--no-download", "--hidden", "none", "--epochs", "1",
                         "--backend", "numpy"])
    out = capsys.readouterr().out
    assert status == 0 and f"data: mnist from {sandbox / 'data' / 'mnist'} (from --data-dir): 20 train" in out, out


def test_a_mistyped_data_dir_is_a_usage_error_from_the_command(sandbox, capsys):
    status = train_main(["--data-dir", str(sandbox / "dta"), "--no-download", "--epochs", "1"])
    err = capsys.readouterr().err
    assert status == 2 and f"--data-dir {sandbox / 'dta'}: no such folder" in err and "Traceback" not in err, err


def test_a_checkpoints_data_dir_that_is_gone_is_not_an_error(tiny_mnist, sandbox, monkeypatch):
    import xpnet

    write_mnist_folder(sandbox / "data" / "mnist", tiny_mnist)
    path, _ = train_and_save(sandbox, dataset="mnist", data_dir=str(sandbox / "data"), download=False,
                             hidden=(), epochs=1)
    (sandbox / "data").rename(sandbox / "moved")  # the model is used on another machine, say
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "moved"))
    assert xpnet.load_model(path, with_data=True).dataset.source == f"{sandbox / 'moved' / 'mnist'} (from XPNET_DATA_DIR)"


def test_a_data_dir_that_is_the_cache_is_looked_in_once(tiny_mnist, sandbox):
    (sandbox / "cache" / "xpnet").mkdir(parents=True)
    with pytest.raises(Exception) as error:
        load_dataset("mnist", sandbox / "cache" / "xpnet", download=False)
    message = assert_one_line(error, "mnist not found")
    assert message.count(f"{sandbox / 'cache' / 'xpnet' / 'mnist'},") == 1, message


def test_a_resumed_run_whose_data_dir_is_gone_finds_the_data_elsewhere(tiny_mnist, sandbox, monkeypatch):
    import xpnet

    write_mnist_folder(sandbox / "data" / "mnist", tiny_mnist)
    path, _ = train_and_save(sandbox, dataset="mnist", data_dir=str(sandbox / "data"), download=False,
                             hidden=(), epochs=1)
    (sandbox / "data").rename(sandbox / "moved")  # resumed on another machine, say
    monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "moved"))
    result = xpnet.fit(resume=str(path), epochs=2, log=None, save_path=str(sandbox / "again.npz"))
    assert result.summary["data_source"] == f"{sandbox / 'moved' / 'mnist'} (from XPNET_DATA_DIR)", result.summary


@pytest.fixture
def fashion_offline(tiny_fashion, monkeypatch):
    """fashion-mnist with one mirror, on a machine whose every name lookup fails."""
    import socket
    import urllib.error
    import urllib.request

    def no_dns(opener, request, *args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_dns)
    monkeypatch.setitem(DATASETS, "fashion-mnist", dataclasses.replace(DATASETS["fashion-mnist"],
                                                                       mirrors=("http://first.invalid/",)))


@pytest.mark.parametrize("given", ["flag", "variable"])
def test_offline_with_a_root_given_says_where_it_looked_not_to_pass_one(given, fashion_offline, sandbox, monkeypatch,
                                                                        capsys):
    """The right ROOT given, the dataset absent: once 'pass --data-dir ROOT', though it was passed."""
    (sandbox / "data").mkdir()
    argv = ["--dataset", "fashion-mnist", "--epochs", "1"]
    if given == "flag":
        argv += ["--data-dir", str(sandbox / "data")]
    else:
        monkeypatch.setenv("XPNET_DATA_DIR", str(sandbox / "data"))
    status = train_main(argv)
    err = capsys.readouterr().err
    assert status == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"looked in {sandbox / 'data' / 'fashion-mnist'}, {sandbox / 'data'}, " in err, err
    assert f"put fashion-mnist's four files" in err and f"in {sandbox / 'data' / 'fashion-mnist'}/" in err, err
    assert "pass --data-dir ROOT" not in err and "set XPNET_DATA_DIR=ROOT" not in err, err


def test_a_data_dir_that_is_a_file_is_called_a_file(tiny_mnist, sandbox):
    write_mnist_folder(sandbox / "data" / "mnist", tiny_mnist)
    file = sandbox / "data" / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(UsageError) as error:
        load_dataset("mnist", file, download=False)
    message = assert_one_line(error, f"data_dir {file} is a file, not a folder", f"{file.parent}")
    assert "no such folder" not in message
