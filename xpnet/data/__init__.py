"""The data layer: datasets as host NumPy arrays, read from IDX files, downloaded or generated.

Reading order: ``dataset`` (the Dataset value every loader returns, and DataError), ``load``
(from a name to a verified Dataset), ``idx`` (IDX files, raw or gzipped), ``folder``
(MNIST-format folders), ``known`` (the datasets known by name: checksums, mirrors, system
copies), ``download`` (fetching them, verified), ``synthetic`` (generated data, no files
needed) and ``limits`` (how much may be read, downloaded and allocated).

Everything here runs on the host with NumPy; the trainer moves arrays to the device.
"""

from xpnet.data.dataset import DataError, Dataset
from xpnet.data.folder import read_mnist_folder, write_mnist_folder
from xpnet.data.idx import read_idx, uncompressed_sha256, write_idx
from xpnet.data.known import DATASETS, KnownDataset
from xpnet.data.load import UnknownDataset, load_dataset
from xpnet.data.synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "KnownDataset",
    "UnknownDataset",
    "load_dataset",
    "make_synthetic",
    "read_idx",
    "read_mnist_folder",
    "uncompressed_sha256",
    "write_idx",
    "write_mnist_folder",
]
