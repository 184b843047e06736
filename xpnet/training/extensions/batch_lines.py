"""A line every ``--log-interval`` batches inside an epoch, when no progress bar shows the run going on."""

from __future__ import annotations

from ..loop import Extension


class BatchLines(Extension):
    """The epoch's running train loss and accuracy every ``log_interval`` steps of the run,
    counted across epochs (and across a resume: the same steps as without one), as PyTorch's
    MNIST example prints them. None on an epoch's last step, which the epoch's line reports.
    Each line reads the epoch's totals from the device once; the steps between read nothing.
    :func:`xpnet.fit` adds it to an eager run that prints and shows no progress bar."""

    per_step = True

    def __init__(self):
        self.epoch = 1

    def epoch_start(self, run, epoch: int) -> None:
        self.epoch = epoch

    def step_end(self, run) -> None:
        totals, steps_per_epoch = run.epoch_totals, run.steps_per_epoch
        run_steps = (self.epoch - 1) * steps_per_epoch + totals.steps
        if run_steps % run.config.log_interval or totals.steps >= steps_per_epoch:
            return
        loss_sum, correct = totals.read()
        run.say(batch_line(self.epoch, run.epochs, (totals.seen, run.data.train.size),
                           loss_sum / totals.seen, correct / totals.seen))


def batch_line(epoch: int, epochs: int, progress: tuple[int, int], loss: float, accuracy: float) -> str:
    """``'epoch 2/5  [12,800/60,000 (21%)]  train loss 0.3412  train acc  90.12%'``: ``progress``
    is (examples seen this epoch, examples in an epoch); ``loss`` and ``accuracy`` their means."""
    seen, size = progress
    width = len(f"{size:,}")
    return (f"epoch {epoch:>{len(str(epochs))}}/{epochs}  [{seen:>{width},}/{size:,} ({100 * seen / size:.0f}%)]  "
            f"train loss {loss:.4f}  train acc {100 * accuracy:6.2f}%")
