"""xpnet: MNIST-style classifiers trained by hand-written backpropagation, written once
against the Python Array API so the same lines run on NumPy, CuPy, PyTorch and array-api-strict."""

__version__ = "0.1.0"

from .backend import Backend, available_backends, resolve, to_numpy  # noqa: E402
from .training.config import PRESETS, Config, from_preset  # noqa: E402
from .errors import UsageError, XpnetError  # noqa: E402
from .inference import Model, load_model  # noqa: E402
from .training.run import FitResult, TrainingInterrupted, fit  # noqa: E402
from .training.loop import train_epoch  # noqa: E402

# ``xpnet.evaluate`` is the module of ``python -m xpnet.evaluate``; the function that
# evaluates parameters on a split is ``xpnet.training.loop.evaluate``.
__all__ = [
    "Backend", "Config", "FitResult", "Model", "PRESETS", "TrainingInterrupted", "UsageError", "XpnetError",
    "available_backends",
    "fit", "from_preset", "load_model", "resolve", "to_numpy", "train_epoch", "__version__",
]
