"""The data of a run on the device, moved there once: ``DeviceSplit`` and how splits are made."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arguments import option, passing
from ..backend import Backend
from ..errors import UsageError
from ..nn.ops import one_hot


@dataclass
class DeviceSplit:
    """Images ``X`` (n, d) of the run's dtype, labels ``y`` (n,) int64 and, for training,
    their one-hot ``Y`` (n, k) of the run's dtype, all on the device."""

    X: object
    y: object
    Y: object = None

    def with_one_hot(self, num_classes: int) -> "DeviceSplit":
        """This split with ``Y`` filled in, made once so that batches gather rows of it."""
        return DeviceSplit(self.X, self.y, one_hot(self.y, num_classes, self.X.dtype))

    @property
    def size(self) -> int:
        return self.X.shape[0]


def images_to_device(images: np.ndarray, backend: Backend, dtype: str, normalize: bool):
    """uint8 images (n, rows, cols) -> (n, rows*cols) ``dtype`` on the device, scaled to [0, 1] if ``normalize``.

    The uint8 pixels travel (a quarter of the float32 bytes) and are converted on the device.
    """
    xp = backend.xp
    flat = backend.asarray(np.ascontiguousarray(images.reshape(images.shape[0], -1)))
    X = xp.astype(flat, backend.dtype(dtype))
    if normalize:
        # In place: ``X / 255.0`` would leave a second float copy of the data in CuPy's memory pool.
        X /= 255.0
    return X


def labels_to_device(labels: np.ndarray, backend: Backend):
    """Integer labels (n,) -> int64 (n,) on the device."""
    return backend.asarray(np.asarray(labels, dtype=np.int64))


def device_splits(dataset, config, backend: Backend, rng: np.random.Generator):
    """Train (with its one-hot labels), dev (or None) and test splits of ``dataset`` on the device;
    the dev split is drawn first from ``rng``, as seed 004 does."""
    images, labels = dataset.train_images, dataset.train_labels
    dev = None
    if config.dev_size:
        if config.dev_size >= images.shape[0]:
            raise UsageError(f"{passing('--dev-size', str(config.dev_size))} leaves no training data "
                             f"(the training set has {images.shape[0]:,} examples); use a {option('--dev-size')} "
                             f"below {images.shape[0]:,}")
        shuffled = rng.permutation(images.shape[0])
        dev_rows, train_rows = shuffled[:config.dev_size], shuffled[config.dev_size:]
        dev = _split(images[dev_rows], labels[dev_rows], backend, config)
        images, labels = images[train_rows], labels[train_rows]
    train = _split(images, labels, backend, config).with_one_hot(dataset.num_classes)
    return train, dev, _split(dataset.test_images, dataset.test_labels, backend, config)


def _split(images, labels, backend: Backend, config) -> DeviceSplit:
    return DeviceSplit(images_to_device(images, backend, config.dtype, config.normalize),
                       labels_to_device(labels, backend))
