"""Nothing a user trained is lost: the same call run again continues, resuming keeps the outputs,
outputs are checked before the first step, and a write that fails late keeps the model."""

import json
import os
import shutil
import signal
import time

import numpy as np
import pytest

import xpnet
from stopping import stop_after
from xpnet.errors import UsageError, XpnetError
from xpnet.training import checkpoint as checkpoint_module
from xpnet.training import run as run_module
from xpnet.training import run_state as run_state_module
from xpnet.training.checkpoint import CheckpointError, load_checkpoint
from xpnet.training.interrupt import Interrupted, InterruptRequest

RUN = dict(backend="numpy", hidden=(16,), batch_size=50, epochs=4, seed=2, log=None)


def _same(a, b):
    return all(np.array_equal(W, W2) and np.array_equal(v, v2) for (W, v), (W2, v2) in zip(a, b))


@pytest.fixture
def whole(tiny_dataset):
    return xpnet.fit(dataset=tiny_dataset, **RUN).host_params()


@pytest.mark.parametrize("steps", [3, 12 + 5, 36 + 11])  # in epoch 1, 2 and 4 (12 steps an epoch)
def test_the_same_call_run_again_continues_where_it_stopped_and_ends_identical(tiny_dataset, tmp_path, monkeypatch,
                                                                                whole, steps):
    folder = tmp_path / "run"
    stop_after(monkeypatch, steps)
    with pytest.raises(xpnet.TrainingInterrupted, match="call fit again as before"):
        xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(folder), **RUN)
    monkeypatch.undo()
    lines = []
    again = xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(folder), **{**RUN, "log": lines.append})
    assert f"resuming from {folder / 'xpnet-interrupted.npz'}: epoch {steps // 12} of 4 done, " \
           f"{steps % 12} step(s) into epoch {steps // 12 + 1}" in lines
    assert _same(again.host_params(), whole) and [r["epoch"] for r in again.history] == [1, 2, 3, 4]
    assert not (folder / "xpnet-interrupted.npz").exists()
    assert sorted(p.name for p in folder.glob("epoch-*")) == ["epoch-0002.npz", "epoch-0003.npz", "epoch-0004.npz"]


def test_another_run_into_the_folder_is_refused_naming_the_difference_and_restart_starts_over(tiny_dataset, tmp_path):
    folder = str(tmp_path / "run")
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=folder, **RUN)
    with pytest.raises(UsageError, match=r"holds checkpoints of another run \(lr=0.05 \(the checkpoint's run has "
                                         r"0.1\)\); add restart=True to start over there"):
        xpnet.fit(dataset=tiny_dataset, checkpoint_dir=folder, **{**RUN, "lr": 0.05})
    lines = []
    fresh = xpnet.fit(dataset=tiny_dataset, checkpoint_dir=folder, restart=True, **{**RUN, "lr": 0.05, "epochs": 2,
                                                                                     "log": lines.append})
    assert lines[0] == f"restart=True: deleted the 3 checkpoint(s) of the previous run in {folder}"
    assert [r["epoch"] for r in fresh.history] == [1, 2]
    assert load_checkpoint(tmp_path / "run" / "epoch-0002.npz").config["lr"] == 0.05


def test_a_finished_run_run_again_trains_nothing_and_writes_its_outputs(tiny_dataset, tmp_path, whole):
    folder = str(tmp_path / "run")
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=folder, **RUN)
    again = xpnet.fit(dataset=tiny_dataset, checkpoint_dir=folder, save_path=str(tmp_path / "m.npz"), **RUN)
    assert _same(load_checkpoint(tmp_path / "m.npz").params, whole) and len(again.history) == 4


def test_resume_keeps_the_runs_outputs_and_the_metrics_file_continues(tiny_dataset, tmp_path, monkeypatch, whole):
    """Outputs inside the checkpoint folder are adopted (those outside it are not: test_hostile_run_folder.py)."""
    run = tmp_path / "run"
    outputs = dict(checkpoint_dir=str(run), save_path=str(run / "model.npz"), metrics_path=str(run / "metrics.jsonl"))
    stop_after(monkeypatch, 20)
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(dataset=tiny_dataset, **outputs, **RUN)
    monkeypatch.undo()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    monkeypatch.chdir(tmp_path.parent)  # from elsewhere: the checkpoint keeps absolute paths
    xpnet.fit(resume=run / "xpnet-interrupted.npz", dataset=tiny_dataset, log=None)
    assert _same(load_checkpoint(run / "model.npz").params, whole)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("epoch") for r in records[:4]] == [1, 2, 3, 4] and "test_accuracy" in records[4]
    assert (tmp_path / "run" / "epoch-0004.npz").exists()


