"""A saved model put to use: a checkpoint's parameters on a device, its data, its predictions.

``python -m xpnet.evaluate``, ``predict`` and ``plot`` all start with :func:`load_model`.
Images reach the device the way training sent them (:func:`xpnet.training.device_data.images_to_device`,
with the checkpoint's dtype and normalisation), so the numbers here agree with training's.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from array_api_compat import array_namespace

from ..arguments import a_name, a_path, a_switch, option, shown
from ..backend import Backend, host_available_bytes, resolve, to_numpy
from ..training.checkpoint import Checkpoint, load_checkpoint
from ..training.checkpoint_folder import is_folder, newest_usable
from ..training.config import Config
from ..data import DATASETS, DataError, Dataset, load_dataset
from ..data.load import name_to_load
from ..errors import UsageError
from ..nn.network import predict_logits
from ..nn.ops import softmax
from ..training.device_data import images_to_device
from ..training.memory import check_fits, prediction_bytes
from .terminal import echo, printable

SPLITS = ("test", "train")
#: The keywords of :func:`load_model` that replace a checkpoint's data settings.
DATA_SETTINGS = ("dataset", "data_dir", "download")


@dataclass
class Model:
    """A checkpoint ready to use: ``params`` [(W, b), ...] on ``backend``'s device, ``config``
    the run's settings with any data overrides, and ``dataset`` once loaded (asked for, or a split read)."""

    checkpoint: Checkpoint = field(repr=False)
    source: str
    config: Config = field(repr=False)
    backend: Backend
    params: list = field(repr=False)
    dataset: Dataset | None = field(default=None, repr=False)
    dataset_named: bool = field(default=False, repr=False)  # the caller named the data (not the checkpoint)

    @property
    def num_classes(self) -> int:
        return self.checkpoint.num_classes

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """One name per class where the data name them (Fashion-MNIST's 'T-shirt/top', ...): the loaded
        dataset's, else the known dataset's of the run; None for digits and unnamed classes."""
        known = DATASETS.get(self.config.dataset)
        names = self.dataset.class_names if self.dataset is not None else known and known.class_names
        return tuple(names) if names and len(names) == self.num_classes else None

    @property
    def network(self):
        """The network (:class:`xpnet.nn.architecture.Architecture`) the parameters belong to."""
        return self.checkpoint.network()

    @property
    def eval_batch_size(self) -> int:
        return self.config.evaluation_batch(self.network)

    def contents(self) -> str:
        """``MLP 784-128-10, float32, 8 epoch(s)``: what the checkpoint holds (escaped: the epoch comes
        from the file)."""
        return printable(f"{self.network.title()}, {self.checkpoint.dtype}, "
                         f"{self.checkpoint.epoch} epoch(s)")

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Host images (n, rows, cols) uint8 and labels (n,) int64 of split ``name``.

        ``train`` is the whole training file, including any examples the run held out with
        ``--dev-size``. The data are loaded (as :attr:`config` says) on the first call.
        """
        if self.dataset is None:
            self.dataset = _load(self.checkpoint, self.source, self.config, self.dataset_named)
            _check_fits(self)
        if a_name("split", name, SPLITS) == "test":
            return self.dataset.test_images, self.dataset.test_labels
        return self.dataset.train_images, self.dataset.train_labels

    def images_to_device(self, images: np.ndarray):
        """uint8 images (n, rows, cols) or one (rows, cols) -> (n, rows*cols) on the device, as
        training fed them. UsageError (one line) for anything else."""
        images = self.checked_images(images)
        with self.backend.activate():
            return images_to_device(images, self.backend, self.checkpoint.dtype, self.config.normalize)

    def checked_images(self, images, result_bytes: int = 0) -> np.ndarray:
        """``images`` as a (n, rows, cols) host array of the model's image shape and 0..255 pixels;
        with ``result_bytes``, UsageError when predicting them, ``result_bytes`` of results an
        image, cannot fit in the memory free (checked before any pixel is read)."""
        try:
            images = np.asarray(images)
        except (TypeError, ValueError):
            images = np.asarray(None)
        if images.dtype.kind not in "uif":
            raise UsageError(f"images must be numbers (an array of 0..255 pixels), got {images.dtype} values")
        shape = tuple(self.checkpoint.image_shape)
        if images.shape == shape:
            images = images[None]
        if images.ndim != 3 or images.shape[1:] != shape or images.shape[0] == 0:
            raise UsageError(f"images must be (n, {shape[0]}, {shape[1]}) or one ({shape[0]}, {shape[1]}) image "
                             f"with n >= 1, as the model was trained on; got shape {images.shape}")
        if result_bytes:
            self._check_fits(images.shape[0], result_bytes)
        low, high = float(images.min()), float(images.max())
        if not (0.0 <= low and high <= 255.0):
            raise UsageError(f"pixels must be in 0..255, got values from {low:g} to {high:g}")
        if images.dtype.kind == "f" and high <= 1.0 and self.config.normalize:
            raise UsageError("these images look scaled to [0, 1]; pass 0..255 pixels (uint8) as the model was "
                             "trained on them (it scales them itself)")
        return images

    def class_probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax probabilities (n, k) on the host for uint8 images (n, rows, cols), computed
        :attr:`eval_batch_size` images at a time, as evaluation does."""
        images = self.checked_images(images, self.num_classes * np.dtype(self.checkpoint.dtype).itemsize)
        found = np.empty((images.shape[0], self.num_classes), dtype=self.checkpoint.dtype)
        for start, probabilities in self._batches(images):
            found[start:start + probabilities.shape[0]] = probabilities
        return found

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The predicted class (n,) int64 on the host of uint8 images (n, rows, cols), computed
        :attr:`eval_batch_size` images at a time."""
        images = self.checked_images(images, np.dtype(np.int64).itemsize)
        found = np.empty(images.shape[0], dtype=np.int64)
        for start, probabilities in self._batches(images):
            found[start:start + probabilities.shape[0]] = np.argmax(probabilities, axis=1)
        return found

    def _batches(self, images: np.ndarray):
        """(first index, softmax probabilities on the host) of each batch of the checked ``images``."""
        with self.backend.activate():
            for start in range(0, images.shape[0], self.eval_batch_size):
                batch = images[start:start + self.eval_batch_size]
                X = images_to_device(batch, self.backend, self.checkpoint.dtype, self.config.normalize)
                xp = array_namespace(X)
                yield start, to_numpy(softmax(predict_logits(self.params, X, xp=xp, network=self.network), xp=xp))

    def _check_fits(self, count: int, result_bytes: int) -> None:
        """UsageError when ``count`` images' results (on the host) and a batch (on the device) cannot fit."""
        parts = prediction_bytes(self.network, images=count, batch=self.eval_batch_size,
                                 itemsize=np.dtype(self.checkpoint.dtype).itemsize, result_bytes=result_bytes)
        # Held against the smaller of the host's and the device's free memory (one and the same on a CPU).
        known = [free for free in (host_available_bytes(), self.backend.available_bytes()) if free is not None]
        check_fits(parts, min(known, default=None), f"{self.backend.name} {self.backend.device_name}",
                   task=f"predicting {count:,} images", fix="pass fewer images at a time")


