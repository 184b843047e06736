"""Each extension of the training loop tested alone, on a stand-in for the run's state: what it
reads of the run is all it needs."""

import json
import math
from types import SimpleNamespace

import pytest

from xpnet.errors import XpnetError
from xpnet.training.config import Config
from xpnet.training.early_stopping import DevWatch
from xpnet.training.extensions.best_epoch import BestEpoch
from xpnet.training.extensions.divergence import DivergenceCheck
from xpnet.training.extensions.metrics_file import MetricsFile
from xpnet.training.extensions.batch_lines import BatchLines, batch_line
from xpnet.training.extensions.terminal import TerminalReport, logged
from xpnet.training.starting import Outputs


def record(epoch, loss=1.0, **more):
    return {"epoch": epoch, "lr": 0.1, "train_loss": loss, "train_accuracy": 0.5, "seconds": 1.0,
            "examples_per_second": 100.0, **more}


def a_run(steps_per_epoch=1, **settings):
    """What the extensions read of a run: its settings, history, outputs, and where it says lines."""
    lines = []
    run = SimpleNamespace(config=Config(**settings), history=[], outputs=Outputs(), params_sum=0.0,
                          last_saved=None, stop_reason=None, best=None, watch=None, say=lines.append,
                          snapshot=lambda epoch: SimpleNamespace(epoch=epoch), steps_per_epoch=steps_per_epoch)
    run.epochs = run.config.epochs
    return run, lines


def test_the_divergence_check_names_the_last_finite_loss_and_what_to_lower():
    run, _ = a_run(lr=0.5)
    run.history = [record(1, 0.7), record(2, math.nan)]
    with pytest.raises(XpnetError, match=r"diverged in epoch 2: the loss is not finite \(last finite loss: 0\.7000 "
                                         r"in epoch 1\); lower the learning rate \(now lr=0\.5\)"):
        DivergenceCheck().epoch_end(run, run.history[-1])
    run.history, run.params_sum = [record(1, 0.7)], math.inf
    with pytest.raises(XpnetError, match="a parameter is not finite"):
        DivergenceCheck().epoch_end(run, run.history[-1])


def test_the_divergence_check_lets_a_finite_epoch_pass():
    run, _ = a_run()
    run.history = [record(1, 0.7)]
    DivergenceCheck().epoch_end(run, run.history[-1])


def test_the_best_epoch_marks_improvements_and_stops_after_the_patience():
    run, _ = a_run(dev_size=10, early_stopping=2)
    run.watch = DevWatch("dev_loss", patience=2)
    best = BestEpoch()
    best.run_start(run)
    for epoch, dev_loss in enumerate([0.9, 0.8, 0.85, 0.86], start=1):
        epoch_record = record(epoch, dev_loss=dev_loss)
        run.history.append(epoch_record)
        best.epoch_end(run, epoch_record)
    assert [r.get("best", False) for r in run.history] == [True, True, False, False]
    assert run.best.epoch == 2
    assert run.stop_reason == ("early stopping: dev_loss has not improved for 2 epoch(s) (best 0.8000 at epoch 2)")


def epochs_printed(lines):
    return [line.split()[1] for line in lines if line.startswith("epoch")]


def test_the_terminal_prints_every_log_interval_the_last_epoch_and_the_stop():
    """Full batch, a step an epoch: --log-interval 2 is every second epoch."""
    run, lines = a_run(epochs=5, log_interval=2)
    report = TerminalReport()
    for epoch in (1, 2, 3):
        report.epoch_end(run, record(epoch))
    run.stop_reason = "stopped by my extension"
    report.epoch_end(run, record(4))
    assert epochs_printed(lines) == ["2/5", "4/5"]
    assert lines[-1] == "stopped by my extension"


def test_with_minibatches_an_epoch_has_its_line_when_a_multiple_of_the_log_interval_falls_in_its_steps():
    """4 steps an epoch, --log-interval 6: steps 6 (epoch 2) and 12 (epoch 3), then the last epoch."""
    run, lines = a_run(steps_per_epoch=4, epochs=5, log_interval=6)
    report = TerminalReport()
    for epoch in range(1, 6):
        report.epoch_end(run, record(epoch))
    assert epochs_printed(lines) == ["2/5", "3/5", "5/5"]
    assert [logged(epoch, 4, 6) for epoch in range(1, 7)] == [False, True, True, False, True, True]
    assert all(logged(epoch, 4, None) for epoch in range(1, 7))


def test_without_a_log_interval_the_terminal_prints_every_epoch():
    run, lines = a_run(steps_per_epoch=469, epochs=3)
    report = TerminalReport()
    for epoch in range(1, 4):
        report.epoch_end(run, record(epoch))
    assert epochs_printed(lines) == ["1/3", "2/3", "3/3"]


class Totals(SimpleNamespace):
    def read(self):
        self.reads += 1
        return self.loss_sum, self.correct


def test_batch_lines_come_every_log_interval_steps_of_the_run_but_not_on_an_epochs_last_step():
    """10 steps of 50 an epoch, --log-interval 4: steps 4 and 8, then 12 and 16 (epoch 2's steps 2
    and 6), not 20 (epoch 2's last), 24... Each line reads the totals once, other steps never."""
    run, lines = a_run(steps_per_epoch=10, epochs=3, log_interval=4)
    run.data = SimpleNamespace(train=SimpleNamespace(size=500))
    batches, reads = BatchLines(), 0
    for epoch in (1, 2):
        batches.epoch_start(run, epoch)
        for step in range(1, 11):
            run.epoch_totals = Totals(steps=step, seen=50 * step, loss_sum=0.5 * 50 * step, correct=40 * step, reads=0)
            batches.step_end(run)
            reads += run.epoch_totals.reads
    assert lines == ["epoch 1/3  [200/500 (40%)]  train loss 0.5000  train acc  80.00%",
                     "epoch 1/3  [400/500 (80%)]  train loss 0.5000  train acc  80.00%",
                     "epoch 2/3  [100/500 (20%)]  train loss 0.5000  train acc  80.00%",
                     "epoch 2/3  [300/500 (60%)]  train loss 0.5000  train acc  80.00%"]
    assert reads == len(lines)
    assert batch_line(12, 100, (1280, 60000), 0.34123, 0.90123) == (
        "epoch  12/100  [ 1,280/60,000 (2%)]  train loss 0.3412  train acc  90.12%")


def test_the_metrics_file_writes_the_history_then_each_epoch_then_the_summary(tmp_path):
    run, _ = a_run()
    run.history = [record(1)]
    metrics = MetricsFile(str(tmp_path / "m.jsonl"))
    metrics.run_start(run)
    metrics.epoch_end(run, record(2))
    metrics.run_end(run, {"test_accuracy": 0.5})
    written = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [row.get("epoch") for row in written] == [1, 2, None] and written[-1]["test_accuracy"] == 0.5


def test_an_epoch_line_shows_the_dev_loss_that_judges_the_best_epoch():
    """"(best)" is judged by the dev loss by default: the line shows it beside the dev accuracy."""
    run, lines = a_run(epochs=1)
    TerminalReport().epoch_end(run, record(1, dev_loss=0.0722, dev_accuracy=0.9793, best=True))
    assert "train acc  50.00%  dev loss 0.0722  dev acc  97.93%  1.00 s" in lines[0] and lines[0].endswith("(best)")
