"""``--log-interval N`` counts batches, as in PyTorch's MNIST example (issue 21, item 4).

Off a terminal an eager run prints the epoch's running train loss and accuracy every N steps of
the run (counted across epochs and across a resume), never on an epoch's last step; an epoch has
its line when a multiple of N falls in its steps (full batch: every N epochs), and the last one.
No batch lines under a progress bar, in a compiled epoch, or in a quiet run; none by default.
"""

import importlib.util
import re

import pytest
from stopping import stop_after

import xpnet
from xpnet.errors import UsageError
from xpnet.train import main
from xpnet.training.checkpoint import load_checkpoint
from xpnet.training.checkpoint_folder import INTERRUPTED_NAME
from xpnet.training.config import PRESETS, Config
from xpnet.training.run import TrainingInterrupted

RUN = dict(dataset="synthetic:600", hidden=(16,), batch_size=50, epochs=2, seed=3, backend="numpy")  # 12 steps an epoch
BATCH_LINE = re.compile(r"^epoch (\d+)/\d+  \[ *([\d,]+)/600 \(\d+%\)\]  train loss (\d\.\d{4})  train acc +([\d.]+)%$")
NEVER = 10 ** 9  # questions before stop_after's Ctrl-C: none comes
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")


def batch_lines(lines):
    """(epoch, examples seen, loss, accuracy %) of each batch line."""
    found = [BATCH_LINE.match(line) for line in lines]
    return [(int(m[1]), int(m[2].replace(",", "")), float(m[3]), float(m[4])) for m in found if m]


def epoch_lines(lines):
    """The epoch numbers of the epochs' lines."""
    return [int(line.split()[1].split("/")[0]) for line in lines if line.startswith("epoch ") and "ex/s" in line]


def fit_lines(**settings):
    lines = []
    result = xpnet.fit(**{**RUN, "log": lines.append, "progress": False, **settings})
    return result, lines


def test_off_a_terminal_a_line_every_n_batches_of_the_run_with_the_epochs_running_figures(tmp_path, monkeypatch):
    result, lines = fit_lines(log_interval=5)
    # steps 5 and 10 of epoch 1, then 15 and 20: epoch 2's steps 3 and 8
    assert [(epoch, seen) for epoch, seen, _, _ in batch_lines(lines)] == [(1, 250), (1, 500), (2, 150), (2, 400)]
    assert epoch_lines(lines) == [1, 2]
    # The running figures are those of the epoch so far: a run stopped after 10 steps keeps them in its checkpoint.
    stop_after(monkeypatch, 10)
    with pytest.raises(TrainingInterrupted, match="in epoch 1 after 10 step"):
        xpnet.fit(**{**RUN, "log": None, "checkpoint_dir": str(tmp_path / "ck")})
    so_far = load_checkpoint(tmp_path / "ck" / INTERRUPTED_NAME).in_progress
    _, seen, loss, accuracy = batch_lines(lines)[1]
    assert seen == so_far["seen"] == 500
    assert loss == round(so_far["loss_sum"] / seen, 4) and accuracy == round(100 * so_far["correct"] / seen, 2)
    assert loss != round(result.history[0]["train_loss"], 4)  # not the whole epoch's


def test_an_epoch_has_its_line_when_a_multiple_of_the_interval_falls_in_its_steps():
    _, lines = fit_lines(epochs=4, log_interval=18)  # steps 18 (epoch 2), 36 (epoch 3's last), then the last epoch
    assert epoch_lines(lines) == [2, 3, 4]
    assert [(epoch, seen) for epoch, seen, _, _ in batch_lines(lines)] == [(2, 300)]  # none on an epoch's last step


def test_full_batch_prints_every_n_epochs_as_the_seed_presets_do():
    _, lines = fit_lines(batch_size=None, epochs=7, log_interval=3)
    assert epoch_lines(lines) == [3, 6, 7] and batch_lines(lines) == []
    assert {PRESETS[name].settings["log_interval"] for name in ("seed002", "seed003", "seed004")} == {10, 50}


