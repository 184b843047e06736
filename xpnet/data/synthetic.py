"""A generated MNIST-like dataset for smoke runs, tests and benchmarks, no files needed.

Each class has a few smooth random 28x28 prototypes ("ways to write it"); an example is one of
its class's prototypes blended with another class's, shifted by a few pixels, with brightness
jitter and pixel noise. With 12000 training images softmax regression reaches about 86-91%
test accuracy and an MLP with 128 hidden units about 93-96% (98-99% with 60000 images).
"""

import numpy as np

from xpnet.arguments import MAX_COUNT, shown, whole_number
from xpnet.data.dataset import DataError, Dataset
from xpnet.data.limits import available_memory, human_bytes
from xpnet.errors import UsageError

SIDE = 28
VARIANTS = 3
MAX_SHIFT = 3
MAX_BLEND = 0.15
NOISE = 0.2
DEFAULT_TRAIN, DEFAULT_TEST = 12000, 2000
_CHUNK = 4096
# Peak memory of generation per example: the uint8 image and about 30 int64/float32 values of
# bookkeeping (labels, choices, blends) alive at once; measured ~960 bytes.
BYTES_PER_EXAMPLE = SIDE * SIDE + 240


def _prototypes(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, SIDE + 2*MAX_SHIFT, SIDE + 2*MAX_SHIFT) float32 in [0, 1], padded for the shifts."""
    side = SIDE + 2 * MAX_SHIFT
    coarse = rng.standard_normal((count, 8, 8))
    # Linear upsampling of a coarse random grid gives smooth, stroke-sized blobs.
    grid = np.linspace(0, 7, side)
    low = np.minimum(np.floor(grid).astype(int), 6)
    frac = grid - low
    rows = coarse[:, low, :] * (1 - frac)[None, :, None] + coarse[:, low + 1, :] * frac[None, :, None]
    smooth = rows[:, :, low] * (1 - frac) + rows[:, :, low + 1] * frac
    # Keep the brightest part of each prototype, like ink on a dark background.
    ink = np.clip(smooth - 0.3, 0, None)
    ink /= ink.max(axis=(1, 2), keepdims=True)
    return ink.astype(np.float32)


def _shifted_crops(prototypes: np.ndarray) -> np.ndarray:
    """(count * shifts**2, SIDE, SIDE) float32: every prototype at every shift, prototype-major."""
    crops = np.lib.stride_tricks.sliding_window_view(prototypes, (SIDE, SIDE), axis=(1, 2))
    return np.ascontiguousarray(crops).reshape(-1, SIDE, SIDE)


def _examples(rng: np.random.Generator, crops: np.ndarray, num_classes: int, n: int):
    """(n, SIDE, SIDE) uint8 images and (n,) int64 labels, every class about equally often."""
    per_class = crops.shape[0] // num_classes
    labels = rng.permutation(np.arange(n, dtype=np.int64) % num_classes)
    others = (labels + rng.integers(1, num_classes, size=n)) % num_classes
    own_crop = labels * per_class + rng.integers(0, per_class, size=n)
    other_crop = others * per_class + rng.integers(0, per_class, size=n)
    blend = rng.uniform(0.0, MAX_BLEND, size=(n, 1, 1)).astype(np.float32)
    brightness = rng.uniform(0.6, 1.2, size=(n, 1, 1)).astype(np.float32)
    images = np.empty((n, SIDE, SIDE), dtype=np.uint8)
    # Chunks keep the float work in small reused buffers: large fresh arrays cost more to page in
    # than the arithmetic itself.
    own = np.empty((_CHUNK, SIDE, SIDE), dtype=np.float32)
    other = np.empty_like(own)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        m = part.stop - start
        a, b = own[:m], other[:m]
        np.take(crops, own_crop[part], axis=0, out=a)
        np.take(crops, other_crop[part], axis=0, out=b)
        a *= 1 - blend[part]
        b *= blend[part]
        a += b
        a *= brightness[part]
        # Uniform noise from raw random bytes: several times faster than Gaussian draws.
        noise = np.frombuffer(rng.bytes(m * SIDE * SIDE), dtype=np.uint8).reshape(m, SIDE, SIDE)
        a += noise * np.float32(2 * NOISE / 255) - np.float32(NOISE)
        np.clip(a, 0.0, 1.0, out=a)
        a *= 255
        a += 0.5
        images[part] = a
    return images, labels


def make_synthetic(n_train: int, n_test: int, num_classes: int = 10, seed: int = 0) -> Dataset:
    """A Dataset of n_train and n_test generated 28x28 uint8 images over num_classes classes.

    The same arguments always give the same arrays; the test split does not depend on n_train.
    """
    if n_train < 1 or n_test < 1 or num_classes < 2:
        raise DataError(
            f"synthetic data needs at least 1 train and 1 test example and 2 classes, got "
            f"n_train={n_train}, n_test={n_test}, num_classes={num_classes}; raise them"
        )
    _check_memory(n_train + n_test, f"make_synthetic(n_train={n_train}, n_test={n_test})", "fewer examples")
    prototype_seed, train_seed, test_seed = np.random.SeedSequence(seed).spawn(3)
    crops = _shifted_crops(_prototypes(np.random.default_rng(prototype_seed), num_classes * VARIANTS))
    train_images, train_labels = _examples(np.random.default_rng(train_seed), crops, num_classes, n_train)
    test_images, test_labels = _examples(np.random.default_rng(test_seed), crops, num_classes, n_test)
    return Dataset(
        name="synthetic",
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        num_classes=num_classes,
        source=f"generated (seed {seed})",
    )


def synthetic_bytes(examples: int) -> int:
    """About the peak memory make_synthetic takes for this many examples (train and test)."""
    return examples * BYTES_PER_EXAMPLE


def _check_memory(examples: int, what: str, fix: str) -> None:
    """Refuse, before allocating, a dataset that cannot be held in the memory available."""
    needed, available = synthetic_bytes(examples), available_memory()
    if available is not None and needed > available:
        raise DataError(
            f"{what}: {examples:,} generated examples need about {human_bytes(needed)} of memory but "
            f"{human_bytes(available)} is available (the data alone fits about {available // BYTES_PER_EXAMPLE:,} "
            f"examples; training needs more on top); use {fix}"
        )


def synthetic_from_name(name: str) -> Dataset:
    """'synthetic' is 12000 train / 2000 test; 'synthetic:N' is N train, max(N // 6, 1) test."""
    if name == "synthetic":
        return make_synthetic(DEFAULT_TRAIN, DEFAULT_TEST)
    try:
        n_train = whole_number(name.removeprefix("synthetic:"), "N", MAX_COUNT, 1)
    except UsageError:
        raise DataError(f"dataset {shown(name)}: N in synthetic:N must be a positive integer, at most {MAX_COUNT:,} "
                        "(the digits 0-9); use e.g. synthetic:6000") from None
    n_test = max(n_train // 6, 1)
    # With synthetic:N's own advice: the largest N whose N + N // 6 examples fit.
    available = available_memory()
    fitting = max(available // BYTES_PER_EXAMPLE * 6 // 7 // 1000 * 1000, 1) if available else 1
    _check_memory(n_train + n_test, f"dataset {name!r}", f"at most synthetic:{fitting}")
    return make_synthetic(n_train, n_test)
