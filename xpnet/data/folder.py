"""MNIST-format folders: the four IDX files, each stored as NAME or NAME.gz."""

import os
import re
from pathlib import Path

import numpy as np

from xpnet.data.dataset import DataError, Dataset
from xpnet.data.idx import IdxHeader, check_declared_size, read_idx, read_idx_header, write_idx
from xpnet.data.known import KnownDataset
from xpnet.data.limits import MAX_FILE_BYTES, available_memory, human_bytes

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

FILE_LIST = ", ".join(f"{name}[.gz]" for name in MNIST_FILES)


def _unreadable_folder(folder, error: OSError) -> DataError:
    fix = (f"make it readable (e.g. chmod u+rx {folder})" if isinstance(error, PermissionError)
           else "check the folder's name")
    return DataError(f"{folder}: cannot look inside the folder ({error.strerror or error}); {fix} "
                     "or point xpnet at another copy of the data")


def find_mnist_files(folder) -> dict[str, Path]:
    """The present files among the four, by name; the raw file wins over NAME.gz (faster to read).

    Raises DataError when the folder cannot be searched (no permission)."""
    found = {}
    try:
        for name in MNIST_FILES:
            for candidate in (Path(folder) / name, Path(folder) / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
    except OSError as error:
        raise _unreadable_folder(folder, error) from None
    return found


# EMNIST names its files emnist-digits-train-images-idx3-ubyte, emnist-digits-test-images-...:
# a prefix, and "test" where MNIST says "t10k".
_ANY_MNIST_NAME = re.compile(
    r"(?P<prefix>.*?)(?P<split>train|t10k|test)-(?P<kind>images-idx3|labels-idx1)-ubyte(?:\.gz)?")


def find_file_sets(folder) -> dict[str, dict[str, Path]]:
    """The complete sets of four files in folder, by prefix ('' for MNIST's own names, e.g.
    'emnist-digits-'), each by MNIST file name; raw files win over NAME.gz, t10k over test."""
    candidates: dict[str, dict[str, list[Path]]] = {}
    try:
        paths = sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []
        for path in paths:
            match = _ANY_MNIST_NAME.fullmatch(path.name)
            if match and path.is_file():
                split = "t10k" if match["split"] == "test" else match["split"]
                name = f"{split}-{match['kind']}-ubyte"
                candidates.setdefault(match["prefix"], {}).setdefault(name, []).append(path)
    except OSError as error:
        raise _unreadable_folder(folder, error) from None

    def preference(path: Path) -> tuple[bool, bool]:
        return "-test-" in path.name, path.name.endswith(".gz")

    return {prefix: {name: min(files[name], key=preference) for name in MNIST_FILES}
            for prefix, files in candidates.items() if all(name in files for name in MNIST_FILES)}


def _is_images(name: str) -> bool:
    return name in (TRAIN_IMAGES, TEST_IMAGES)


def _check_header(path: Path, name: str, header: IdxHeader, known: KnownDataset | None) -> None:
    """Refuse, from its header alone, a file that cannot be this one of the four."""
    ndim, what = (3, "images") if _is_images(name) else (1, "labels")
    if header.dtype != np.uint8 or len(header.shape) != ndim:
        raise DataError(
            f"{path}: expected {what} (uint8, {ndim}-D) but the file holds {header.dtype.newbyteorder('=')} "
            f"of shape {header.shape}; check that the file names match their contents"
        )
    if ndim == 3 and 0 in header.shape[1:]:
        raise DataError(
            f"{path}: images of {header.shape[1]}x{header.shape[2]} pixels (shape {header.shape}); an "
            f"image needs at least one row and one column, so the file is corrupt: replace it with a valid copy"
        )
    if known is None:
        check_declared_size(path, header, MAX_FILE_BYTES)
        return
    published = known.published_shape(name)
    if published is not None and header.shape != published:
        raise DataError(
            f"{path}: IDX header says shape {header.shape} but {known.name}'s {name} holds {published}; "
            f"the file is not the original: delete it so xpnet fetches a fresh copy, or replace it with the original"
        )
    if ndim == 3 and header.shape[1:] != known.image_shape:
        raise DataError(
            f"{path.parent}: {known.name} images must be {known.image_shape}, got {header.shape[1:]}; "
            f"replace the files with the original {known.name} files"
        )
    # The published size when it is known (a bomb is refused before a byte of its body is read).
    check_declared_size(path, header, MAX_FILE_BYTES if published is None else header.data_bytes)


def _check_headers(files: dict[str, Path], headers: dict[str, IdxHeader], known: KnownDataset | None) -> None:
    for name, path in files.items():
        _check_header(path, name, headers[name], known)
    for split, images, labels in (("train", TRAIN_IMAGES, TRAIN_LABELS), ("test", TEST_IMAGES, TEST_LABELS)):
        if images in headers and labels in headers and headers[images].shape[0] != headers[labels].shape[0]:
            raise DataError(
                f"{files[labels].parent}: {headers[images].shape[0]} {split} images but "
                f"{headers[labels].shape[0]} {split} labels; use the image and label files of the same split"
            )
    # Labels are held twice (uint8 as read, int64 in the Dataset).
    needed = sum(header.data_bytes * (1 if _is_images(name) else 9) for name, header in headers.items())
    available = available_memory()
    if available is not None and needed > available:
        folder = next(iter(files.values())).parent
        raise DataError(
            f"{folder}: the files' headers declare {human_bytes(needed)} of data but only "
            f"{human_bytes(available)} of memory is available; free memory, or use a smaller dataset"
        )


def read_mnist_arrays(files: dict[str, Path], known: KnownDataset | None = None) -> dict[str, np.ndarray]:
    """The four arrays, by file name: images (n, rows, cols) uint8, labels (n,) uint8.

    Every header is checked before any body is read: types and ranks, image and label counts
    that agree, images of at least 1x1 pixels, the memory the arrays will take; for a known
    dataset, the published shape (when its checksums are the published ones) or at least its
    image shape; otherwise a body of at most MAX_FILE_BYTES. Raises DataError naming the file.
    """
    headers = {name: read_idx_header(path) for name, path in files.items()}
    _check_headers(files, headers, known)
    # The declared size is the cap: a file replaced since its header was read cannot claim more.
    return {name: read_idx(path, max_bytes=headers[name].data_bytes) for name, path in files.items()}


def dataset_from_arrays(name: str, arrays: dict[str, np.ndarray], source: str,
                        num_classes: int | None = None, class_names: tuple[str, ...] | None = None) -> Dataset:
    """A Dataset from the four arrays; num_classes=None means the largest label plus one, as long
    as at least half of those classes occur (see implied_classes)."""
    train_labels = arrays[TRAIN_LABELS].astype(np.int64)
    test_labels = arrays[TEST_LABELS].astype(np.int64)
    if num_classes is None:
        num_classes = implied_classes(arrays[TRAIN_LABELS], arrays[TEST_LABELS], source)
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


def implied_classes(train_labels: np.ndarray, test_labels: np.ndarray, source: str) -> int:
    """The number of classes of a dataset whose files do not say it: the largest label plus one.

    Labels are uint8, so one stray label (255 in a 0..9 dataset) would silently make a 256-class
    model. When more of the implied classes would have no example than have one (255 with 0..9:
    245 empty classes against 11), the labels are refused, naming the stray label. Datasets
    numbered from 1 (EMNIST letters: 1..26, so 27 classes) or missing a few classes still load.
    """
    if min(train_labels.min(initial=0), test_labels.min(initial=0)) < 0:
        return int(max(train_labels.max(initial=0), test_labels.max(initial=0))) + 1  # the Dataset refuses
    size = int(max(train_labels.max(initial=0), test_labels.max(initial=0))) + 1
    counts = np.bincount(train_labels, minlength=size) + np.bincount(test_labels, minlength=size)
    present = np.flatnonzero(counts)
    if present.size == 0:
        return 1  # empty splits: the Dataset says so
    largest, distinct = int(present[-1]), int(present.size)
    implied = largest + 1
    if implied - distinct > distinct:
        second = int(present[-2]) if distinct > 1 else None
        splits = " and ".join(split for split, labels in (("train", train_labels), ("test", test_labels))
                              if (labels == largest).any())
        raise DataError(
            f"{source}: the largest label is {largest} ({int(counts[largest])} in {splits}), which would make "
            f"{implied} classes, but only {distinct} distinct labels occur, so {implied - distinct} classes "
            f"would have no example; fix the label(s) {largest}"
            + (f" (the next largest is {second})" if second is not None else "")
            + f", or renumber the classes 0..{distinct - 1}"
        )
    return implied


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
