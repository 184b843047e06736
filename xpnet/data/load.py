"""load_dataset: from a name to a verified Dataset, looking in the usual places before downloading."""

import difflib
import os
from pathlib import Path

from xpnet.arguments import flags_are_named, option, passing
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


class NoSuchDataDir(UsageError, DataError):
    """--data-dir names no folder: a usage error (exit status 2), and still a DataError."""


def data_root(data_dir=None) -> tuple[Path, str] | None:
    """The root given by data_dir, else by $XPNET_DATA_DIR (the flag wins), with its origin
    ('--data-dir' or 'XPNET_DATA_DIR'); None when neither is set.

    Raises NoSuchDataDir (or DataError, for the variable) when that folder does not exist."""
    if data_dir is not None:
        root = Path(data_dir)
        if root.exists() and not root.is_dir():
            raise NoSuchDataDir(f"{option('--data-dir')} {root} is a file, not a folder; pass the folder holding "
                                f"the dataset's files ({root.parent}) or its parent")
        if not root.is_dir():
            raise NoSuchDataDir(f"{option('--data-dir')} {root}: no such folder; check the path (ROOT holds "
                                f"<dataset>/ or the four files), or leave {option('--data-dir')} out to use "
                                "$XPNET_DATA_DIR or the cache")
        return root, "--data-dir"
    variable = os.environ.get("XPNET_DATA_DIR") or None
    if variable is None:
        return None
    if not Path(variable).is_dir():
        raise DataError(f"XPNET_DATA_DIR={variable}: no such folder; fix the variable or unset it, "
                        f"or pass {passing('--data-dir', 'ROOT')}")
    return Path(variable), "XPNET_DATA_DIR"


def search_folders(known: KnownDataset, data_dir=None) -> list[tuple[Path, str | None]]:
    """Where a known dataset is looked for, in order, each with the origin of its root (None for
    the cache and the system's folders): ROOT/<name>/ then ROOT itself, ROOT being data_dir or else
    $XPNET_DATA_DIR (see data_root), then the cache, then the system's folders."""
    folders: list[tuple[Path, str | None]] = []
    root = data_root(data_dir)
    if root is not None:
        # A user often points at the folder that holds the four files itself.
        folders += [(root[0] / known.name, root[1]), (root[0], root[1])]
    folders.append((cache_root() / known.name, None))
    folders += [(Path(folder), None) for folder in known.system_dirs]
    unique: dict[Path, str | None] = {}
    for folder, origin in folders:
        unique.setdefault(folder, origin)  # a folder listed twice keeps its first origin
    return list(unique.items())


def _other_dataset(known: KnownDataset, checksums: dict[str, str]) -> str | None:
    """The name of the known dataset other than known whose four files have these checksums."""
    for other in DATASETS.values():
        if other.name != known.name and other.sha256 == checksums:
            return other.name
    return None


def _owner_of(checksum: str, name: str) -> str | None:
    """The known dataset whose file name has this checksum, or None."""
    return next((known.name for known in DATASETS.values() if known.sha256[name] == checksum), None)


class DataNotFound(DataError):
    """No copy of a known dataset was found, and none could be fetched: the message says where
    xpnet looked or why the download failed, and how to give it the files."""


def data_not_held(source, name: str, python_call: str) -> DataNotFound:
    """The error for a checkpoint (``source``) of a run on arrays given in memory, ``name``d, whose
    data it does not hold: how to give them again, in Python (``python_call``) or as a folder."""
    if flags_are_named():
        again = (f"pass {option('--dataset')} FOLDER holding them as the four MNIST-format files "
                 "(train-images-idx3-ubyte...)")
    else:
        again = f"give them again: {python_call}"
    return DataNotFound(f"{source} was trained on a dataset given in memory ({name}), which a checkpoint does not "
                        f"hold; {again}")


def name_to_load(name: str, held: str | None, source, python_call: str) -> str:
    """The dataset to load for a checkpoint (``source``) whose settings name ``name``: when its run
    was given a dataset in memory (``held``, its name), that one if it is a known dataset (as
    ``load_dataset("fashion-mnist")`` gives it), else :func:`data_not_held`'s error."""
    if held is None:
        return name
    if held not in DATASETS:
        raise data_not_held(source, held, python_call)
    return held


class OtherDataset(DataError):
    """A folder holds the four files of another known dataset (not corrupt: looked past)."""

    def __init__(self, folder: Path, name: str):
        super().__init__(f"{folder} holds {name}")
        self.folder, self.name = folder, name


