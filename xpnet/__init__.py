"""xpnet: MNIST-style classifiers trained by hand-written backpropagation, written once
against the Python Array API so the same lines run on NumPy, CuPy, PyTorch, JAX and array-api-strict.

Reading order: ``nn`` (the mathematics: layers with their backward passes, networks,
optimisers), ``data`` (datasets as host NumPy arrays), ``backend`` (the array library and
device; the only module that names one), ``training`` (a run: the loop, its settings,
checkpoints), ``inference`` (a trained model put to use), the commands ``train``, ``evaluate``,
``predict``, ``plot``, ``export`` and ``bench`` (each run as ``python -m xpnet.NAME``), what the commands
share (``cli``, and ``arguments``: every argument checked in one line), ``errors`` (XpnetError
and UsageError) and ``files`` (atomic writes)."""

__version__ = "0.1.0"


def _quiet_ctrl_c_while_a_command_starts() -> None:
    """``python -m xpnet.COMMAND`` imports for a second before its first line runs; Ctrl-C then
    ends it with ``interrupted`` and status 130, as later, not a traceback of some import.
    (While ``-m`` locates its module, ``sys.argv[0]`` is ``-m``; library users are untouched.)"""
    import os
    import signal
    import sys

    # Only Python's own handler is replaced: a Ctrl-C the shell made the command ignore stays ignored.
    if sys.argv[:1] == ["-m"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        def stop(signum, frame):
            sys.stderr.write("interrupted\n")
            os._exit(130)
        stop.while_a_command_starts = True  # run_command gives Ctrl-C back to Python when its command starts
        signal.signal(signal.SIGINT, stop)


_quiet_ctrl_c_while_a_command_starts()

from .backend import Backend, available_backends, resolve, to_numpy  # noqa: E402
from .training.config import PRESETS, Config, from_preset  # noqa: E402
from .errors import UsageError, XpnetError  # noqa: E402
from .inference import Model, load_model  # noqa: E402
from .training.run import FitResult, TrainingInterrupted, fit  # noqa: E402
from .training.epoch import train_epoch  # noqa: E402
from .training.loop import Extension  # noqa: E402
from .training.step import Step  # noqa: E402

# The commands' modules, ``xpnet.evaluate.evaluate_checkpoint`` and ``xpnet.plot.plot_checkpoint``
# as the README calls them after ``import xpnet``: imported on first use, so that
# ``python -m xpnet.evaluate`` does not find its module imported before it runs (runpy warns).
_COMMANDS = ("evaluate", "export", "plot", "predict", "train")


def __getattr__(name: str):
    if name in _COMMANDS:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ``xpnet.evaluate`` is the module of ``python -m xpnet.evaluate``; the function that scores
# parameters on a split is ``xpnet.training.evaluation.loss_and_accuracy``.
__all__ = [
    "Backend", "Config", "Extension", "FitResult", "Model", "PRESETS", "TrainingInterrupted", "UsageError", "XpnetError",
    "available_backends",
    "Step", "fit", "from_preset", "load_model", "resolve", "to_numpy", "train_epoch", "__version__",
]
