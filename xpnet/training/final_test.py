"""The end of a run: the test split scored (with the best epoch's weights when the dev split is
watched), and the run's summary record."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..backend import Backend, to_numpy
from .evaluation import loss_and_accuracy
from .run_state import RunState


@dataclass
class FitResult:
    """What :func:`xpnet.fit` returns: device parameters ``[(W, b), ...]``, per-epoch history, summary."""

    params: list
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    backend: Backend | None = None

    @property
    def test_accuracy(self) -> float:
        return self.summary["test_accuracy"]

    def host_params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The parameters copied to the host as NumPy arrays."""
        return [(to_numpy(W), to_numpy(b)) for W, b in self.params]


def score_test_split(run: RunState) -> FitResult:
    """The run's parameters (the best epoch's, when kept) scored on the test split, with its summary."""
    params = run.params
    if run.best is not None:
        params = [(run.backend.asarray(W), run.backend.asarray(b)) for W, b in run.best.params]
    test_loss, test_accuracy = loss_and_accuracy(params, run.data.test, run.dataset.num_classes,
                                                 run.config.evaluation_batch(run.network), network=run.network)
    return FitResult(params, run.history, _summary(run, test_loss, test_accuracy), run.backend)


def _summary(run: RunState, test_loss: float, test_accuracy: float) -> dict:
    """The run's last metrics record: test results, where and what it trained, its settings."""
    summary = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "backend": run.backend.name,
        "device": run.backend.device_name,
        "dtype": run.config.dtype,
        "dataset": run.dataset.name,
        "data_source": run.dataset.source,
        "layer_sizes": run.layer_sizes,
        "model": run.network.title(),
        "epochs": run.epochs_done,
        "train_seconds": run.train_seconds(),
        "xpnet_version": __version__,
        "config": run.config.to_dict(),
    }
    if run.history and "dev_accuracy" in run.history[-1]:
        summary["dev_accuracy"] = run.history[-1]["dev_accuracy"]
    if run.compiled is not None:
        summary["compiled"] = {"compiler": run.compiled.compiler.name, "compilations": run.compiled.compilations,
                               "calls": run.compiled.calls}
    if run.watch is not None:
        summary.update(monitor=run.watch.monitor, best_epoch=run.best.epoch if run.best else None,
                       stopped_early=run.watch.should_stop)
    return summary