def test_resume_accepts_flags_that_agree_and_names_each_that_does_not(tiny_dataset, tmp_path):
    from xpnet.train import main

    folder = tmp_path / "run"
    common = ["--dataset", "synthetic:600", "--backend", "numpy", "--quiet"]
    assert main(["--preset", "seed000", *common, "--epochs", "1", "--checkpoint-dir", str(folder)]) == 0
    assert main(["--preset", "seed000", *common, "--epochs", "2", "--resume", str(folder)]) == 0
    assert load_checkpoint(folder / "epoch-0002.npz").epoch == 2
    with pytest.raises(UsageError) as refused:
        xpnet.fit(resume=folder, lr=0.5, optimizer="adam", hidden=(), log=None)
    message = str(refused.value)
    assert "lr=0.5 (the checkpoint's run has 0.1)" in message and "optimizer='adam' (the checkpoint's run has sgd)" \
        in message and "hidden" not in message


def test_more_epochs_under_a_schedule_say_what_happens_to_it(tiny_dataset, tmp_path):
    run = {**RUN, "schedule": "cosine", "epochs": 2}
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path), **run)
    lines = []
    xpnet.fit(resume=tmp_path, dataset=tiny_dataset, epochs=4, log=lines.append)
    note = [line for line in lines if line.startswith("note: the cosine schedule")]
    assert note and "planned for 2 epochs and now spans 4: the learning rate at epoch 3 is 0.05" in note[0]


def test_fewer_epochs_than_done_say_nothing_of_the_schedule(tiny_dataset, tmp_path):
    """Resumed with --epochs at or below the epochs done, nothing is trained: no learning rate to speak of."""
    run = {**RUN, "schedule": "cosine", "epochs": 2}
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path), **run)
    lines = []
    xpnet.fit(resume=tmp_path, dataset=tiny_dataset, epochs=1, log=lines.append)
    assert not [line for line in lines if line.startswith("note: the cosine schedule")]
    assert any("nothing to train" in line for line in lines)


@pytest.mark.parametrize("outputs, words", [
    (dict(save_path="model.pt"), "save model.pt: use a name ending in .npz or .safetensors"),
    (dict(save_path="{tmp}"), "save {tmp}: use a name ending in"),
    (dict(save_path="{tmp}/a-file/model.npz"), "is not a folder"),
    (dict(metrics_path="{tmp}"), "metrics {tmp} is a folder, not a regular file"),
    (dict(checkpoint_dir="{tmp}/a-file"), "checkpoint_dir {tmp}/a-file is not a folder"),
    (dict(metrics_path="{tmp}/fifo"), "is a FIFO, not a regular file"),
])
def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path, monkeypatch, outputs, words):
    (tmp_path / "a-file").write_text("mine")
    os.mkfifo(tmp_path / "fifo")
    monkeypatch.setattr(run_module, "load_dataset", lambda *a, **k: pytest.fail("the data were loaded"))
    outputs = {key: value.format(tmp=tmp_path) for key, value in outputs.items()}
    with pytest.raises(UsageError, match=words.format(tmp=tmp_path).replace("(", r"\(").replace(".", r"\.")):
        xpnet.fit(dataset="synthetic:600", **outputs, **RUN)
    assert (tmp_path / "a-file").read_text() == "mine"


def _disk_full_for(monkeypatch, doomed):
    original = checkpoint_module.write_output

    def write(path, data, **kwargs):
        if doomed(str(path)):
            raise kwargs.get("error", XpnetError)(f"cannot write {path}: No space left on device; {kwargs['fix']}")
        return original(path, data, **kwargs)
    monkeypatch.setattr(checkpoint_module, "write_output", write)


