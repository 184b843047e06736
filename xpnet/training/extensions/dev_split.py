"""The dev split scored after every epoch: ``dev_loss`` and ``dev_accuracy`` in its record."""

from __future__ import annotations

from ..evaluation import loss_and_accuracy
from ..loop import Extension


class DevEvaluation(Extension):
    """Adds the dev split's mean loss and accuracy to each epoch's record."""

    def epoch_end(self, run, record: dict) -> None:
        record["dev_loss"], record["dev_accuracy"] = loss_and_accuracy(
            run.params, run.data.dev, run.dataset.num_classes, run.config.evaluation_batch(run.network),
            network=run.network)
