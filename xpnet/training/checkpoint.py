"""Checkpoints: a trained model and everything needed to continue its run, in a file that runs no code.

Two formats, chosen by the file's extension: ``.npz`` (NumPy, read with
``allow_pickle=False``) and ``.safetensors`` (needs ``pip install -e '.[safetensors]'``).
Both hold host NumPy arrays, so a model trained on a GPU loads on a laptop and back:

- ``params.{i}.W`` (fan_in, fan_out) and ``params.{i}.b`` (fan_out,) per layer;
- ``optimizer.{name}`` for any optimiser state;
- metadata as JSON: format version, xpnet version, layer sizes, dtype, the resolved
  config, epochs done, the metrics so far, the host generator's state and, for a run
  stopped inside an epoch, where in that epoch it stopped.

Files are written atomically, so a crash at any moment leaves the previous one intact.

Reading trusts nothing in the file: the metadata is read first (at most
:data:`METADATA_LIMIT` bytes) and every field checked for type and range (the config through
:class:`xpnet.Config`; counts up to :data:`LARGEST_COUNT`, seconds finite, the history in order of
epoch and ending at the checkpoint's, a place inside an epoch whose examples fit its steps); then each tensor's name, shape, dtype and size as the file
declares them (zip member sizes and ``.npy`` headers; the safetensors header) are checked
against what the metadata implies, and their total against the memory available, before
any array is allocated. A file that fails is refused with one :class:`CheckpointError`
line, and so is one whose weights are not finite (the run that wrote it diverged).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..arguments import option
from ..errors import UsageError, XpnetError
from ..data.limits import available_memory
from ..files import write_output
from ..nn.architecture import Architecture
from ..nn.augment import shift_size
from .config import Config, as_usage_errors
from .early_stopping import MONITORS

FORMAT = "xpnet-checkpoint"
FORMAT_VERSION = 1
EXTENSIONS = (".npz", ".safetensors")
#: The most epochs, steps or examples a checkpoint may count: exact in a float, and beyond any run.
LARGEST_COUNT = 2 ** 53
_SECONDS = "a finite number of seconds, 0 or more"
#: The most bytes of metadata (or safetensors header) read: ~150,000 epochs of history.
METADATA_LIMIT = 32 * 2 ** 20
# JSON values parsed at most (commas; braces and brackets): parsing a hostile 32 MiB stays under ~200 MB.
_JSON_VALUES, _JSON_CONTAINERS = 2_000_000, 1_000_000
_METADATA_KEY = "__xpnet_metadata__"
# The safetensors format has no checksum (a zip has CRCs): a SHA-256 of the tensors is stored beside the metadata.
_DIGEST_KEY = "__xpnet_sha256__"
_CHUNK = 2 ** 20  # bytes read (and checked for NaN) at a time
# An .npz checkpoint holds a few arrays per layer: its zip directory is refused above these, read from the end
# record before zipfile lists it (zipfile keeps some 500 bytes an entry: millions of empty ones cost gigabytes).
MAX_ZIP_ENTRIES, MAX_ZIP_DIRECTORY = 10_000, 4 * 2 ** 20
_ZIP_END, _ZIP64_END, _ZIP64_LOCATOR = struct.Struct("<IHHHHIIH"), struct.Struct("<IQHHIIQQQQ"), struct.Struct("<IIQI")
_SLOT = re.compile(r"[A-Za-z_]{1,16}\.(\d{1,6})\.([Wb])")  # an optimiser buffer: m.0.W, v.1.b...
_SAFETENSORS_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "|i1", "I16": "<i2", "I32": "<i4",
                       "I64": "<i8", "U8": "|u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "|b1"}
# What reading a file may raise for damage the checks before it cannot see (a bad CRC, a truncated stream...).
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError,
           NotImplementedError, OverflowError, KeyError, TypeError)


class CheckpointError(XpnetError):
    """A checkpoint that cannot be written or read; the message names the file and the fix."""


@dataclass
class Checkpoint:
    """A model and its run's state, all on the host.

    ``params`` [(W, b), ...] NumPy arrays; ``optimizer_state`` name -> NumPy array;
    ``config`` the resolved :class:`xpnet.training.config.Config` as a dict; ``epoch`` epochs
    finished; ``history`` their metrics; ``rng_state`` the host generator's state after
    them; ``in_progress`` None, or where a run interrupted inside epoch ``epoch + 1``
    stopped (its generator state at that epoch's start, the steps done, partial totals);
    ``outputs`` where the run writes (``checkpoint_dir``, ``save_path``, ``metrics_path``,
    ``checkpoint_every``) and its folder's identity (``folder_id``), so that resuming it from
    that folder keeps writing there (empty in older files).
    ``num_classes`` defaults to the size of the last layer, ``image_shape`` to 28x28 for
    784 inputs and 1 x inputs otherwise. ``data_in_memory`` names the :class:`xpnet.data.Dataset`
    a run was given in memory (None: its data are ``config``'s dataset, loadable by name).
    """

    params: list
    config: dict
    epoch: int = 0
    history: list = field(default_factory=list)
    rng_state: dict | None = None
    optimizer_state: dict = field(default_factory=dict)
    in_progress: dict | None = None
    num_classes: int | None = None
    image_shape: tuple | None = None
    xpnet_version: str = __version__
    outputs: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    data_in_memory: str | None = None

    def __post_init__(self):
        if self.params and self.num_classes is None:
            self.num_classes = int(self.params[-1][0].shape[1])
        if self.params and self.image_shape is None:
            inputs = int(self.params[0][0].shape[0])
            self.image_shape = (28, 28) if inputs == 784 else (1, inputs)

    @property
    def layer_sizes(self) -> list[int]:
        """[inputs, hidden widths..., classes]: an MLP's layer sizes; for a CNN, its pixels, fc widths and classes."""
        if _arch_text(self.config):
            arch = self.network()
            return [math.prod(arch.image_shape), *arch.hidden_units, arch.classes]
        return [self.params[0][0].shape[0]] + [W.shape[1] for W, _ in self.params]

    def network(self) -> Architecture:
        """The network the parameters belong to: the config's ``arch``, else the MLP of the layer sizes."""
        arch = _arch_text(self.config)
        if arch:
            return Architecture.of(arch, self.image_shape, self.num_classes)
        return Architecture.mlp(self.layer_sizes[1:-1], self.image_shape, self.num_classes)

    @property
    def dtype(self) -> str:
        return str(self.params[0][0].dtype)

    def non_finite(self) -> str | None:
        """The name of the first parameter holding NaN or infinity (``'params.0.W'``), or None."""
        for i, (W, b) in enumerate(self.params):
            for name, array in (("W", W), ("b", b)):
                flat = np.asarray(array).reshape(-1)
                if not all(np.isfinite(flat[start:start + _CHUNK]).all() for start in range(0, flat.size, _CHUNK)):
                    return f"params.{i}.{name}"
        return None


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` (.npz or .safetensors) atomically; return the path."""
    path = Path(path)
    tensors = {}
    for i, (W, b) in enumerate(checkpoint.params):
        tensors[f"params.{i}.W"] = np.require(W, requirements="C")
        tensors[f"params.{i}.b"] = np.require(b, requirements="C")
    for name, value in checkpoint.optimizer_state.items():
        # np.require keeps a 0-d array 0-d (ascontiguousarray would make it 1-d).
        tensors[f"optimizer.{name}"] = np.require(value, requirements="C")
    metadata = json.dumps({
        "format": FORMAT, "format_version": FORMAT_VERSION, "xpnet_version": checkpoint.xpnet_version,
        "layer_sizes": checkpoint.layer_sizes, "dtype": checkpoint.dtype, "num_classes": checkpoint.num_classes,
        "image_shape": list(checkpoint.image_shape), "config": checkpoint.config, "epoch": checkpoint.epoch,
        "history": checkpoint.history, "rng_state": checkpoint.rng_state,
        "optimizer_tensors": sorted(checkpoint.optimizer_state), "in_progress": checkpoint.in_progress,
        "outputs": checkpoint.outputs, "progress": checkpoint.progress, "data_in_memory": checkpoint.data_in_memory,
    })
    suffix = _suffix(path)
    if suffix == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, **tensors, **{_METADATA_KEY: np.frombuffer(metadata.encode(), dtype=np.uint8)})
        payload = buffer.getvalue()
    else:
        payload = _safetensors().save(tensors, metadata={_METADATA_KEY: metadata, _DIGEST_KEY: _digest(tensors)})
    write_output(path, payload, fix="choose a writable path", error=CheckpointError)
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`CheckpointError` (one line) for a missing, truncated or foreign file,
    an unknown format version, metadata of the wrong types, missing, unexpected or
    oversized tensors, wrong shapes or dtypes, tensors larger than the memory available,
    and weights that are not finite (use :meth:`Checkpoint.non_finite` on a checkpoint
    built in memory).
    """
    path = Path(path)
    try:
        found = path.is_file()
    except OSError as error:  # a name the filesystem refuses (too long)
        raise CheckpointError(f"checkpoint {path} cannot be looked up ({error.strerror or error}); pass the path "
                              "of a .npz or .safetensors file written by --save or --checkpoint-dir") from None
    if not found:
        problem = "is not a regular file" if os.path.exists(path) else "not found"  # /dev/null, a FIFO: there
        raise CheckpointError(f"checkpoint {path} {problem}; pass the path of a .npz or .safetensors file "
                              "written by --save or --checkpoint-dir")
    meta, tensors = _read(path, _suffix(path))
    params = [(tensors[f"params.{i}.W"], tensors[f"params.{i}.b"]) for i in range(len(_param_shapes(meta)))]
    optimizer_state = {name: tensors[f"optimizer.{name}"] for name in meta["optimizer_tensors"]}
    checkpoint = Checkpoint(params=params, config=meta["config"], epoch=meta["epoch"], history=meta["history"],
                            rng_state=meta["rng_state"], optimizer_state=optimizer_state,
                            in_progress=meta["in_progress"], num_classes=meta["num_classes"],
                            image_shape=tuple(meta["image_shape"]), xpnet_version=meta["xpnet_version"],
                            outputs=_outputs(path, meta.get("outputs", {})), progress=_progress(path, meta),
                            data_in_memory=_data_in_memory(path, meta))
    bad = checkpoint.non_finite()
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} holds non-finite weights (NaN/inf in {bad}): the run that wrote "
                              "it diverged; use an earlier checkpoint of that run")
    return checkpoint


def _data_in_memory(path: Path, meta: dict) -> str | None:
    """The name of the in-memory dataset the run trained on: None (older files too) or a short line."""
    name = meta.get("data_in_memory")
    if name is not None and not (isinstance(name, str) and 0 < len(name) <= 200 and name.isprintable()):
        _bad_field(path, "data_in_memory", name, "None or the name of a dataset, one line of at most 200 characters")
    return name


def _progress(path: Path, meta: dict) -> dict:
    """What a run carries beside its recent history: its total seconds of training and, when it
    watches the dev split, where the watch stands (empty in older files)."""
    progress = meta.get("progress", {})
    if not (isinstance(progress, dict) and set(progress) <= {"train_seconds", "watch"}):
        raise CheckpointError(f"checkpoint {path} has unreadable progress ({_show(progress)}); "
                              "use an earlier checkpoint")
    if "train_seconds" in progress and not _seconds(progress["train_seconds"]):
        _bad_field(path, "progress.train_seconds", progress["train_seconds"], _SECONDS)
    if progress.get("watch") is not None:
        _check_watch(path, progress["watch"], meta["epoch"])
    return progress


def _check_watch(path: Path, watch, epoch: int) -> None:
    """Where the watch of the dev split stands, after ``epoch`` epochs."""
    if not (isinstance(watch, dict) and set(watch) == {"monitor", "best_value", "best_epoch", "waited"}):
        _bad_field(path, "progress.watch", watch,
                   "{'monitor': ..., 'best_value': ..., 'best_epoch': ..., 'waited': ...}")
    checks = (
        ("monitor", lambda v: isinstance(v, str) and v in MONITORS, f"one of {', '.join(MONITORS)}"),
        ("best_value", lambda v: v is None or _finite(v), "a finite number (null before a first finite one)"),
        ("best_epoch", lambda v: (v is None) == (watch["best_value"] is None)
         and (v is None or 1 <= _count(v) <= epoch), f"the epoch of best_value, from 1 to {epoch}"),
        ("waited", lambda v: 0 <= _count(v) <= epoch, f"a whole number of epochs from 0 to {epoch}"))
    for key, fits, expected in checks:
        if not fits(watch[key]):
            _bad_field(path, f"progress.watch.{key}", watch[key], expected)


def _outputs(path: Path, outputs) -> dict:
    """The run's output settings, checked: paths are strings or None, ``checkpoint_every`` an int >= 1."""
    known = {"checkpoint_dir": str, "save_path": str, "metrics_path": str, "checkpoint_every": int, "folder_id": str}
    if not isinstance(outputs, dict) or any(
            key not in known or not (value is None or (type(value) is known[key]
                                                       and (key != "checkpoint_every" or value >= 1)))
            for key, value in outputs.items()):
        raise CheckpointError(f"checkpoint {path} has unreadable output settings; use an earlier checkpoint")
    return outputs


def _suffix(path: Path) -> str:
    if path.suffix not in EXTENSIONS:
        raise CheckpointError(f"unknown checkpoint format {path.suffix or '(no extension)'!r} for {path}; "
                              f"use a name ending in {' or '.join(EXTENSIONS)}")
    return path.suffix


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise CheckpointError("the .safetensors format needs the safetensors package; "
                              "pip install -e '.[safetensors]', or use a .npz name") from None
    return safetensors.numpy


# Reading: the metadata first, then every tensor's declared shape, dtype and size, then the arrays.

def _read(path: Path, suffix: str) -> tuple[dict, dict]:
    """The checked metadata and the tensors of ``path``; CheckpointError for anything unreadable."""
    try:
        return _read_npz(path) if suffix == ".npz" else _read_safetensors(path)
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(f"checkpoint {path} does not fit in the memory available; "
                              "load it on a machine with more memory") from None
    except _DAMAGE as error:
        raise CheckpointError(f"{_damaged(path)} ({_first_line(error)}); use an earlier checkpoint") from None


def _damaged(path: Path) -> str:
    return f"checkpoint {path} is damaged or not a checkpoint"


def _read_npz(path: Path) -> tuple[dict, dict]:
    entries, directory = _zip_directory(path)
    if entries > MAX_ZIP_ENTRIES or directory > MAX_ZIP_DIRECTORY:
        raise CheckpointError(f"{_damaged(path)} (its zip directory states {entries:,} as its entry count and {directory:,} "
                              f"bytes as its size; an xpnet checkpoint has at most {MAX_ZIP_ENTRIES:,} entries in "
                              f"{MAX_ZIP_DIRECTORY:,} bytes); use an earlier checkpoint")
    with zipfile.ZipFile(path) as archive:
        members = {}
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if name in members:
                raise CheckpointError(f"{_damaged(path)} (it holds {_show(name)} twice); use an earlier checkpoint")
            members[name] = info
        if _METADATA_KEY not in members:
            _refuse_pickles(path, archive, list(members.values())[:64])
            _parse_metadata(path, None)  # raises: no metadata
        meta = _parse_metadata(path, _npz_metadata(path, archive, members.pop(_METADATA_KEY)))
        wanted = _wanted(meta)
        _check_names(path, members, wanted)
        headers = {}
        for name, want in wanted.items():
            with archive.open(members[name]) as stream:
                shape, fortran, dtype, offset = headers[name] = _npy_header(stream)
            _check_declared(path, name, shape, dtype, want)
            if members[name].file_size != offset + math.prod(shape) * dtype.itemsize:
                raise CheckpointError(f"{_damaged(path)} (the member of tensor {name!r} declares "
                                      f"{members[name].file_size:,} bytes, its header "
                                      f"{offset + math.prod(shape) * dtype.itemsize:,}); use an earlier checkpoint")
        _check_memory(path, wanted, {name: header[2] for name, header in headers.items()})
        tensors = {}
        for name, (shape, fortran, dtype, _) in headers.items():
            with archive.open(members[name]) as stream:
                _npy_header(stream)
                tensors[name] = _read_array(path, name, stream, shape, dtype, fortran)
    return meta, tensors


def _zip_directory(path: Path) -> tuple[int, int]:
    """(entries, bytes) of the zip directory of ``path`` as its end record (ZIP64's where there is one)
    states them, found the way zipfile finds it; CheckpointError when there is no end record."""
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(size - _ZIP_END.size - (1 << 16), 0))
        tail = file.read()
        start = len(tail) - _ZIP_END.size  # no archive comment: the end record closes the file
        if not (start >= 0 and tail[start:start + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
            start = tail.rfind(b"PK\x05\x06")
        if start < 0 or len(tail) - start < _ZIP_END.size:
            raise CheckpointError(f"{_damaged(path)} (not an .npz archive: no zip structure); "
                                  "use an earlier checkpoint")
        end = _ZIP_END.unpack_from(tail, start)
        entries, directory = end[4], end[5]
        locator_at = size - len(tail) + start - _ZIP64_LOCATOR.size
        if locator_at - _ZIP64_END.size >= 0:
            file.seek(locator_at - _ZIP64_END.size)
            record = file.read(_ZIP64_END.size + _ZIP64_LOCATOR.size)
            if (_ZIP64_LOCATOR.unpack_from(record, _ZIP64_END.size)[0] == 0x07064B50
                    and _ZIP64_END.unpack_from(record)[0] == 0x06064B50):
                entries, directory = _ZIP64_END.unpack_from(record)[7:9]
    return entries, directory


def _npy_header(stream) -> tuple[tuple, bool, np.dtype, int]:
    """(shape, Fortran order, dtype, header length) of the .npy file ``stream`` is at the start of."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"a .npy member of version {version}, which xpnet does not write")
    return tuple(shape), bool(fortran), dtype, stream.tell()


def _refuse_pickles(path: Path, archive: zipfile.ZipFile, infos: list) -> None:
    """Say so when a file without xpnet's metadata holds pickled objects (which are never loaded)."""
    for info in infos:
        try:
            with archive.open(info) as stream:
                dtype = _npy_header(stream)[2]
        except _DAMAGE:
            continue
        if dtype.hasobject:
            raise CheckpointError(f"{_damaged(path)} (it holds pickled objects, which xpnet never loads); "
                                  "use an earlier checkpoint")


def _npz_metadata(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    unreadable = f"checkpoint {path} has unreadable metadata"
    if info.file_size > METADATA_LIMIT + 4096:
        raise CheckpointError(f"{unreadable} ({info.file_size:,} bytes, more than the {METADATA_LIMIT:,} xpnet "
                              "reads); the file is damaged or was edited: use an earlier checkpoint")
    with archive.open(info) as stream:
        shape, _, dtype, _ = _npy_header(stream)
        if dtype != np.uint8 or len(shape) != 1:
            raise CheckpointError(f"{unreadable} ({_clean(f'{dtype}{list(shape)}', 60)}, not UTF-8 text); "
                                  "use an earlier checkpoint")
        if shape[0] > METADATA_LIMIT:
            raise CheckpointError(f"{unreadable} ({shape[0]:,} bytes, more than the {METADATA_LIMIT:,} xpnet reads); "
                                  "the file is damaged or was edited: use an earlier checkpoint")
        data = stream.read(shape[0])
    if len(data) != shape[0]:
        raise CheckpointError(f"{_damaged(path)} (its metadata ends early); use an earlier checkpoint")
    return data.decode("utf-8", "replace")


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    _safetensors()
    size = path.stat().st_size
    with open(path, "rb") as file:
        prefix = file.read(8)
        length = int.from_bytes(prefix, "little")
        if len(prefix) < 8 or 8 + length > size:
            raise CheckpointError(f"{_damaged(path)} (its header runs past the end of the file); "
                                  "use an earlier checkpoint")
        if length > METADATA_LIMIT:
            raise CheckpointError(f"{_damaged(path)} (its header claims {length:,} bytes, more than the "
                                  f"{METADATA_LIMIT:,} xpnet reads); use an earlier checkpoint")
        header = _json(file.read(length).decode("utf-8", "replace"))
        if not isinstance(header, dict):
            raise CheckpointError(f"{_damaged(path)} (its header is not a JSON table, or holds more values than "
                                  "xpnet writes); use an earlier checkpoint")
        table = header.pop("__metadata__", {})
        if not isinstance(table, dict) or not isinstance(table.get(_METADATA_KEY, ""), str):
            raise CheckpointError(f"checkpoint {path} has unreadable metadata (__metadata__ is {_show(table)}, "
                                  "not a table of strings); the file is damaged or was edited")
        meta = _parse_metadata(path, table.get(_METADATA_KEY))
        wanted = _wanted(meta)
        _check_names(path, header, wanted)
        spans, dtypes = [], {}
        for name, want in wanted.items():
            shape, dtypes[name], start, end = _safetensors_entry(path, name, header[name])
            _check_declared(path, name, shape, dtypes[name], want)
            nbytes = math.prod(shape) * dtypes[name].itemsize
            if end - start != nbytes:
                raise CheckpointError(f"{_damaged(path)} (the data of tensor {name!r} is {end - start:,} bytes, its "
                                      f"shape and dtype take {nbytes:,}); use an earlier checkpoint")
            if 8 + length + end > size:
                raise CheckpointError(f"{_damaged(path)} (the data of tensor {name!r} ends at byte {end:,} of "
                                      f"{size - 8 - length:,}); use an earlier checkpoint")
            spans.append((start, end, name, shape))
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])):
            raise CheckpointError(f"{_damaged(path)} (the data of two tensors overlap); use an earlier checkpoint")
        _check_memory(path, wanted, dtypes)
        tensors = {}
        for start, _, name, shape in spans:
            file.seek(8 + length + start)
            tensors[name] = _read_array(path, name, file, shape, dtypes[name], False)
    _check_digest(path, table.get(_DIGEST_KEY), tensors)
    return meta, tensors


def _digest(tensors: dict) -> str:
    """SHA-256 (hex) over each tensor's name and bytes, in the order of the names."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode() + b"\0")
        digest.update(np.require(tensors[name], requirements="C").reshape(-1).view(np.uint8))
    return digest.hexdigest()


def _check_digest(path: Path, stored, tensors: dict) -> None:
    """CheckpointError when the digest stored with the tensors is not theirs (files of older xpnets have none)."""
    if stored is not None and stored != _digest(tensors):
        raise CheckpointError(f"{_damaged(path)} (its tensors do not match the SHA-256 digest saved with them: "
                              "a byte changed since it was written); use an earlier checkpoint")


def _safetensors_entry(path: Path, name: str, entry) -> tuple[tuple, np.dtype, int, int]:
    """(shape, dtype, start, end) of a safetensors header entry, checked for types."""
    shape = entry.get("shape") if isinstance(entry, dict) else None
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    if not (isinstance(entry, dict) and entry.get("dtype") in _SAFETENSORS_DTYPES and isinstance(shape, list)
            and all(_whole(d, 0) for d in shape) and isinstance(offsets, list) and len(offsets) == 2
            and all(_whole(o, 0) for o in offsets) and offsets[0] <= offsets[1]):
        raise CheckpointError(f"{_damaged(path)} (the header's entry of tensor {name!r} is {_show(entry)}); "
                              "use an earlier checkpoint")
    return tuple(shape), np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]]), offsets[0], offsets[1]


def _wanted(meta: dict) -> dict[str, tuple]:
    """Tensor name -> (shape, dtype) the metadata implies; (None, None) for the optimiser's step count."""
    dtype = meta["dtype"]
    shapes = {}
    for i, (W_shape, b_shape) in enumerate(_param_shapes(meta)):
        shapes[f"{i}.W"], shapes[f"{i}.b"] = tuple(W_shape), tuple(b_shape)
    wanted = {f"params.{key}": (shape, dtype) for key, shape in shapes.items()}
    for name in meta["optimizer_tensors"]:
        wanted[f"optimizer.{name}"] = (None, None) if name == "step" else (shapes[name.split(".", 1)[1]], dtype)
    return wanted


def _check_names(path: Path, present, wanted: dict) -> None:
    unexpected = sorted(set(present) - set(wanted))
    if unexpected:
        more = f" and {len(unexpected) - 3} more" if len(unexpected) > 3 else ""
        raise CheckpointError(f"checkpoint {path} holds unexpected tensors ({', '.join(map(_show, unexpected[:3]))}"
                              f"{more}) for its layer sizes; it was not written by this xpnet, or was edited")
    for name in wanted:
        if name not in present:
            if name.startswith("optimizer."):
                raise CheckpointError(f"checkpoint {path} lacks the optimiser tensor {name[len('optimizer.'):]!r}; "
                                      "the file is damaged: use an earlier checkpoint")
            raise CheckpointError(f"checkpoint {path} lacks tensor {name!r}; the file is damaged or was edited: "
                                  "use an earlier checkpoint")


def _check_declared(path: Path, name: str, shape: tuple, dtype: np.dtype, want: tuple) -> None:
    """The shape and dtype a file declares for tensor ``name``, against what the metadata implies."""
    if dtype.hasobject:
        raise CheckpointError(f"{_damaged(path)} (it holds pickled objects, which xpnet never loads); "
                              "use an earlier checkpoint")
    expected_shape, expected_dtype = want
    if expected_shape is None:  # the optimiser's step count: 0-d (or one element), an integer
        fits, expected = shape in ((), (1,)) and dtype.kind in "iu", "a 0-d integer count"
    else:
        fits, expected = shape == expected_shape and dtype == np.dtype(expected_dtype), \
            f"{expected_dtype}{list(expected_shape)}"
    if not fits:
        raise CheckpointError(f"checkpoint {path}: tensor {name!r} is {_clean(f'{dtype}{list(shape)}', 60)}, "
                              f"expected {expected}; the file is damaged or was edited")


def _check_memory(path: Path, wanted: dict, dtypes: dict) -> None:
    """Refuse tensors larger in all than the memory available, before allocating any."""
    needed = sum(math.prod(shape or (1,)) * dtypes[name].itemsize for name, (shape, _) in wanted.items())
    available = _available_bytes()
    if available is not None and needed > available:
        raise CheckpointError(f"checkpoint {path} holds {_size(needed)} of weights and optimiser state, more than "
                              f"the {_size(available)} of memory available; load it on a machine with more memory")


def _read_array(path: Path, name: str, stream, shape: tuple, dtype: np.dtype, fortran: bool) -> np.ndarray:
    """The array of ``shape`` read from ``stream`` in chunks (no second copy of it in memory)."""
    flat = np.empty(math.prod(shape), dtype=dtype)
    view = memoryview(flat.view(np.uint8))
    filled = 0
    while filled < len(view):
        chunk = stream.read(min(_CHUNK, len(view) - filled))
        if not chunk:
            raise CheckpointError(f"{_damaged(path)} (tensor {name!r} ends early); use an earlier checkpoint")
        view[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    return flat.reshape(shape, order="F" if fortran else "C")


def _available_bytes() -> int | None:
    """The host memory a new allocation can use (None if unknown)."""
    return available_memory()


def _parse_metadata(path: Path, metadata: str | None) -> dict:
    if metadata is None:
        raise CheckpointError(f"{path} has no xpnet metadata: it was not written by xpnet; "
                              "pass a file written by --save or --checkpoint-dir")
    meta = _json(metadata)
    if meta is None:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata (not JSON, or more values than xpnet "
                              "writes); use an earlier checkpoint")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an xpnet checkpoint; pass a file written by {option('--save')}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {_show(version)}, this xpnet "
                              f"({__version__}) reads version {FORMAT_VERSION}; use the xpnet that wrote it")
    required = ("layer_sizes", "dtype", "config", "epoch", "history", "rng_state", "optimizer_tensors",
                "in_progress", "num_classes", "image_shape", "xpnet_version")
    missing = [key for key in required if key not in meta]
    sizes = meta.get("layer_sizes")
    if missing or not (isinstance(sizes, list) and len(sizes) >= 2 and all(_whole(s, 1) for s in sizes)):
        raise CheckpointError(f"checkpoint {path} has incomplete metadata "
                              f"({', '.join(missing) or 'layer_sizes'}); use an earlier checkpoint")
    if meta["dtype"] not in ("float32", "float64"):
        raise CheckpointError(f"checkpoint {path} has unsupported dtype {_show(meta['dtype'])}; "
                              "xpnet writes float32 or float64")
    for key, fits, expected in _field_checks(meta):
        if key == "optimizer_tensors":  # its names are counted by the network's layers: that network first
            _check_config(path, meta)
            _check_arch(path, meta)
        if not fits(meta[key]):
            raise CheckpointError(f"checkpoint {path} has a bad {key} in its metadata ({_show(meta[key])}, "
                                  f"expected {expected}); the file is damaged or was edited: use an earlier checkpoint")
    _check_history(path, meta["history"], meta["epoch"])
    if meta["in_progress"] is not None:
        _check_in_progress(path, meta["in_progress"])
    return meta


def _bad_field(path: Path, name: str, value, expected: str):
    raise CheckpointError(f"checkpoint {path} has a bad {name} in its metadata ({_show(value)}, expected {expected}); "
                          "the file is damaged or was edited: use an earlier checkpoint")


def _arch_text(config) -> str:
    """The ``arch`` setting of a run's config ('' for an MLP, and for anything that is not text)."""
    arch = config.get("arch", "") if isinstance(config, dict) else ""
    return arch if isinstance(arch, str) else ""


def _param_shapes(meta: dict) -> list:
    """[(W shape, b shape), ...] the metadata implies: the config's architecture, else the MLP of layer_sizes."""
    arch = _arch_text(meta.get("config"))
    if arch:
        try:
            return Architecture.of(arch, meta["image_shape"], meta["num_classes"]).param_shapes()
        except (UsageError, TypeError, ValueError, IndexError, KeyError):
            pass  # _check_arch reports it; until then, the layer sizes bound the names
    sizes = meta["layer_sizes"]
    return [((fan_in, fan_out), (fan_out,)) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]


def _check_arch(path: Path, meta: dict) -> None:
    """A convolutional network's config must build on the checkpoint's image shape and agree with its layer sizes."""
    arch = _arch_text(meta["config"])
    if not arch:
        return
    try:
        with as_usage_errors():
            built = Architecture.of(arch, meta["image_shape"], meta["num_classes"])
    except UsageError as error:
        raise CheckpointError(f"checkpoint {path} has an unusable network in its config ({_first_line(error)}); "
                              "the file is damaged or was edited: use an earlier checkpoint") from None
    sizes = [math.prod(built.image_shape), *built.hidden_units, built.classes]
    if meta["layer_sizes"] != sizes:
        raise CheckpointError(f"checkpoint {path} has layer sizes {_show(meta['layer_sizes'])} that do not match its "
                              f"network {arch} ({sizes}); the file is damaged or was edited: use an earlier checkpoint")


def _json(text: str):
    """``text`` parsed, or None for text that is not JSON or holds more values than a checkpoint's
    (parsing a hostile file's thousands of nested or millions of tiny values costs time and memory)."""
    if text.count(",") > _JSON_VALUES or text.count("{") + text.count("[") > _JSON_CONTAINERS:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _field_checks(meta: dict) -> list[tuple]:
    """(key, check, what is expected) for each metadata field but ``layer_sizes`` and ``dtype``."""
    sizes = meta["layer_sizes"]
    layers = len(_param_shapes(meta))
    return [
        ("xpnet_version", lambda v: isinstance(v, str) and len(v) <= 64, "a version such as '0.1.0'"),
        ("epoch", lambda v: _count(v) >= 0, f"a whole number of epochs, from 0 to {LARGEST_COUNT:,}"),
        ("num_classes", lambda v: _whole(v, 1) and v == sizes[-1], f"{sizes[-1]}, the size of the last layer"),
        ("image_shape", lambda v: isinstance(v, list) and len(v) == 2 and all(_whole(d, 1) for d in v)
         and v[0] * v[1] == sizes[0], f"[rows, columns] of {sizes[0]} pixels, the size of the first layer"),
        ("config", lambda v: isinstance(v, dict), "a table of settings"),
        ("history", lambda v: isinstance(v, list), "a list of per-epoch records"),
        ("rng_state", lambda v: v is None or _generator_state(v), "the state of a NumPy PCG64 generator"),
        ("in_progress", lambda v: v is None or (isinstance(v, dict) and "steps" in v),
         "null, or where a run stopped inside an epoch: {'steps': whole number, 'seen': ..., "
         "'epoch_rng_state': ...}"),
        ("optimizer_tensors", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v)
         and len(set(v)) == len(v) and all(_optimizer_name(n, layers) for n in v),
         f"a list of names such as 'step' and 'm.0.W' for its {layers} layer(s)"),
    ]


def _optimizer_name(name: str, layers: int) -> bool:
    match = _SLOT.fullmatch(name)
    return name == "step" or (match is not None and int(match.group(1)) < layers)


def _check_history(path: Path, history: list, epoch: int) -> None:
    """The per-epoch records, in order of epoch, the last of them epoch ``epoch`` (the checkpoint's)."""
    previous = 0
    for record in history:
        problem = _record_problem(record, previous)
        if problem is not None:
            raise CheckpointError(f"checkpoint {path} has a bad history in its metadata (record {_show(record)}: "
                                  f"{problem}); the file is damaged or was edited: use an earlier checkpoint")
        previous = record["epoch"]
    if history and previous != epoch:
        raise CheckpointError(f"checkpoint {path} has epoch {epoch} in its metadata, and a history that ends "
                              f"with epoch {previous}; the file is damaged or was edited: use an earlier checkpoint")


def _record_problem(record, previous: int) -> str | None:
    """What is wrong with one epoch's metrics (None if nothing): they hold its epoch, after ``previous``,
    its training loss, finite seconds if any, and numbers (``best``: True or False)."""
    if not isinstance(record, dict):
        return "expected {'epoch': whole number, 'train_loss': number, ...} with numbers only"
    if not (isinstance(record.get("epoch"), int) and previous < _count(record["epoch"])):
        return f"'epoch' must be a whole number after {previous} (the record before), at most {LARGEST_COUNT:,}"
    if "seconds" in record and not _seconds(record["seconds"]):
        return f"'seconds' must be {_SECONDS}"
    for key, value in {"train_loss": record.get("train_loss"), **record}.items():
        if not (isinstance(value, bool) if key == "best" else _real(value)):
            return f"{_show(key)} must be {'True or False' if key == 'best' else 'a number'}"
    return None


def _check_in_progress(path: Path, state: dict) -> None:
    """Where a run stopped inside an epoch, as the trainer writes it: each key it uses, of its type and
    range (which keys resuming needs is checked when resuming)."""
    steps, seen = state["steps"], state.get("seen")
    checks = (
        ("steps", lambda v: _count(v) >= 0, f"a whole number from 0 to {LARGEST_COUNT:,}"),
        ("seen", lambda v: _count(v) >= 0 and (v == 0) == (steps == 0) and v >= steps,
         f"the examples of its {steps} step(s): 0 after 0 steps, else at least one a step"),
        ("correct", lambda v: 0 <= _count(v) <= (LARGEST_COUNT if seen is None else seen),
         "a whole number from 0 to the examples seen"),
        ("loss_sum", lambda v: _finite(v) and v >= 0, "a finite number, 0 or more"),
        ("seconds", _seconds, _SECONDS),
        ("epoch_rng_state", _generator_state, "the state of a NumPy PCG64 generator"))
    for key, fits, expected in checks:
        if key in state and not fits(state[key]):
            _bad_field(path, f"in_progress.{key}", state[key], expected)


def _generator_state(state) -> bool:
    """Whether NumPy's default generator (PCG64) accepts ``state``."""
    if not isinstance(state, dict):
        return False
    try:
        np.random.default_rng(0).bit_generator.state = state
    except Exception:  # NumPy raises TypeError, ValueError, KeyError or OverflowError, depending on the damage
        return False
    return True


def _check_config(path: Path, meta: dict) -> None:
    """The run's settings, through :class:`xpnet.Config` (settings this xpnet does not know are left out),
    and its shifts against the images."""
    known = set(Config.__dataclass_fields__)
    try:
        config = Config().replace(**{key: value for key, value in meta["config"].items() if key in known}).validate()
        with as_usage_errors():
            shift_size(config.shift, meta["image_shape"])
    except (UsageError, TypeError, ValueError, ArithmeticError) as error:
        raise CheckpointError(f"checkpoint {path} has an unusable setting in its config ({_first_line(error)}); "
                              "the file is damaged or was edited: use an earlier checkpoint") from None


def _whole(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value) -> int:
    """``value`` if it is a whole number from 0 to :data:`LARGEST_COUNT`, else -1 (never in range)."""
    return value if _whole(value, 0) and value <= LARGEST_COUNT else -1


def _real(value) -> bool:
    """A number a float can hold (NaN and infinity included; an int of 400 digits is not)."""
    if not _number(value):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _finite(value) -> bool:
    return _real(value) and math.isfinite(value)


def _seconds(value) -> bool:
    return _finite(value) and value >= 0


def _show(value, limit: int = 60) -> str:
    """``value`` for a message: its repr (control characters escaped), cut to ``limit`` characters."""
    return _clean(repr(value), limit)


def _clean(text: str, limit: int = 120) -> str:
    """``text`` for a message: control characters escaped, cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _size(count: int) -> str:
    return f"{count / 2 ** 30:,.1f} GiB" if count >= 2 ** 30 else f"{count / 2 ** 20:,.1f} MiB"


def _first_line(error: Exception) -> str:
    return _clean((str(error).splitlines() or [type(error).__name__])[0][:120])
