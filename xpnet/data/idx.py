"""IDX files (the MNIST format), raw or gzipped: read, write, and hash their content.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of dimensions),
one big-endian uint32 per dimension, then the elements in C order, big-endian.
MNIST uses 0x00000801 (uint8 labels, 1-D) and 0x00000803 (uint8 images, 3-D).
"""

import gzip
import hashlib
import math
import os
import stat
import struct
import zlib
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

import numpy as np

from xpnet.data.dataset import DataError
from xpnet.data.limits import MAX_FILE_BYTES, MAX_GZIP_RATIO, human_bytes
from xpnet.files import atomic_open

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 20

_DTYPE_BY_CODE = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_BY_DTYPE = {dtype: code for code, dtype in _DTYPE_BY_CODE.items()}

# Errors a corrupt gzip stream raises while being read.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def is_gzip(path) -> bool:
    """Whether the file starts with the gzip magic bytes, whatever its name."""
    with open(path, "rb") as file:
        return file.read(2) == GZIP_MAGIC


@contextmanager
def open_uncompressed(path):
    """A binary file object over the file's content, decompressed if the file is gzipped.

    Failures to read, and corrupt gzip data, raise DataError naming the file.
    """
    try:
        with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as file:
            yield file
    except _GZIP_ERRORS as error:
        raise DataError(f"{path}: corrupt gzip data ({error}); replace the file with a good copy") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error}); check that it "
                        f"exists and is readable") from None


class IdxHeader(NamedTuple):
    """What an IDX file's header declares: the element type and the shape."""

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def header_bytes(self) -> int:
        return 4 + 4 * len(self.shape)

    @property
    def data_bytes(self) -> int:
        """The size of the body the header declares (Python ints: no overflow for absurd shapes)."""
        return math.prod(self.shape) * self.dtype.itemsize


def _read_exactly(file, size: int) -> bytes:
    data = file.read(size)
    return data if len(data) == size else b""


def _read_header(file, path) -> IdxHeader:
    magic = _read_exactly(file, 4)
    if not magic:
        raise DataError(f"{path}: file is shorter than an IDX header; replace it with a complete copy")
    zeros, code, ndim = magic[:2], magic[2], magic[3]
    if zeros != b"\x00\x00" or code not in _DTYPE_BY_CODE or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file (magic number 0x{magic.hex()}, expected e.g. 0x00000803 "
            f"for images or 0x00000801 for labels); point xpnet at the MNIST-format files"
        )
    dims_bytes = _read_exactly(file, 4 * ndim)
    if not dims_bytes:
        raise DataError(f"{path}: IDX header is truncated; replace the file with a complete copy")
    return IdxHeader(_DTYPE_BY_CODE[code], struct.unpack(f">{ndim}I", dims_bytes))


def read_idx_header(path) -> IdxHeader:
    """The file's header alone (dtype and shape), without reading the body: cheap for any file."""
    with open_uncompressed(path) as file:
        return _read_header(file, path)


