"""load_dataset: from a name to a verified Dataset, looking in the usual places before downloading."""

import difflib
import os
from pathlib import Path

from xpnet.arguments import passing
from xpnet.data.dataset import DataError, Dataset
from xpnet.data.download import DownloadFailed, Offline, download_dataset
from xpnet.data.folder import (FILE_LIST, MNIST_FILES, dataset_from_arrays, find_mnist_files,
                               read_mnist_arrays, read_mnist_folder)
from xpnet.data.idx import idx_sha256
from xpnet.data.known import DATASETS, KnownDataset
from xpnet.data.synthetic import synthetic_from_name
from xpnet.errors import UsageError


class UnknownDataset(UsageError, DataError):
    """--dataset names neither a known dataset nor synthetic nor an existing folder: a usage
    error (exit status 2), and still a DataError for callers that catch the data layer's errors."""


def cache_root() -> Path:
    """$XDG_CACHE_HOME/xpnet, or ~/.cache/xpnet when that variable is unset (or not absolute)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "xpnet"


def search_folders(known: KnownDataset, data_dir=None) -> list[Path]:
    """Where a known dataset is looked for, in order: data_dir/<name>/ then data_dir itself, the
    same for $XPNET_DATA_DIR, then the cache, then the system's folders."""
    folders = []
    for root in (data_dir, os.environ.get("XPNET_DATA_DIR") or None):
        if root is not None:
            # A user often points at the folder that holds the four files itself.
            folders += [Path(root) / known.name, Path(root)]
    folders.append(cache_root() / known.name)
    folders += [Path(folder) for folder in known.system_dirs]
    return list(dict.fromkeys(folders))


def _read_verified(known: KnownDataset, folder: Path, files: dict[str, Path]) -> Dataset:
    arrays = read_mnist_arrays(files, known)
    for name in MNIST_FILES:
        # Hashing the array's IDX encoding equals hashing the file's content, without a second read.
        got, expected = idx_sha256(arrays[name]), known.sha256[name]
        if got != expected:
            raise DataError(
                f"{files[name]}: checksum mismatch for {known.name} (expected SHA-256 "
                f"{expected[:12]}..., got {got[:12]}...); delete the file so xpnet fetches a "
                f"fresh copy, or replace it with the original"
            )
    dataset = dataset_from_arrays(known.name, arrays, source=os.path.abspath(folder),
                                  num_classes=known.num_classes, class_names=known.class_names)
    if dataset.image_shape != known.image_shape:
        raise DataError(
            f"{folder}: {known.name} images must be {known.image_shape}, got {dataset.image_shape}; "
            f"replace the files with the original {known.name} files"
        )
    return dataset


def _describe_folder(folder: Path) -> str:
    present = len(find_mnist_files(folder))
    return f"{folder} (only {present} of the 4 files)" if present else str(folder)


def _load_known(known: KnownDataset, data_dir, download: bool, mirrors) -> Dataset:
    folders = search_folders(known, data_dir)
    for folder in folders:
        files = find_mnist_files(folder)
        if len(files) == len(MNIST_FILES):
            return _read_verified(known, folder, files)
    looked = ", ".join(_describe_folder(folder) for folder in folders)
    fix = (
        f"put the four files ({FILE_LIST}) in ROOT or ROOT/{known.name}/ and pass {passing('--data-dir', 'ROOT')}, "
        f"or set XPNET_DATA_DIR=ROOT"
    )
    if not download:
        raise DataError(f"{known.name} not found (looked in {looked}) and downloading is off "
                        f"({passing('--no-download')}); {fix}, or drop {passing('--no-download')} to fetch them")
    cache = cache_root() / known.name
    try:
        download_dataset(known, cache, mirrors)
    except Offline as error:
        raise DataError(f"{known.name}: no local copy and no network ({error}); pass {passing('--data-dir', 'ROOT')} "
                        f"(the folder holding its four files), or try xpnet with {passing('--dataset', 'synthetic')}"
                        ) from None
    except DownloadFailed as error:
        raise DataError(f"{known.name} not found (looked in {looked}) and the download failed "
                        f"({error}); {fix}, or connect to the internet") from None
    return _read_verified(known, cache, find_mnist_files(cache))


def load_dataset(name: str, data_dir=None, *, download: bool = True, mirrors=None) -> Dataset:
    """The dataset called name, as host NumPy arrays (see Dataset for shapes and dtypes).

    name is one of:

    - a known dataset (DATASETS: 'mnist', 'fashion-mnist'), looked for in data_dir/<name>/,
      $XPNET_DATA_DIR/<name>/, the cache ($XDG_CACHE_HOME/xpnet/<name>/), the system's copy,
      and otherwise downloaded into the cache (unless download=False) from mirrors (default:
      the dataset's own list); its files must match the published checksums;
    - 'synthetic' or 'synthetic:N', generated (see make_synthetic);
    - any other existing folder holding the four MNIST-format files (e.g. KMNIST), read as is.

    Raises DataError, with the problem and the fix in one line, when that fails; a name that is
    none of these is an UnknownDataset (a UsageError too), suggesting the closest known name.
    """
    if name == "synthetic" or name.startswith("synthetic:"):
        return synthetic_from_name(name)
    if name in DATASETS:
        return _load_known(DATASETS[name], data_dir, download, mirrors)
    if os.path.isdir(name):
        return read_mnist_folder(name)
    choices = f"{', '.join(DATASETS)}, synthetic, synthetic:N, or the path of a folder holding {FILE_LIST}"
    if os.sep in name or (os.altsep and os.altsep in name):
        raise UnknownDataset(f"dataset {name!r}: no such folder; check the path, or use one of {choices}")
    raise UnknownDataset(f"unknown dataset {name!r} (and no such folder); {_suggestion(name)}use one of {choices}")


def _suggestion(name: str) -> str:
    """'did you mean mnist? ' for a near miss of a known name, else ''."""
    close = difflib.get_close_matches(name.lower(), [*DATASETS, "synthetic"], n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""
