"""Dataset validation and MNIST-format folders given by path (KMNIST-style), checked structurally."""

import numpy as np
import pytest

from datafiles import assert_one_line, tiny_dataset_arrays
from xpnet.data import DataError, Dataset, load_dataset, read_mnist_folder, write_idx, write_mnist_folder


def _dataset_with(**changes) -> Dataset:
    fields = dict(vars(tiny_dataset_arrays()))
    fields.update(changes)
    return Dataset(**fields)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_folder_round_trip(tmp_path, compress):
    dataset = tiny_dataset_arrays()
    write_mnist_folder(tmp_path / "kmnist", dataset, compress=compress)
    suffix = ".gz" if compress else ""
    assert sorted(p.name for p in (tmp_path / "kmnist").iterdir()) == sorted(
        f"{name}{suffix}" for name in
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    )
    back = read_mnist_folder(tmp_path / "kmnist")
    assert back.name == "kmnist" and back.source == str(tmp_path / "kmnist")  # tmp_path is absolute
    assert back.num_classes == 10 and back.image_shape == (28, 28)
    assert back.train_labels.dtype == np.int64
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(back, field), getattr(dataset, field))


def test_rewriting_a_folder_in_the_other_form_leaves_no_stale_copy(tmp_path):
    write_mnist_folder(tmp_path, tiny_dataset_arrays(seed=1), compress=False)
    fresh = tiny_dataset_arrays(seed=2)
    write_mnist_folder(tmp_path, fresh, compress=True)
    assert all(p.name.endswith(".gz") for p in tmp_path.iterdir())
    np.testing.assert_array_equal(read_mnist_folder(tmp_path).train_images, fresh.train_images)


def test_load_dataset_reads_any_existing_folder_path(sandbox, monkeypatch):
    write_mnist_folder(sandbox / "kmnist", tiny_dataset_arrays(), compress=True)
    monkeypatch.chdir(sandbox)
    dataset = load_dataset("./kmnist")
    assert dataset.name == "kmnist" and dataset.source == str(sandbox / "kmnist")
    assert dataset.train_images.shape == (20, 28, 28)


def test_number_of_classes_is_the_largest_label_plus_one(tmp_path):
    dataset = _dataset_with(train_labels=np.arange(20, dtype=np.int64) % 4,
                            test_labels=np.array([0, 1, 2, 3, 4, 5, 0, 1, 2, 3]), num_classes=6)
    write_mnist_folder(tmp_path, dataset)
    assert read_mnist_folder(tmp_path).num_classes == 6


def test_folder_missing_a_file(tmp_path):
    write_mnist_folder(tmp_path, tiny_dataset_arrays())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as error:
        read_mnist_folder(tmp_path)
    assert_one_line(error, str(tmp_path), "missing t10k-labels-idx1-ubyte[.gz]")


def test_image_and_label_counts_must_agree(tmp_path):
    write_mnist_folder(tmp_path, tiny_dataset_arrays())
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8), compress=True)
    with pytest.raises(DataError) as error:
        read_mnist_folder(tmp_path)
    assert_one_line(error, "20 train images but 19 train labels")


def test_files_swapped_between_images_and_labels(tmp_path):
    write_mnist_folder(tmp_path, tiny_dataset_arrays())
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros(10, dtype=np.uint8), compress=True)
    with pytest.raises(DataError) as error:
        read_mnist_folder(tmp_path)
    assert_one_line(error, "t10k-images-idx3-ubyte.gz", "expected images (uint8, 3-D)")


def test_a_single_class_is_not_a_classification_problem(tmp_path):
    dataset = tiny_dataset_arrays()
    write_mnist_folder(tmp_path, dataset)
    for name, n in (("train-labels-idx1-ubyte.gz", 20), ("t10k-labels-idx1-ubyte.gz", 10)):
        write_idx(tmp_path / name, np.zeros(n, dtype=np.uint8), compress=True)
    with pytest.raises(DataError) as error:
        read_mnist_folder(tmp_path)
    assert_one_line(error, "at least 2")


@pytest.mark.parametrize("bad_label", [10, -1], ids=["too-large", "negative"])
def test_labels_must_lie_within_the_classes(bad_label):
    labels = np.arange(10, dtype=np.int64) % 10
    labels[3] = bad_label
    with pytest.raises(DataError) as error:
        _dataset_with(test_labels=labels)
    assert_one_line(error, "test labels span", "classes are 0..9")


def test_train_and_test_image_sizes_must_agree():
    with pytest.raises(DataError) as error:
        _dataset_with(test_images=np.zeros((10, 14, 14), dtype=np.uint8))
    assert_one_line(error, "(28, 28)", "(14, 14)")


@pytest.mark.parametrize("field, value, fragment", [
    ("train_images", np.zeros((20, 28, 28), dtype=np.float32), "uint8 (n, rows, cols)"),
    ("train_images", np.zeros((20, 784), dtype=np.uint8), "uint8 (n, rows, cols)"),
    ("train_labels", np.zeros(20, dtype=np.uint8), "int64 (n,)"),
])
def test_dataset_rejects_wrong_types_and_shapes(field, value, fragment):
    with pytest.raises(DataError) as error:
        _dataset_with(**{field: value})
    assert_one_line(error, fragment)


def test_dataset_rejects_an_empty_split():
    with pytest.raises(DataError) as error:
        _dataset_with(test_images=np.zeros((0, 28, 28), dtype=np.uint8), test_labels=np.zeros(0, dtype=np.int64))
    assert_one_line(error, "test split is empty")


def test_unknown_name_that_is_no_folder(sandbox):
    with pytest.raises(DataError) as error:
        load_dataset("nmist")
    assert_one_line(error, "unknown dataset 'nmist'", "mnist, fashion-mnist", "synthetic:N")