def _read_verified(known: KnownDataset, folder: Path, files: dict[str, Path], origin: str | None) -> Dataset:
    """The dataset in folder, its four files checked against known's checksums; OtherDataset when
    they are all another known dataset's. origin ('--data-dir', ...) is named in the source."""
    arrays = read_mnist_arrays(files, known)
    # Hashing the array's IDX encoding equals hashing the file's content, without a second read.
    checksums = {name: idx_sha256(arrays[name]) for name in MNIST_FILES}
    other = _other_dataset(known, checksums)
    if other is not None:
        raise OtherDataset(folder, other)
    for name in MNIST_FILES:
        got, expected = checksums[name], known.sha256[name]
        owner = _owner_of(got, name)
        if got != expected and owner is not None:
            raise DataError(f"{files[name]}: this is {owner}'s {name}, not {known.name}'s; keep each dataset's "
                            f"four files in a folder of its own (ROOT/{owner}/, ROOT/{known.name}/)")
        if got != expected:
            raise DataError(
                f"{files[name]}: checksum mismatch for {known.name} (expected SHA-256 "
                f"{expected[:12]}..., got {got[:12]}...); delete the file so xpnet fetches a "
                f"fresh copy, or replace it with the original"
            )
    source = os.path.abspath(folder) + (f" (from {origin})" if origin else "")
    dataset = dataset_from_arrays(known.name, arrays, source=source,
                                  num_classes=known.num_classes, class_names=known.class_names)
    if dataset.image_shape != known.image_shape:
        raise DataError(
            f"{folder}: {known.name} images must be {known.image_shape}, got {dataset.image_shape}; "
            f"replace the files with the original {known.name} files"
        )
    return dataset


def _describe_folder(known: KnownDataset, folder: Path, others: dict[Path, str]) -> str:
    if folder in others:
        return f"{folder} (holds {others[folder]}, not {known.name})"
    present = len(find_mnist_files(folder))
    return f"{folder} (only {present} of the 4 files)" if present else str(folder)


def _fix(known: KnownDataset, others: dict[Path, str], root: tuple[Path, str] | None) -> str:
    """How to give xpnet a copy; when a folder held another dataset, how to keep both apart; when
    a ROOT was given (``root``: the folder and its origin), where in it the files go."""
    if others:
        folder, other = next(iter(others.items()))
        return (f"{folder} holds {other}, which is not corrupt: put {known.name}'s four files in "
                f"ROOT/{known.name}/ and pass {passing('--data-dir', 'ROOT')}, the folder holding {other}/ and "
                f"{known.name}/")
    if root is not None:
        given = f"XPNET_DATA_DIR={root[0]}" if root[1] == "XPNET_DATA_DIR" else passing("--data-dir", str(root[0]))
        return f"put {known.name}'s four files ({FILE_LIST}) in {root[0] / known.name}/ (ROOT/{known.name}/ of {given})"
    return (f"put the four files ({FILE_LIST}) in ROOT or ROOT/{known.name}/ and pass "
            f"{passing('--data-dir', 'ROOT')}, or set XPNET_DATA_DIR=ROOT")


def _find_local(known: KnownDataset, folders: list[tuple[Path, str | None]],
                others: dict[Path, str]) -> Dataset | None:
    """The first verified copy among folders (search_folders' (folder, origin) pairs, in order), or
    None; a folder holding another known dataset is looked past and noted in others."""
    for folder, origin in folders:
        files = find_mnist_files(folder)
        if len(files) == len(MNIST_FILES):
            try:
                return _read_verified(known, folder, files, origin)
            except OtherDataset as error:
                others[error.folder] = error.name
    return None


def _load_known(known: KnownDataset, data_dir, download: bool, mirrors) -> Dataset:
    others: dict[Path, str] = {}
    folders = search_folders(known, data_dir)
    found = _find_local(known, folders, others)
    if found is not None:
        return found
    looked = ", ".join(_describe_folder(known, folder, others) for folder, _ in folders)
    root = data_root(data_dir)
    fix = _fix(known, others, root)
    if not download:
        raise DataNotFound(f"{known.name} not found (looked in {looked}) and downloading is off "
                           f"({passing('--no-download')}); {fix}, or drop {passing('--no-download')} to fetch them")
    cache = cache_root() / known.name
    try:
        download_dataset(known, cache, mirrors)
    except Offline as error:
        if others or root is not None:  # a ROOT given: not "pass --data-dir ROOT", but where in it
            raise DataNotFound(f"{known.name}: no local copy (looked in {looked}) and no network ({error}); "
                               f"{fix}") from None
        raise DataNotFound(f"{known.name}: no local copy and no network ({error}); pass "
                           f"{passing('--data-dir', 'ROOT')} (the folder holding its four files), or set "
                           "XPNET_DATA_DIR=ROOT") from None
    except DownloadFailed as error:
        raise DataNotFound(f"{known.name} not found (looked in {looked}) and the download failed "
                           f"({error}); {fix}, or connect to the internet") from None
    return _read_verified(known, cache, find_mnist_files(cache), None)


def load_dataset(name: str, data_dir=None, *, download: bool = True, mirrors=None) -> Dataset:
    """The dataset called name, as host NumPy arrays (see Dataset for shapes and dtypes).

    name is one of:

    - a known dataset (DATASETS: 'mnist', 'fashion-mnist'), looked for in data_dir/<name>/ and
      data_dir (or, without data_dir, the same in $XPNET_DATA_DIR; a folder that does not exist
      is an error), the cache ($XDG_CACHE_HOME/xpnet/<name>/), the system's copy, and otherwise
      downloaded into the cache (unless download=False) from mirrors (default: the dataset's own
      list); its files must match the published checksums, and a folder holding another known
      dataset's files is looked past (and named if nothing is found). The source names the
      folder, and '(from --data-dir)' or '(from XPNET_DATA_DIR)' when it came from either;
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
