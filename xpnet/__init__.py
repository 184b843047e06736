"""xpnet: MNIST-style classifiers trained by hand-written backpropagation, written once
against the Python Array API so the same lines run on NumPy, CuPy, PyTorch and array-api-strict."""

__version__ = "0.1.0"

from .backend import Backend, available_backends, resolve, to_numpy  # noqa: E402
from .config import PRESETS, Config, from_preset  # noqa: E402
from .errors import XpnetError  # noqa: E402
from .run import FitResult, TrainingInterrupted, fit  # noqa: E402
from .trainer import evaluate, train_epoch  # noqa: E402

__all__ = [
    "Backend", "Config", "FitResult", "PRESETS", "TrainingInterrupted", "XpnetError", "available_backends", "evaluate",
    "fit", "from_preset", "resolve", "to_numpy", "train_epoch", "__version__",
]
