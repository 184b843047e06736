"""IDX files: round trips, content-based gzip detection, and every kind of malformed file."""

import gzip
import hashlib
import os

import numpy as np
import pytest

from datafiles import assert_one_line
from xpnet.data import DataError, read_idx, uncompressed_sha256, write_idx
from xpnet.data.idx import idx_sha256

IMAGES = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
LABELS = np.array([3, 1, 4, 1, 5], dtype=np.uint8)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("array", [IMAGES, LABELS], ids=["images-3d", "labels-1d"])
def test_round_trip(tmp_path, array, compress):
    path = tmp_path / "file"
    write_idx(path, array, compress=compress)
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == ["file"], "no temporary file may be left"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask, "permissions follow the umask"


def test_mnist_magic_numbers_and_layout(tmp_path):
    write_idx(tmp_path / "images", IMAGES, compress=False)
    write_idx(tmp_path / "labels", LABELS, compress=False)
    images = (tmp_path / "images").read_bytes()
    assert images[:4] == bytes.fromhex("00000803")
    assert images[4:16] == bytes.fromhex("00000002 00000003 00000004")
    assert images[16:] == IMAGES.tobytes()
    assert (tmp_path / "labels").read_bytes()[:8] == bytes.fromhex("00000801 00000005")


def test_other_idx_dtypes_round_trip_in_native_byte_order(tmp_path):
    for dtype in (np.int8, np.int16, np.int32, np.float32, np.float64):
        array = np.arange(-3, 3, dtype=dtype).reshape(2, 3)
        write_idx(tmp_path / "x", array, compress=True)
        back = read_idx(tmp_path / "x")
        assert back.dtype == dtype and back.dtype.isnative
        np.testing.assert_array_equal(back, array)


def test_gzip_output_is_deterministic(tmp_path):
    write_idx(tmp_path / "first", IMAGES, compress=True)
    write_idx(tmp_path / "second", IMAGES, compress=True)
    assert (tmp_path / "first").read_bytes() == (tmp_path / "second").read_bytes()


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    write_idx(tmp_path / "plain.gz", IMAGES, compress=False)
    write_idx(tmp_path / "packed", IMAGES, compress=True)
    assert (tmp_path / "packed").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), IMAGES)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), IMAGES)


def test_uncompressed_sha256_ignores_compression(tmp_path):
    write_idx(tmp_path / "raw", IMAGES, compress=False)
    write_idx(tmp_path / "packed", IMAGES, compress=True)
    expected = hashlib.sha256((tmp_path / "raw").read_bytes()).hexdigest()
    assert uncompressed_sha256(tmp_path / "raw") == expected
    assert uncompressed_sha256(tmp_path / "packed") == expected
    assert idx_sha256(IMAGES) == expected


def test_write_rejects_arrays_idx_cannot_hold(tmp_path):
    with pytest.raises(DataError) as error:
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64), compress=False)
    assert_one_line(error, "int64", "uint8")
    assert list(tmp_path.iterdir()) == []


def _write_bytes(path, content: bytes, compress: bool):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_wrong_magic_number(tmp_path, compress):
    path = _write_bytes(tmp_path / "bad", bytes.fromhex("08030000 00000001") + b"\0" * 8, compress)
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert_one_line(error, str(path), "not an IDX file", "0x08030000")


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_truncated_payload(tmp_path, compress):
    content = bytes.fromhex("00000803 00000002 00000003 00000004") + b"\1" * 23
    path = _write_bytes(tmp_path / "short", content, compress)
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert_one_line(error, str(path), "truncated", "24 data bytes", "found 23")


def test_truncated_header(tmp_path):
    path = _write_bytes(tmp_path / "stub", bytes.fromhex("00000803 00000002"), compress=False)
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert_one_line(error, str(path), "header is truncated")


def test_empty_file(tmp_path):
    path = _write_bytes(tmp_path / "empty", b"", compress=False)
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert_one_line(error, str(path), "shorter than an IDX header")


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_over_long_payload(tmp_path, compress):
    content = bytes.fromhex("00000801 00000003") + b"\1\2\3\4"
    path = _write_bytes(tmp_path / "long", content, compress)
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert_one_line(error, str(path), "longer than its header says")


def test_cut_off_gzip_stream(tmp_path):
    write_idx(tmp_path / "cut", IMAGES, compress=True)
    packed = (tmp_path / "cut").read_bytes()
    (tmp_path / "cut").write_bytes(packed[: len(packed) // 2])
    for read in (read_idx, uncompressed_sha256):
        with pytest.raises(DataError) as error:
            read(tmp_path / "cut")
        assert_one_line(error, str(tmp_path / "cut"), "corrupt gzip data")


def test_header_claiming_an_enormous_array_is_a_clean_error(tmp_path):
    content = bytes.fromhex("00000803 ffffffff ffffffff ffffffff") + b"\0" * 16
    path = _write_bytes(tmp_path / "huge", content, compress=True)
    with pytest.raises(DataError) as error:
        read_idx(path)
    assert_one_line(error, str(path))


def test_unreadable_path(tmp_path):
    with pytest.raises(DataError) as error:
        read_idx(tmp_path / "absent")
    assert_one_line(error, str(tmp_path / "absent"), "cannot read the file", "No such file")
