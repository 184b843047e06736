"""The Dataset value every loader returns, valid by construction, and the data layer's error."""

from dataclasses import dataclass

import numpy as np

from xpnet.errors import XpnetError


class DataError(XpnetError):
    """Data missing, corrupt or inconsistent; the message names the file or dataset and the fix."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Host NumPy arrays of one image-classification dataset.

    train_images: (n_train, rows, cols) uint8; train_labels: (n_train,) int64 in [0, num_classes);
    test_images: (n_test, rows, cols) uint8; test_labels: (n_test,) int64 in [0, num_classes).
    source says where the data came from (a folder path, 'generated (seed 0)').
    class_names: one name per class (Fashion-MNIST's 'T-shirt/top', ...), or None where the
    class number is the name (digits).
    Construction raises DataError when any of this does not hold.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    source: str
    class_names: tuple[str, ...] | None = None

    def __post_init__(self):
        where = f"dataset {self.name} ({self.source})"
        if self.num_classes < 2:
            raise DataError(
                f"{where}: num_classes is {self.num_classes} but classification needs at least 2 "
                f"classes; check the labels"
            )
        for split, images, labels in (
            ("train", self.train_images, self.train_labels),
            ("test", self.test_images, self.test_labels),
        ):
            if images.dtype != np.uint8 or images.ndim != 3:
                raise DataError(
                    f"{where}: {split} images must be uint8 (n, rows, cols), "
                    f"got {images.dtype} of shape {images.shape}; convert them to uint8 3-D"
                )
            if labels.dtype != np.int64 or labels.ndim != 1:
                raise DataError(
                    f"{where}: {split} labels must be int64 (n,), got {labels.dtype} of "
                    f"shape {labels.shape}; convert them to a 1-D int64 array"
                )
            if images.shape[0] != labels.shape[0]:
                raise DataError(
                    f"{where}: {images.shape[0]} {split} images but {labels.shape[0]} "
                    f"{split} labels; use the image and label files of the same split"
                )
            if 0 in images.shape[1:]:
                raise DataError(
                    f"{where}: {split} images are {images.shape[1]}x{images.shape[2]} pixels; an image "
                    f"needs at least one row and one column, check the image files"
                )
            if images.shape[0] == 0:
                raise DataError(f"{where}: the {split} split is empty; provide at least one example")
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= self.num_classes:
                raise DataError(
                    f"{where}: {split} labels span {low}..{high} but classes are "
                    f"0..{self.num_classes - 1}; fix the labels or the number of classes"
                )
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise DataError(
                f"{where}: {len(self.class_names)} class names for {self.num_classes} classes; "
                f"give one name per class"
            )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(
                f"{where}: train images are {self.train_images.shape[1:]} but test images are "
                f"{self.test_images.shape[1:]}; use train and test files of the same dataset"
            )

    @property
    def image_shape(self) -> tuple[int, int]:
        """(rows, cols) of every image."""
        return self.train_images.shape[1:]

    def class_name(self, k: int) -> str:
        """How reports name class k: its name where the dataset has names, else the number."""
        return str(k) if self.class_names is None else self.class_names[k]

    def __repr__(self):
        return (
            f"Dataset(name={self.name!r}, train={self.train_images.shape[0]}, "
            f"test={self.test_images.shape[0]}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes}, source={self.source!r})"
        )