def check_declared_size(path, header: IdxHeader, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Refuse, before the body is read, a header whose body is over max_bytes or cannot fit the file.

    A raw file's size must be the header's plus the body's exactly; a gzip file cannot hold more
    than MAX_GZIP_RATIO times its own size (deflate's limit). So a corrupt or hostile header is
    refused without allocating or decompressing what it claims.
    """
    shape, data_bytes = header.shape, header.data_bytes
    if data_bytes > max_bytes:
        raise DataError(
            f"{path}: IDX header claims shape {shape}, {data_bytes:,} bytes ({human_bytes(data_bytes)}) of data, "
            f"more than the {max_bytes:,} expected for this file; the file is corrupt or not the one meant, "
            f"replace it with a valid copy"
        )
    try:
        status = os.stat(path)
        compressed = stat.S_ISREG(status.st_mode) and is_gzip(path)
    except OSError:
        return  # reading the file will say what is wrong with it
    if not stat.S_ISREG(status.st_mode):
        return
    if compressed:
        if header.header_bytes + data_bytes > MAX_GZIP_RATIO * status.st_size + (1 << 16):
            raise DataError(
                f"{path}: file is truncated: shape {shape} needs {data_bytes} data bytes, more than "
                f"{status.st_size} bytes of gzip data can hold; replace it with a complete copy"
            )
        return
    found = status.st_size - header.header_bytes
    if found < data_bytes:
        raise DataError(
            f"{path}: file is truncated: shape {shape} needs {data_bytes} data bytes, found "
            f"{found}; replace it with a complete copy"
        )
    if found > data_bytes:
        raise DataError(
            f"{path}: file is longer than its header says (shape {shape}, {data_bytes} data "
            f"bytes, then {found - data_bytes} more); replace it with a valid copy"
        )


def _allocate(shape: tuple[int, ...], dtype: np.dtype, path) -> np.ndarray:
    try:
        return np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError):
        # A corrupt header can claim petabytes; say so instead of failing to allocate.
        raise DataError(
            f"{path}: IDX header claims shape {shape}, too large to hold in memory; "
            f"the file is corrupt, replace it with a valid copy"
        ) from None


def read_idx(path, max_bytes: int = MAX_FILE_BYTES) -> np.ndarray:
    """The array stored in an IDX file, gzipped or raw (detected from the content).

    Returns the header's shape, in native byte order (uint8 for MNIST files).
    Raises DataError for a bad magic number, a body the header says is over max_bytes (checked
    before anything is allocated), or a payload that is shorter or longer than the header's
    dimensions say. At most the declared body and one byte more are ever decompressed, so a
    gzip bomb costs no more than its header admits to.
    """
    with open_uncompressed(path) as file:
        header = _read_header(file, path)
        check_declared_size(path, header, max_bytes)
        dtype, shape = header
        array = _allocate(shape, dtype, path)
        buffer = memoryview(array.reshape(-1).view(np.uint8))
        filled = 0
        while filled < array.nbytes:
            got = file.readinto(buffer[filled : filled + _CHUNK_BYTES])
            if not got:
                break
            filled += got
        extra = file.read(1)
    if filled < array.nbytes:
        raise DataError(
            f"{path}: file is truncated: shape {shape} needs {array.nbytes} data bytes, found "
            f"{filled}; replace it with a complete copy"
        )
    if extra:
        raise DataError(
            f"{path}: file is longer than its header says (shape {shape}, {array.nbytes} data "
            f"bytes, then more); replace it with a valid copy"
        )
    return array.astype(dtype.newbyteorder("="), copy=False)


def idx_header(array: np.ndarray) -> bytes:
    """The IDX header (magic number and dimensions) for an array."""
    code = _CODE_BY_DTYPE.get(array.dtype.newbyteorder(">"))
    if code is None or array.ndim == 0:
        raise DataError(
            f"cannot store a {array.dtype} array of shape {array.shape} as IDX; "
            f"use an array of at least one dimension with dtype uint8, int8, int16, int32, float32 or float64"
        )
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)


def idx_sha256(array: np.ndarray) -> str:
    """SHA-256 hex digest of the array's IDX encoding.

    For an array read_idx returned, this equals the SHA-256 of the file's uncompressed content,
    so a dataset can be verified from memory without reading the file twice.
    """
    digest = hashlib.sha256(idx_header(array))
    digest.update(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).data)
    return digest.hexdigest()


def uncompressed_sha256(path) -> str:
    """SHA-256 hex digest of the file's content, decompressed first if the file is gzipped.

    Streams the file, so memory use stays small. Raises DataError for corrupt gzip data.
    """
    digest = hashlib.sha256()
    with open_uncompressed(path) as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    """Write an array (e.g. uint8 (n,) labels or (n, rows, cols) images) as an IDX file.

    compress=True writes gzip. The file appears atomically: it is written to a temporary file in
    the same folder, flushed to disk, then renamed over path.
    """
    header = idx_header(array)
    payload = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    with atomic_open(path) as raw:
        # No name and mtime=0 make the same array always give the same gz bytes. Closing the GzipFile
        # writes the gzip trailer but leaves raw open for the fsync.
        out_context = (gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0)
                       if compress else nullcontext(raw))
        with out_context as out:
            out.write(header)
            out.write(payload.data)