def test_a_final_save_that_fails_puts_the_model_in_the_temporary_folder_and_says_so(tiny_dataset, tmp_path,
                                                                                  monkeypatch, whole):
    _disk_full_for(monkeypatch, lambda path: path == str(tmp_path / "model.npz"))
    with pytest.raises(XpnetError, match=r"No space left on device; .*the model was saved to (\S+) instead") as caught:
        xpnet.fit(dataset=tiny_dataset, save_path=str(tmp_path / "model.npz"), **RUN)
    rescued = str(caught.value).split("the model was saved to ")[1].split(" instead")[0]
    try:
        assert _same(load_checkpoint(rescued).params, whole)
    finally:
        shutil.rmtree(os.path.dirname(rescued))


def test_checkpoints_and_metrics_that_fail_mid_run_do_not_stop_training(tiny_dataset, tmp_path, monkeypatch, capsys,
                                                                        whole):
    _disk_full_for(monkeypatch, lambda path: path.endswith(("0002.npz", "0003.npz")))
    from xpnet.training import metrics_log

    calls = {"n": 0}

    def flaky(descriptor):
        calls["n"] += 1
        if calls["n"] in (2, 3):  # the lines of epochs 2 and 3
            raise OSError(28, "No space left on device")
        os.fsync(descriptor)
    monkeypatch.setattr(metrics_log, "_sync", flaky)
    result = xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path / "run"),
                       metrics_path=str(tmp_path / "m.jsonl"), **RUN)
    warnings = capsys.readouterr().err.splitlines()
    assert _same(result.host_params(), whole) and len(warnings) == 4
    assert all(line.startswith("warning: cannot write ") and "training goes on" in line for line in warnings)
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 5  # every epoch, and the summary
    assert sorted(p.name for p in (tmp_path / "run").glob("epoch-*")) == ["epoch-0001.npz", "epoch-0004.npz"]


