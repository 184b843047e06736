"""The generated dataset: shapes, determinism, names, and that it is learnable but not trivial."""

import numpy as np
import pytest

from datafiles import assert_one_line
from xpnet.data import DataError, load_dataset, make_synthetic


def test_shapes_dtypes_and_balanced_classes():
    dataset = make_synthetic(120, 30, num_classes=6, seed=1)
    assert dataset.train_images.shape == (120, 28, 28) and dataset.train_images.dtype == np.uint8
    assert dataset.test_images.shape == (30, 28, 28)
    assert dataset.train_labels.dtype == np.int64 and dataset.num_classes == 6
    assert np.bincount(dataset.train_labels).tolist() == [20] * 6
    assert dataset.source == "generated (seed 1)" and dataset.name == "synthetic"


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = make_synthetic(50, 10, seed=7), make_synthetic(50, 10, seed=7), make_synthetic(50, 10, seed=8)
    np.testing.assert_array_equal(first.train_images, again.train_images)
    np.testing.assert_array_equal(first.test_labels, again.test_labels)
    assert not np.array_equal(first.train_images, other.train_images)


def test_test_split_does_not_depend_on_the_training_size():
    np.testing.assert_array_equal(make_synthetic(10, 40).test_images, make_synthetic(500, 40).test_images)


def test_images_use_the_pixel_range_like_mnist():
    images = make_synthetic(500, 10).train_images
    assert 0.2 < np.mean(images == 0) < 0.7, "mostly dark background"
    assert images.max() == 255


def test_learnable_but_not_trivial():
    dataset = make_synthetic(2000, 500, seed=0)
    X = dataset.train_images.reshape(2000, -1) / 255.0
    X_test = dataset.test_images.reshape(500, -1) / 255.0
    centroids = np.stack([X[dataset.train_labels == c].mean(axis=0) for c in range(10)])
    distances = ((X_test[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    accuracy = np.mean(distances.argmin(axis=1) == dataset.test_labels)
    # Nearest class mean is far above chance (0.1) yet far from perfect: the classes overlap.
    assert 0.4 < accuracy < 0.9, accuracy


def test_names():
    assert load_dataset("synthetic:60").train_images.shape == (60, 28, 28)
    assert load_dataset("synthetic:60").test_images.shape == (10, 28, 28)
    assert load_dataset("synthetic:3").test_images.shape == (1, 28, 28)
    default = load_dataset("synthetic")
    assert (default.train_images.shape[0], default.test_images.shape[0]) == (12000, 2000)


@pytest.mark.parametrize("name", ["synthetic:0", "synthetic:-5", "synthetic:ten", "synthetic:", "synthetic:1.5"])
def test_bad_synthetic_names(name):
    with pytest.raises(DataError) as error:
        load_dataset(name)
    assert_one_line(error, repr(name), "positive integer", "synthetic:6000")


def test_bad_synthetic_arguments():
    with pytest.raises(DataError) as error:
        make_synthetic(0, 10)
    assert_one_line(error, "n_train=0")
