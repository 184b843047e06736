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
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import XpnetError
from ..files import write_output

FORMAT = "xpnet-checkpoint"
FORMAT_VERSION = 1
EXTENSIONS = (".npz", ".safetensors")
_METADATA_KEY = "__xpnet_metadata__"


class CheckpointError(XpnetError):
    """A checkpoint that cannot be written or read; the message names the file and the fix."""


@dataclass
class Checkpoint:
    """A model and its run's state, all on the host.

    ``params`` [(W, b), ...] NumPy arrays; ``optimizer_state`` name -> NumPy array;
    ``config`` the resolved :class:`xpnet.config.Config` as a dict; ``epoch`` epochs
    finished; ``history`` their metrics; ``rng_state`` the host generator's state after
    them; ``in_progress`` None, or where a run interrupted inside epoch ``epoch + 1``
    stopped (its generator state at that epoch's start, the steps done, partial totals);
    ``outputs`` where the run writes (``checkpoint_dir``, ``save_path``, ``metrics_path``,
    ``checkpoint_every``), so that resuming it keeps writing there (empty in older files).
    """

    params: list
    config: dict
    epoch: int = 0
    history: list = field(default_factory=list)
    rng_state: dict | None = None
    optimizer_state: dict = field(default_factory=dict)
    in_progress: dict | None = None
    num_classes: int = 10
    image_shape: tuple = (28, 28)
    xpnet_version: str = __version__
    outputs: dict = field(default_factory=dict)

    @property
    def layer_sizes(self) -> list[int]:
        return [self.params[0][0].shape[0]] + [W.shape[1] for W, _ in self.params]

    @property
    def dtype(self) -> str:
        return str(self.params[0][0].dtype)


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
        "outputs": checkpoint.outputs,
    })
    suffix = _suffix(path)
    if suffix == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, **tensors, **{_METADATA_KEY: np.frombuffer(metadata.encode(), dtype=np.uint8)})
        payload = buffer.getvalue()
    else:
        payload = _safetensors().save(tensors, metadata={_METADATA_KEY: metadata})
    write_output(path, payload, fix="choose a writable path", error=CheckpointError)
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`CheckpointError` (one line) for a missing, truncated or foreign file,
    an unknown format version, or missing tensors or wrong shapes or dtypes.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; pass the path of a .npz or .safetensors file "
                              "written by --save or --checkpoint-dir")
    tensors, metadata = _read(path, _suffix(path))
    meta = _parse_metadata(path, metadata)
    sizes = meta["layer_sizes"]
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = _tensor(path, tensors, f"params.{i}.W", (fan_in, fan_out), meta["dtype"])
        b = _tensor(path, tensors, f"params.{i}.b", (fan_out,), meta["dtype"])
        params.append((W, b))
    expected = {f"params.{i}.{p}" for i in range(len(sizes) - 1) for p in "Wb"}
    expected |= {f"optimizer.{name}" for name in meta["optimizer_tensors"]}
    unexpected = sorted(set(tensors) - expected)
    if unexpected:
        raise CheckpointError(f"checkpoint {path} holds unexpected tensors ({', '.join(unexpected[:3])}) "
                              "for its layer sizes; it was not written by this xpnet, or was edited")
    optimizer_state = {}
    for name in meta["optimizer_tensors"]:
        if f"optimizer.{name}" not in tensors:
            raise CheckpointError(f"checkpoint {path} lacks the optimiser tensor {name!r}; "
                                  "the file is damaged: use an earlier checkpoint")
        optimizer_state[name] = tensors[f"optimizer.{name}"]
    return Checkpoint(params=params, config=meta["config"], epoch=meta["epoch"], history=meta["history"],
                      rng_state=meta["rng_state"], optimizer_state=optimizer_state,
                      in_progress=meta["in_progress"], num_classes=meta["num_classes"],
                      image_shape=tuple(meta["image_shape"]), xpnet_version=meta["xpnet_version"],
                      outputs=_outputs(path, meta.get("outputs", {})))


def _outputs(path: Path, outputs) -> dict:
    """The run's output settings, checked: paths are strings or None, ``checkpoint_every`` an int >= 1."""
    known = {"checkpoint_dir": str, "save_path": str, "metrics_path": str, "checkpoint_every": int}
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


def _read(path: Path, suffix: str) -> tuple[dict, str | None]:
    """Tensors and the metadata string of ``path``; CheckpointError for anything unreadable."""
    damaged = f"checkpoint {path} is damaged or not a checkpoint"
    if suffix == ".npz":
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{damaged} (not an .npz archive: no zip structure); use an earlier checkpoint")
        try:
            with np.load(path, allow_pickle=False) as archive:
                tensors = {name: archive[name] for name in archive.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
            reason = ("it holds pickled objects, which xpnet never loads" if "pickle" in str(error)
                      else _first_line(error))
            raise CheckpointError(f"{damaged} ({reason}); use an earlier checkpoint") from None
        raw = tensors.pop(_METADATA_KEY, None)
        return tensors, None if raw is None else raw.tobytes().decode("utf-8", "replace")
    module = _safetensors()
    try:
        data = path.read_bytes()
        tensors = module.load(data)
        header_size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_size])
    except Exception as error:  # safetensors raises its own SafetensorError for every kind of damage
        raise CheckpointError(f"{damaged} ({_first_line(error)}); use an earlier checkpoint") from None
    return tensors, header.get("__metadata__", {}).get(_METADATA_KEY)


def _parse_metadata(path: Path, metadata: str | None) -> dict:
    if metadata is None:
        raise CheckpointError(f"{path} has no xpnet metadata: it was not written by xpnet; "
                              "pass a file written by --save or --checkpoint-dir")
    try:
        meta = json.loads(metadata)
    except json.JSONDecodeError:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata; use an earlier checkpoint") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an xpnet checkpoint; pass a file written by --save")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}, this xpnet "
                              f"({__version__}) reads version {FORMAT_VERSION}; use the xpnet that wrote it")
    required = ("layer_sizes", "dtype", "config", "epoch", "history", "rng_state", "optimizer_tensors",
                "in_progress", "num_classes", "image_shape", "xpnet_version")
    missing = [key for key in required if key not in meta]
    sizes = meta.get("layer_sizes")
    if missing or not (isinstance(sizes, list) and len(sizes) >= 2 and all(isinstance(s, int) and s > 0
                                                                            for s in sizes)):
        raise CheckpointError(f"checkpoint {path} has incomplete metadata "
                              f"({', '.join(missing) or 'layer_sizes'}); use an earlier checkpoint")
    if meta["dtype"] not in ("float32", "float64"):
        raise CheckpointError(f"checkpoint {path} has unsupported dtype {meta['dtype']!r}; "
                              "xpnet writes float32 or float64")
    return meta


def _tensor(path: Path, tensors: dict, name: str, shape: tuple, dtype: str) -> np.ndarray:
    if name not in tensors:
        raise CheckpointError(f"checkpoint {path} lacks tensor {name!r}; the file is damaged or was edited: "
                              "use an earlier checkpoint")
    array = tensors[name]
    if array.shape != shape or str(array.dtype) != dtype:
        raise CheckpointError(f"checkpoint {path}: tensor {name!r} is {array.dtype}{list(array.shape)}, "
                              f"expected {dtype}{list(shape)}; the file is damaged or was edited")
    return array


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:120]
