"""The datasets xpnet knows by name: checksums, download mirrors and system copies."""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownDataset:
    """A published MNIST-format dataset.

    sha256 maps each of the four file names to the SHA-256 of its uncompressed content, so a
    re-compressed NAME.gz or a decompressed NAME is accepted as long as the content matches.
    mirrors are base URLs tried in order, each serving NAME.gz; system_dirs are folders where
    an operating-system package installs the files.
    """

    name: str
    sha256: dict[str, str]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...]
    num_classes: int = 10
    image_shape: tuple[int, int] = (28, 28)
    class_names: tuple[str, ...] | None = None

    def published_shape(self, name: str) -> tuple[int, ...] | None:
        """The shape of file name's array as published, or None where the table's checksum for it
        is not one of the published files' (a table replaced by tests, say): then only
        image_shape and the general limits of xpnet.data.limits hold the file in check."""
        return PUBLISHED_SHAPES.get(self.sha256.get(name, ""))

    def content_bytes(self, name: str) -> int | None:
        """The size in bytes of file name's uncompressed content as published, or None when unknown."""
        shape = self.published_shape(name)
        # The magic number, the dimensions, then one byte per element.
        return None if shape is None else 4 + 4 * len(shape) + math.prod(shape)


# Tests replace entries (checksums of tiny files, local mirrors), so code looks them up at call time.
DATASETS: dict[str, KnownDataset] = {
    "mnist": KnownDataset(
        name="mnist",
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        system_dirs=("/usr/share/datasets/mnist",),
    ),
    "fashion-mnist": KnownDataset(
        name="fashion-mnist",
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        # Debian's package dataset-fashion-mnist installs the files here.
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"),
    ),
}


# The shape of each published file, by the SHA-256 of its content. Keyed by checksum, so a header
# can be checked against what the file must hold before its body is read, and a table whose
# checksums are replaced (tests' tiny copies) has no shapes rather than wrong ones.
PUBLISHED_SHAPES: dict[str, tuple[int, ...]] = {
    **{DATASETS[name].sha256["train-images-idx3-ubyte"]: (60000, 28, 28) for name in DATASETS},
    **{DATASETS[name].sha256["train-labels-idx1-ubyte"]: (60000,) for name in DATASETS},
    **{DATASETS[name].sha256["t10k-images-idx3-ubyte"]: (10000, 28, 28) for name in DATASETS},
    **{DATASETS[name].sha256["t10k-labels-idx1-ubyte"]: (10000,) for name in DATASETS},
}
