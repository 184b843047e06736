"""The downloader against local HTTP mirrors: fall-through, rejection of bad copies, clean failure."""

import dataclasses
import gzip
import socket

import pytest

from datafiles import assert_one_line
from xpnet.data import DATASETS, DataError, load_dataset, write_mnist_folder
from xpnet.data.download import DownloadFailed, download_dataset

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture
def mirrors(http_root, tiny_mnist):
    """Base URLs of local mirrors: 'good' serves the four NAME.gz, 'missing' answers 404,
    'not-gzip' serves plain bytes, 'wrong-content' serves valid gzip of other data."""
    folder, base_url = http_root
    write_mnist_folder(folder / "good", tiny_mnist, compress=True)
    (folder / "missing").mkdir()
    (folder / "not-gzip").mkdir()
    (folder / "wrong-content").mkdir()
    for name in FILES:
        (folder / "not-gzip" / f"{name}.gz").write_bytes(b"<html>mirror moved</html>")
        (folder / "wrong-content" / f"{name}.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\1\7"))
    return {kind: f"{base_url}{kind}/" for kind in ("good", "missing", "not-gzip", "wrong-content")}


@pytest.fixture
def refused_url():
    """A URL on a local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _cache_folder(sandbox):
    return sandbox / "cache" / "xpnet" / "mnist"


def test_404_falls_through_to_the_next_mirror(mirrors, sandbox, capsys):
    dataset = load_dataset("mnist", mirrors=[mirrors["missing"], mirrors["good"]])
    assert dataset.source == str(_cache_folder(sandbox))
    assert sorted(p.name for p in _cache_folder(sandbox).iterdir()) == sorted(f"{name}.gz" for name in FILES)
    stderr = capsys.readouterr().err
    assert f"{mirrors['missing']}train-images-idx3-ubyte.gz failed: HTTP 404; trying the next mirror" in stderr
    assert f"downloading {mirrors['good']}train-images-idx3-ubyte.gz (16 kB)" in stderr
    # The copy is now in the cache: no network needed any more.
    assert load_dataset("mnist", download=False).source == str(_cache_folder(sandbox))


def test_mirrors_are_taken_from_the_dataset_table_by_default(mirrors, sandbox, monkeypatch):
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], mirrors=(mirrors["good"],)))
    assert load_dataset("mnist").source == str(_cache_folder(sandbox))


@pytest.mark.parametrize("bad", ["not-gzip", "wrong-content"])
def test_a_corrupt_copy_is_rejected_and_the_next_mirror_used(mirrors, sandbox, capsys, bad):
    load_dataset("mnist", mirrors=[mirrors[bad], mirrors["good"]])
    assert sorted(p.name for p in _cache_folder(sandbox).iterdir()) == sorted(f"{name}.gz" for name in FILES)
    reason = "not gzip data" if bad == "not-gzip" else "checksum mismatch"
    assert reason in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["not-gzip", "wrong-content"])
def test_only_corrupt_copies_leave_nothing_in_the_cache(mirrors, sandbox, bad):
    with pytest.raises(DataError) as error:
        load_dataset("mnist", mirrors=[mirrors[bad]])
    assert_one_line(error, "download failed", mirrors[bad])
    assert not (sandbox / "cache").exists(), "folders created for the download are removed again"


def test_a_failure_on_a_later_file_removes_the_files_already_fetched(mirrors, sandbox, http_root):
    folder, _ = http_root
    (folder / "good" / "t10k-labels-idx1-ubyte.gz").unlink()
    _cache_folder(sandbox).mkdir(parents=True)
    with pytest.raises(DataError) as error:
        load_dataset("mnist", mirrors=[mirrors["good"]])
    assert_one_line(error, "t10k-labels-idx1-ubyte.gz", "HTTP 404")
    assert list(_cache_folder(sandbox).iterdir()) == [], "no fetched file and no temporary file may remain"


def test_all_mirrors_failing_lists_the_places_and_the_fixes(mirrors, sandbox, refused_url, capsys):
    (sandbox / "given").mkdir()
    with pytest.raises(DataError) as error:
        load_dataset("mnist", sandbox / "given", mirrors=[mirrors["missing"], refused_url])
    assert_one_line(
        error, "mnist not found", "the download failed",
        str(sandbox / "given" / "mnist"), str(_cache_folder(sandbox)), str(sandbox / "system" / "mnist"),
        f"{mirrors['missing']}: HTTP 404", f"{refused_url}: ",
        f"in {sandbox / 'given' / 'mnist'}/ (ROOT/mnist/ of data_dir=", "connect to the internet",
    )
    assert not (sandbox / "cache").exists()
    notes = capsys.readouterr().err.splitlines()
    assert notes[-1].startswith(f"xpnet: {refused_url}train-images-idx3-ubyte.gz failed: ")
    assert "next mirror" not in notes[-1], "the last mirror has no next one"


def test_a_mirror_that_never_answers_times_out(tiny_mnist, sandbox):
    with socket.socket() as silent:
        # Accepts connections (the kernel's backlog) but never sends a byte.
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(DownloadFailed) as error:
            download_dataset(DATASETS["mnist"], sandbox / "target", mirrors=[url], timeout=0.2)
    assert_one_line(error, url, "timed out")
    assert not (sandbox / "target").exists()


def test_an_unreachable_mirror_is_not_retried_for_the_other_files(mirrors, refused_url, sandbox, capsys):
    load_dataset("mnist", mirrors=[refused_url, mirrors["good"]])
    assert capsys.readouterr().err.count(refused_url) == 1


def test_a_cache_that_cannot_be_written_is_a_clean_error(mirrors, sandbox, monkeypatch):
    (sandbox / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(sandbox / "not-a-folder"))
    with pytest.raises(DataError) as error:
        load_dataset("mnist", mirrors=[mirrors["good"]])
    assert_one_line(error, "download failed", "cannot write into", str(sandbox / "not-a-folder"))


def test_no_mirrors_at_all(tiny_mnist, sandbox):
    with pytest.raises(DataError) as error:
        load_dataset("mnist")
    assert_one_line(error, "no mirrors are known for mnist")