def load_model(checkpoint: str | os.PathLike | Checkpoint, *, with_data: bool = False, backend: str = "auto",
               device: str = "auto", **data) -> Model:
    """Read ``checkpoint`` (a file, a folder of checkpoints, or a :class:`Checkpoint`), move its
    parameters to the device, and with ``with_data`` load the dataset it was trained on (else it
    is loaded when :meth:`Model.split` first asks for it: predicting needs no data).

    ``data`` replaces the checkpoint's own data settings, any of :data:`DATA_SETTINGS`:
    ``dataset`` (a name, a folder or a :class:`Dataset` in memory), ``data_dir`` and
    ``download``. The backend is chosen afresh (``auto``: CuPy on a working GPU, else NumPy),
    not taken from the run. Raises :class:`xpnet.XpnetError` (one line) for a bad checkpoint or
    data of another shape.
    """
    _check_arguments(checkpoint, with_data, data)
    if isinstance(checkpoint, Checkpoint):
        source = "(in memory)"
    else:
        path = Path(checkpoint)  # (a path: checked above)
        path, checkpoint = newest_usable(path, _skipped) if is_folder(path) else (path, load_checkpoint(path))
        source = str(path)
    known = {f.name for f in dataclasses.fields(Config)}
    config = Config().replace(**{k: v for k, v in checkpoint.config.items() if k in known})
    dataset = data.get("dataset")
    in_memory = dataset if isinstance(dataset, Dataset) else None
    overrides = {**data, "dataset": None if in_memory else dataset}
    config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    config = config.found_data_dir(data.get("data_dir"))
    chosen = resolve(backend, device)
    params = [(chosen.asarray(W), chosen.asarray(b)) for W, b in checkpoint.params]
    model = Model(checkpoint, source, config, chosen, params)
    model.dataset_named = data.get("dataset") is not None
    if with_data or in_memory is not None:
        model.dataset = in_memory or _load(checkpoint, source, config, model.dataset_named)
        _check_fits(model)
    return model


def _load(checkpoint: Checkpoint, source: str, config: Config, named: bool) -> Dataset:
    """The dataset ``config`` names; for a run on a dataset given in memory, that dataset when it is a
    known one (``load_dataset("fashion-mnist")``'s), else a DataError unless the caller ``named`` one."""
    held = None if named else checkpoint.data_in_memory
    name = name_to_load(config.dataset, held, source, "load_model(path, dataset=data)")
    return load_dataset(name, config.data_dir, download=config.download)


def _check_arguments(checkpoint, with_data, data: dict) -> None:
    """UsageError naming the keyword of an argument of the wrong type (backend and device: :func:`resolve`);
    TypeError for a keyword :func:`load_model` does not take."""
    unknown = sorted(set(data) - set(DATA_SETTINGS))
    if unknown:
        raise TypeError(f"load_model() got an unexpected keyword argument {unknown[0]!r}; it takes with_data, "
                        f"backend, device and {', '.join(DATA_SETTINGS)}")
    if not isinstance(checkpoint, (str, os.PathLike, Checkpoint)):
        raise UsageError(f"checkpoint must be a path or an xpnet Checkpoint, got {shown(checkpoint)}")
    if not isinstance(checkpoint, Checkpoint):
        a_path("checkpoint", checkpoint)
    a_switch("with_data", with_data)
    if not isinstance(data.get("dataset"), Dataset):
        a_path("dataset (a name, a folder or an xpnet.data.Dataset)", data.get("dataset"), optional=True)
    a_path("data_dir", data.get("data_dir"), optional=True)
    a_switch("download", data.get("download"), optional=True)


def _check_fits(model: Model) -> None:
    dataset, checkpoint = model.dataset, model.checkpoint
    pixels = int(np.prod(dataset.image_shape))
    if pixels != checkpoint.layer_sizes[0] or dataset.num_classes > checkpoint.num_classes:
        raise DataError(
            f"dataset {dataset.name} has {dataset.image_shape[0]}x{dataset.image_shape[1]} images in "
            f"{dataset.num_classes} classes but the checkpoint's model takes {checkpoint.layer_sizes[0]} pixels "
            f"and {checkpoint.num_classes} classes; pass the {option('--dataset')} it was trained on"
        )


def _skipped(line: str) -> None:
    echo(f"warning: {printable(line)}", sys.stderr)