def test_by_default_every_epoch_has_its_line_and_no_batch_has_one():
    result, lines = fit_lines(epochs=3)
    assert epoch_lines(lines) == [1, 2, 3] and batch_lines(lines) == []
    assert result.summary["config"]["log_interval"] is None


def test_the_long_epochs_of_the_cnn_presets_print_every_100_batches():
    assert PRESETS["cnn"].settings["log_interval"] == PRESETS["lenet"].settings["log_interval"] == 100


def test_no_batch_lines_under_a_progress_bar(capsys):
    _, lines = fit_lines(log_interval=5, progress=True)
    assert batch_lines(lines) == [] and epoch_lines(lines) == [1, 2]
    assert "step" in capsys.readouterr().err  # the bar


@needs_jax
def test_no_batch_lines_in_a_compiled_epoch_and_its_epoch_lines_follow_the_interval():
    _, lines = fit_lines(backend="jax", compile=True, epochs=3, log_interval=18)
    assert batch_lines(lines) == [] and epoch_lines(lines) == [2, 3]


def test_resuming_counts_the_steps_of_the_whole_run(tmp_path, monkeypatch):
    """Stopped after 7 steps and resumed (the same command, or --resume): the lines of the steps after 7, as
    without the stop."""
    _, whole = fit_lines(log_interval=5)
    for resume in (False, True):
        folder = tmp_path / f"ck-{resume}"
        stop_after(monkeypatch, 7)
        with pytest.raises(TrainingInterrupted, match="after 7 step"):
            fit_lines(log_interval=5, checkpoint_dir=str(folder))
        stop_after(monkeypatch, NEVER)
        _, resumed = fit_lines(log_interval=5, **({"resume": folder} if resume else {"checkpoint_dir": str(folder)}))
        assert batch_lines(resumed) == batch_lines(whole)[1:]  # steps 10, 15, 20
        assert epoch_lines(resumed) == [1, 2]


def test_a_checkpoints_log_interval_is_not_taken_by_resume(tmp_path, monkeypatch):
    """An older xpnet's checkpoint holds log_interval 1 meaning every epoch: read as batches, it
    would print a line per step. --resume takes the command's (default None)."""
    folder = tmp_path / "ck"
    stop_after(monkeypatch, 3)
    with pytest.raises(TrainingInterrupted):
        fit_lines(log_interval=1, checkpoint_dir=str(folder))
    assert load_checkpoint(folder / INTERRUPTED_NAME).config["log_interval"] == 1
    stop_after(monkeypatch, NEVER)
    result, lines = fit_lines(resume=folder / INTERRUPTED_NAME, metrics=str(tmp_path / "m.jsonl"))
    assert batch_lines(lines) == [] and epoch_lines(lines) == [1, 2]
    assert result.summary["config"]["log_interval"] is None


def test_a_given_log_interval_applies_to_a_resumed_run(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    stop_after(monkeypatch, 3)
    with pytest.raises(TrainingInterrupted):
        fit_lines(log_interval=1, checkpoint_dir=str(folder))
    stop_after(monkeypatch, NEVER)
    _, lines = fit_lines(resume=folder, log_interval=6)
    assert [(epoch, seen) for epoch, seen, _, _ in batch_lines(lines)] == [(1, 300), (2, 300)]


@pytest.mark.parametrize("value", [0, -1, True, 2.0, "5", 10 ** 30])
def test_a_bad_log_interval_is_refused_in_one_line(value):
    with pytest.raises(UsageError, match=r"^log_interval \(--log-interval\) must be a whole number, 1 or more"):
        Config(log_interval=value).validate()
    assert Config(log_interval=None).validate().log_interval is None


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "none"])
def test_a_bad_log_interval_flag_exits_2(text, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--dataset", "synthetic:300", "--log-interval", text])
    assert exited.value.code == 2 and "argument --log-interval: expected a positive integer" in capsys.readouterr().err