@pytest.fixture
def ctrl_c_at_its_default():
    """SIGINT as Python sets it up in a terminal: a suite run in the background of a shell without job
    control ignores it, and xpnet leaves an ignored Ctrl-C ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_at_its_default")
def test_a_signal_before_training_stops_at_once_and_after_it_waits_for_the_step():
    with InterruptRequest() as request:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        with pytest.raises(Interrupted, match="stopped by SIGTERM before training started") as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        assert caught.value.exit_status == 143
    with InterruptRequest() as request:
        request.arm()
        os.kill(os.getpid(), signal.SIGHUP)
        assert request() and request.signum == signal.SIGHUP
        with pytest.raises(KeyboardInterrupt):  # a second signal acts at once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)


@pytest.mark.usefixtures("ctrl_c_at_its_default")
def test_ctrl_c_while_the_data_load_exits_on_the_first_press(monkeypatch, capsys):
    from xpnet.train import main

    finished = []

    def slow_load(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        finished.append(True)
    monkeypatch.setattr(run_module, "load_dataset", slow_load)
    assert main(["--dataset", "synthetic:600", "--backend", "numpy", "--quiet"]) == 130
    assert not finished and capsys.readouterr().err == "interrupted\n"


def test_a_second_run_into_a_busy_folder_fails_at_once(tiny_dataset, tmp_path, monkeypatch):
    from xpnet.training.checkpoint_folder import FolderInUse, locked

    with locked(tmp_path):
        # flock locks belong to the open file: a second open in this process is refused like another process
        with pytest.raises(FolderInUse, match="another xpnet run"):
            xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path), **RUN)
    assert not list(tmp_path.glob("epoch-*"))


def test_a_checkpoint_refuses_output_settings_of_the_wrong_types(tmp_path):
    from xpnet.training.checkpoint import Checkpoint, save_checkpoint

    params = [(np.zeros((4, 3), np.float32), np.zeros(3, np.float32))]
    for outputs in ({"save_path": 3}, {"checkpoint_every": 0}, {"elsewhere": "x"}, ["save_path"]):
        path = save_checkpoint(tmp_path / "c.npz", Checkpoint(params=params, config={}, outputs=outputs))
        with pytest.raises(CheckpointError, match="unreadable output settings"):
            load_checkpoint(path)


def test_a_second_sigterm_ends_the_process_at_once():
    import subprocess
    import sys

    code = ("import os, signal, time\nfrom xpnet.training.interrupt import InterruptRequest\n"
            "with InterruptRequest() as request:\n    request.arm()\n    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    assert request()\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(10)\nprint('survived')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM and "survived" not in done.stdout, done.stderr


def test_the_metrics_file_is_appended_to_not_rewritten_and_a_resumed_run_keeps_its_earlier_lines(tmp_path):
    from xpnet.training.metrics_log import MetricsLog

    path = tmp_path / "m.jsonl"
    log = MetricsLog(str(path), [{"epoch": 1}])
    inode = path.stat().st_ino
    for epoch in (2, 3, 4):
        log.append({"epoch": epoch})
    assert path.stat().st_ino == inode  # the same file, grown: no rewrite per epoch
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1, 2, 3, 4]
    MetricsLog(str(path), [{"epoch": 3}])  # resumed from a checkpoint that carries epochs from 3 on
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1, 2, 3]


def test_a_checkpoint_stays_the_same_size_however_long_the_run(tmp_path, monkeypatch):
    from xpnet.data import make_synthetic

    monkeypatch.setattr(run_state_module, "HISTORY_KEPT", 5)
    data = make_synthetic(60, 20, seed=1)
    run = dict(backend="numpy", hidden=(4,), batch_size=None, dev_size=20, early_stopping=50, seed=0, log=None)
    whole = xpnet.fit(dataset=data, epochs=30, **run)
    folder = str(tmp_path / "run")
    xpnet.fit(dataset=data, epochs=12, checkpoint_dir=folder, **run)
    sizes = [os.path.getsize(tmp_path / "run" / name) for name in ("epoch-0010.npz", "epoch-0012.npz")]
    assert len(load_checkpoint(tmp_path / "run" / "epoch-0012.npz").history) == 5
    again = xpnet.fit(resume=folder, dataset=data, epochs=30, log=None)
    last = os.path.getsize(tmp_path / "run" / "epoch-0030.npz")
    assert abs(sizes[1] - sizes[0]) < 100 and abs(last - sizes[1]) < 100  # a few digits more or less
    assert _same(again.host_params(), whole.host_params())
    assert again.summary["epochs"] == 30 and again.summary["best_epoch"] == whole.summary["best_epoch"]
    assert again.summary["train_seconds"] > sum(r["seconds"] for r in again.history)


def test_a_copy_of_a_runs_folder_resumed_never_writes_the_originals_files(tiny_dataset, tmp_path):
    import shutil

    original = dict(checkpoint_dir=str(tmp_path / "orig"), save_path=str(tmp_path / "orig.npz"),
                    metrics_path=str(tmp_path / "orig.jsonl"))
    xpnet.fit(dataset=tiny_dataset, **original, **{**RUN, "epochs": 2})
    before = {name: (tmp_path / name).read_bytes() for name in ("orig.npz", "orig.jsonl")}
    shutil.copytree(tmp_path / "orig", tmp_path / "branch")
    lines = []
    xpnet.fit(resume=tmp_path / "branch", dataset=tiny_dataset, epochs=3, log=lines.append)
    assert any("nothing proves that" in line and "lies in its run's folder" in line for line in lines)
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path / "branch"), **{**RUN, "epochs": 4})
    assert all((tmp_path / name).read_bytes() == data for name, data in before.items())
    assert not (tmp_path / "orig" / "epoch-0003.npz").exists()


def test_resume_accepts_agreeing_watch_and_warmup_flags_and_a_preset_keeps_the_runs_epochs(tiny_dataset, tmp_path):
    run = {**RUN, "epochs": 3, "dev_size": 100, "early_stopping": 5, "schedule": "cosine", "warmup_epochs": 2}
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path / "a"), **run)
    again = xpnet.fit(resume=tmp_path / "a", dataset=tiny_dataset, early_stopping=5, warmup_epochs=2, dev_size=100,
                      log=None)
    assert again.summary["epochs"] == 3
    from xpnet.train import main

    folder = tmp_path / "p"
    common = ["--dataset", "synthetic:600", "--backend", "numpy", "--quiet"]
    assert main(["--preset", "seed000", *common, "--epochs", "2", "--checkpoint-dir", str(folder)]) == 0
    assert main(["--preset", "seed000", *common, "--resume", str(folder), "--save", str(tmp_path / "m.npz")]) == 0
    assert load_checkpoint(tmp_path / "m.npz").epoch == 2  # not the preset's 8


def test_a_watched_run_without_a_folder_interrupted_and_resumed_keeps_its_best_epoch(tmp_path, monkeypatch):
    from xpnet.data import make_synthetic

    data = make_synthetic(600, 200, seed=3)
    run = dict(backend="numpy", hidden=(64,), lr=0.5, batch_size=50, epochs=40, dev_size=200, early_stopping=3, seed=2,
               log=None)
    whole = xpnet.fit(dataset=data, **run)
    monkeypatch.chdir(tmp_path)
    stop_after(monkeypatch, 4 * (whole.summary["best_epoch"] + 1) + 2)  # after the best epoch, before the stop
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(dataset=data, **run)
    monkeypatch.setattr(run_module, "InterruptRequest", InterruptRequest)
    again = xpnet.fit(resume=tmp_path / "xpnet-interrupted.npz", dataset=data, log=None)
    assert again.summary["best_epoch"] == whole.summary["best_epoch"]
    assert again.summary["test_accuracy"] == whole.summary["test_accuracy"]
    assert _same(again.host_params(), whole.host_params())


def test_a_checkpoint_that_cannot_be_deleted_is_a_warning_and_training_goes_on(tiny_dataset, tmp_path, monkeypatch,
                                                                             capsys):
    from pathlib import Path

    original = Path.unlink

    def stuck(self, missing_ok=False):
        if self.name == "epoch-0001.npz":
            raise PermissionError(1, "Operation not permitted")
        return original(self, missing_ok=missing_ok)
    monkeypatch.setattr(Path, "unlink", stuck)
    result = xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path), **RUN)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    warnings = [line for line in capsys.readouterr().err.splitlines() if line]
    assert warnings and all(line.startswith("warning: cannot delete an old checkpoint") for line in warnings)


@pytest.mark.parametrize("make", ["folder", "link"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused_and_nothing_is_written_through_it(tiny_dataset, tmp_path,
                                                                                             make):
    from xpnet.training.checkpoint_folder import FolderInUse

    folder, notes = tmp_path / "run", tmp_path / "notes.txt"
    folder.mkdir()
    notes.write_text("precious")
    if make == "folder":
        (folder / ".xpnet-lock").mkdir()
    else:
        (folder / ".xpnet-lock").symlink_to(notes)
    with pytest.raises(FolderInUse, match=r"\.xpnet-lock.*remove it"):
        xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(folder), **RUN)
    assert notes.read_text() == "precious"


def test_a_usage_error_leaves_no_checkpoint_folder_behind(tmp_path):
    from xpnet.train import main

    assert main(["--dataset", "synthetic:200", "--checkpoint-dir", str(tmp_path / "new" / "run"),
                 "--save", "model.pt"]) == 2
    assert not (tmp_path / "new").exists()


def test_a_metrics_file_that_cannot_be_started_is_a_warning(tiny_dataset, tmp_path, monkeypatch, capsys):
    from xpnet.training import metrics_log

    def full(path, data, **kwargs):
        raise XpnetError(f"cannot write {path}: No space left on device; {kwargs['fix']}")
    monkeypatch.setattr(metrics_log, "write_output", full)
    result = xpnet.fit(dataset=tiny_dataset, metrics_path=str(tmp_path / "m.jsonl"), **RUN)
    assert len(result.history) == 4
    assert capsys.readouterr().err.count("warning: cannot write") >= 1


def test_fewer_epochs_than_done_says_so(tiny_dataset, tmp_path):
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(tmp_path), **RUN)
    lines = []
    xpnet.fit(resume=tmp_path, dataset=tiny_dataset, epochs=2, log=lines.append)
    assert "note: the run has done 4 epochs, more than epochs=2: nothing to train; it is tested and saved as it " \
           "is" in lines


@pytest.mark.parametrize("change", [dict(rng_state=None), dict(in_progress={"steps": 3})])
def test_a_checkpoint_without_what_resuming_needs_is_refused_in_one_line(tiny_dataset, tmp_path, change):
    import dataclasses

    from xpnet.training.checkpoint import save_checkpoint

    xpnet.fit(dataset=tiny_dataset, save_path=str(tmp_path / "m.npz"), **{**RUN, "epochs": 1})
    damaged = dataclasses.replace(load_checkpoint(tmp_path / "m.npz"), **change)
    save_checkpoint(tmp_path / "d.npz", damaged)
    with pytest.raises(CheckpointError, match=r"d\.npz cannot be resumed: it lacks (rng_state|in_progress\.)"):
        xpnet.fit(resume=tmp_path / "d.npz", dataset=tiny_dataset, log=None)
