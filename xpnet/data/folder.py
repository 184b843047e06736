"""MNIST-format folders: the four IDX files, each stored as NAME or NAME.gz."""

import os
import re
from pathlib import Path

import numpy as np

from xpnet.data.dataset import DataError, Dataset
from xpnet.data.idx import read_idx, write_idx

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

FILE_LIST = ", ".join(f"{name}[.gz]" for name in MNIST_FILES)


def find_mnist_files(folder) -> dict[str, Path]:
    """The present files among the four, by name; the raw file wins over NAME.gz (faster to read)."""
    found = {}
    for name in MNIST_FILES:
        for candidate in (Path(folder) / name, Path(folder) / f"{name}.gz"):
            if candidate.is_file():
                found[name] = candidate
                break
    return found


# EMNIST names its files emnist-digits-train-images-idx3-ubyte, emnist-digits-test-images-...:
# a prefix, and "test" where MNIST says "t10k".
_ANY_MNIST_NAME = re.compile(
    r"(?P<prefix>.*?)(?P<split>train|t10k|test)-(?P<kind>images-idx3|labels-idx1)-ubyte(?:\.gz)?")


def find_file_sets(folder) -> dict[str, dict[str, Path]]:
    """The complete sets of four files in folder, by prefix ('' for MNIST's own names, e.g.
    'emnist-digits-'), each by MNIST file name; raw files win over NAME.gz, t10k over test."""
    candidates: dict[str, dict[str, list[Path]]] = {}
    for path in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else ():
        match = _ANY_MNIST_NAME.fullmatch(path.name)
        if match and path.is_file():
            split = "t10k" if match["split"] == "test" else match["split"]
            name = f"{split}-{match['kind']}-ubyte"
            candidates.setdefault(match["prefix"], {}).setdefault(name, []).append(path)

    def preference(path: Path) -> tuple[bool, bool]:
        return "-test-" in path.name, path.name.endswith(".gz")

    return {prefix: {name: min(files[name], key=preference) for name in MNIST_FILES}
            for prefix, files in candidates.items() if all(name in files for name in MNIST_FILES)}


def _read_uint8(path: Path, ndim: int, what: str) -> np.ndarray:
    array = read_idx(path)
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise DataError(
            f"{path}: expected {what} (uint8, {ndim}-D) but the file holds {array.dtype} of "
            f"shape {array.shape}; check that the file names match their contents"
        )
    return array


def read_mnist_arrays(files: dict[str, Path]) -> dict[str, np.ndarray]:
    """The four arrays, by file name: images (n, rows, cols) uint8, labels (n,) uint8."""
    return {
        name: _read_uint8(path, 3, "images") if name in (TRAIN_IMAGES, TEST_IMAGES)
        else _read_uint8(path, 1, "labels")
        for name, path in files.items()
    }


def dataset_from_arrays(name: str, arrays: dict[str, np.ndarray], source: str,
                        num_classes: int | None = None, class_names: tuple[str, ...] | None = None) -> Dataset:
    """A Dataset from the four arrays; num_classes=None means the largest label plus one."""
    train_labels = arrays[TRAIN_LABELS].astype(np.int64)
    test_labels = arrays[TEST_LABELS].astype(np.int64)
    if num_classes is None:
        num_classes = int(max(train_labels.max(initial=0), test_labels.max(initial=0))) + 1
    return Dataset(
        name=name,
        train_images=arrays[TRAIN_IMAGES],
        train_labels=train_labels,
        test_images=arrays[TEST_IMAGES],
        test_labels=test_labels,
        num_classes=num_classes,
        source=source,
        class_names=class_names,
    )


def read_mnist_folder(folder, name: str | None = None) -> Dataset:
    """Any MNIST-format folder (MNIST, Fashion-MNIST, KMNIST, EMNIST ...), checked for structure only.

    name defaults to the folder's name. Raises DataError when a file is missing or malformed.
    """
    files = find_mnist_files(folder)
    if len(files) < len(MNIST_FILES):
        files = _one_prefixed_set(folder) or files
    missing = [f"{name}[.gz]" for name in MNIST_FILES if name not in files]
    if missing:
        raise DataError(
            f"{folder}: missing {', '.join(missing)}; an MNIST-format folder holds the four "
            f"files {FILE_LIST} (or the same with one common prefix, e.g. emnist-digits-)"
        )
    arrays = read_mnist_arrays(files)
    source = os.path.abspath(folder)
    return dataset_from_arrays(name or os.path.basename(source), arrays, source=source)


def _one_prefixed_set(folder) -> dict[str, Path] | None:
    sets = {prefix: files for prefix, files in find_file_sets(folder).items() if prefix}
    if len(sets) > 1:
        names = ", ".join(f"{prefix}*" for prefix in sets)
        first = next(iter(sets))
        raise DataError(
            f"{folder}: holds {len(sets)} sets of MNIST-format files ({names}); move the four files "
            f"of the one you want (e.g. {first}*) into a folder of their own and pass that folder"
        )
    return next(iter(sets.values()), None)


def write_mnist_folder(folder, dataset: Dataset, compress: bool = True) -> None:
    """Write the dataset as the four IDX files (NAME.gz when compress, else NAME) into folder.

    Labels are stored as uint8, so every class must be below 256.
    """
    if dataset.num_classes > 256:
        raise DataError(
            f"dataset {dataset.name} has {dataset.num_classes} classes but IDX labels are uint8; "
            f"keep the classes below 256 to write MNIST-format files"
        )
    folder = Path(folder)
    os.makedirs(folder, exist_ok=True)
    suffix, other_suffix = (".gz", "") if compress else ("", ".gz")
    arrays = {
        TRAIN_IMAGES: dataset.train_images,
        TRAIN_LABELS: dataset.train_labels.astype(np.uint8),
        TEST_IMAGES: dataset.test_images,
        TEST_LABELS: dataset.test_labels.astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / f"{name}{suffix}", array, compress=compress)
        # A stale copy in the other form would be read instead of (or confused with) this one.
        (folder / f"{name}{other_suffix}").unlink(missing_ok=True)
