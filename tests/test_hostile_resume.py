"""Hostile resuming (issue 25, items 0, 2 and 7, and the tracebacks of edited checkpoints): a dry
run after an interrupted epoch, a signal during the final test, a link planted where a rescued
model goes, and edited checkpoints resumed with ``--resume`` and by rerunning the same command.

A dry run writes and deletes nothing; a signal at any moment after training started leaves a
checkpoint that the same command resumes; an edited checkpoint is one line naming the file and
the bad field (exit status 1), or resumes as the run would have.
"""

import importlib.util
import math
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
from saved_models import one_line_error
from stopping import stop_after
from test_hostile_checkpoints import _contents, _write
from test_rerun import _disk_full_for

import xpnet
from xpnet.errors import UsageError, XpnetError
from xpnet.train import main
from xpnet.training import final_test as final_test_module
from xpnet.training.checkpoint import load_checkpoint
from xpnet.training.checkpoint_folder import INTERRUPTED_NAME, LOCK_NAME
from xpnet.training.interrupt import signal_name
from xpnet.training.run import TrainingInterrupted

pytestmark = pytest.mark.hostile

RUN = dict(dataset="synthetic:600", hidden=(8,), batch_size=50, epochs=2, seed=3, log=None)  # 10 steps an epoch
NEVER = 10 ** 9  # questions before stop_after's Ctrl-C: none comes
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")


def _kept(folder: Path) -> dict:
    """name -> bytes of every file in ``folder`` but its lock."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.name != LOCK_NAME}


def _same_params(a, b) -> bool:
    return all(np.array_equal(W, W2) and np.array_equal(v, v2) for (W, v), (W2, v2) in zip(a, b, strict=True))


# Item 0: a dry run after an interrupted epoch.

@pytest.mark.parametrize("backend", ["numpy", pytest.param("jax", marks=needs_jax)])
def test_a_dry_run_after_an_interrupted_epoch_writes_and_deletes_nothing(tmp_path, monkeypatch, backend):
    """Before: the dry run wrote ck/epoch-0001.npz and deleted the interrupted checkpoint, and the
    rerun skipped the rest of epoch 1. JAX's dry runs are compiled, its default."""
    folder, model, metrics = tmp_path / "ck", tmp_path / "m.npz", tmp_path / "m.jsonl"
    outputs = dict(checkpoint_dir=str(folder), save_path=str(model), metrics_path=str(metrics))
    stop_after(monkeypatch, 4)
    with pytest.raises(TrainingInterrupted, match="in epoch 1 after 4 step"):
        xpnet.fit(backend=backend, compile=False, **outputs, **RUN)  # eager: it stops between steps
    before, metrics_before = _kept(folder), metrics.read_bytes()
    stop_after(monkeypatch, NEVER)
    lines = []
    for resume in (None, folder / INTERRUPTED_NAME):
        result = xpnet.fit(backend=backend, dry_run=True, resume=resume, **outputs, **{**RUN, "log": lines.append})
        assert len(result.history) == 1 and _kept(folder) == before
        assert metrics.read_bytes() == metrics_before and not model.exists()
    assert lines.count("dry run: one step of epoch 1, then the test; no checkpoint, model or metrics file is written "
                       "or deleted") == 2
    lines.clear()
    xpnet.fit(backend=backend, **outputs, **{**RUN, "log": lines.append})
    assert f"resuming from {folder / INTERRUPTED_NAME}: epoch 0 of 2 done, 4 step(s) into epoch 1" in lines
    if backend == "numpy":  # nothing lost: the model of the uninterrupted run, bit for bit
        assert _same_params(load_checkpoint(model).params, xpnet.fit(backend=backend, **RUN).host_params())


def test_a_dry_run_never_replaces_a_saved_model_and_a_signal_during_it_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "m.npz"
    model.write_bytes(b"a model trained for days")
    xpnet.fit(backend="numpy", dry_run=True, save_path=str(model), metrics_path="m.jsonl", checkpoint_dir="ck", **RUN)
    assert model.read_bytes() == b"a model trained for days" and not (tmp_path / "m.jsonl").exists()
    assert not (tmp_path / "ck").exists()  # not even the folder and its lock
    with pytest.raises(UsageError, match="metrics .* is a folder"):  # its outputs are checked all the same
        xpnet.fit(backend="numpy", dry_run=True, metrics_path=str(tmp_path), **RUN)
    stop_after(monkeypatch, 0)
    with pytest.raises(TrainingInterrupted, match="^stopped by Ctrl-C during a dry run, which writes nothing; nothing "
                                                  "to resume$"):
        xpnet.fit(backend="numpy", dry_run=True, **RUN)
    assert os.listdir(tmp_path) == ["m.npz"]


# Item 7: a signal while the trained model is tested.

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("with_folder", [False, True])
def test_a_signal_during_the_final_test_leaves_a_checkpoint_that_resumes(tmp_path, monkeypatch, signum, with_folder):
    """Before: the signal was read by nobody once the epochs were over: exit 0, and a signal during a
    long test or save, or a second one, lost every epoch."""
    whole = xpnet.fit(backend="numpy", **RUN).host_params()
    monkeypatch.chdir(tmp_path)
    outputs = dict(save_path="m.npz", checkpoint_dir="ck" if with_folder else None)
    tested = final_test_module.loss_and_accuracy

    def signalled(*args, **kwargs):  # the signal comes as the test split is evaluated
        os.kill(os.getpid(), signum)
        return tested(*args, **kwargs)
    monkeypatch.setattr(final_test_module, "loss_and_accuracy", signalled)
    kept = os.path.join("ck", "epoch-0002.npz") if with_folder else INTERRUPTED_NAME
    with pytest.raises(TrainingInterrupted, match=f"^stopped by {signal_name(signum)} after epoch 2 of 2; checkpoint "
                                                  f"written to {kept}; to resume, ") as caught:
        xpnet.fit(backend="numpy", **outputs, **RUN)
    assert caught.value.exit_status == 128 + signum and not (tmp_path / "m.npz").exists()
    monkeypatch.setattr(final_test_module, "loss_and_accuracy", tested)
    lines = []
    xpnet.fit(backend="numpy", resume=None if with_folder else kept, **outputs, **{**RUN, "log": lines.append})
    assert f"resuming from {kept}: epoch 2 of 2 done" in lines
    assert _same_params(load_checkpoint(tmp_path / "m.npz").params, whole)
    assert not (tmp_path / INTERRUPTED_NAME).exists()


# Item 2: the rescued model and a planted link.

def test_a_rescued_model_goes_to_a_new_private_folder_never_through_a_planted_link(tmp_path, monkeypatch):
    """Before: the model went to $TMPDIR/xpnet-rescued-PID.npz, through a link planted there."""
    temporary, victim = tmp_path / "tmp", tmp_path / "victim.txt"
    temporary.mkdir()
    victim.write_text("precious")
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    guesses = [f"xpnet-rescued-{pid}{suffix}" for pid in range(os.getpid() - 3, os.getpid() + 4)
               for suffix in (".npz", ".safetensors", "")] + ["xpnet-rescued.npz", "m.npz"]
    for name in guesses:
        (temporary / name).symlink_to(victim)
    target = tmp_path / "full-disk" / "m.npz"
    _disk_full_for(monkeypatch, lambda path: path == str(target))
    with pytest.raises(XpnetError, match=r"No space left on device; .*the model was saved to (\S+) instead") as caught:
        xpnet.fit(backend="numpy", save_path=str(target), **RUN)
    rescued = Path(str(caught.value).split("the model was saved to ")[1].split(" instead")[0])
    assert victim.read_text() == "precious" and all((temporary / name).is_symlink() for name in guesses)
    assert rescued.parent.parent == temporary and rescued.name == "m.npz" and not rescued.is_symlink()
    assert rescued.parent.name.startswith("xpnet-rescued-") and stat.S_IMODE(rescued.parent.stat().st_mode) == 0o700
    assert load_checkpoint(rescued).epoch == 2


# Edited checkpoints: huge numbers, missing keys, zeros, NaN, counts that do not fit.

COMMAND = ["--dataset", "synthetic:600", "--backend", "numpy", "--hidden", "8", "--batch-size", "50", "--epochs", "3",
           "--dev-size", "100", "--early-stopping", "5", "--seed", "3", "--quiet"]  # 10 steps an epoch, watched


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """The checkpoint folder of COMMAND stopped by Ctrl-C 7 steps into epoch 2."""
    folder = tmp_path_factory.mktemp("stopped") / "ck"
    with pytest.MonkeyPatch.context() as patch:
        stop_after(patch, 17)
        assert main([*COMMAND, "--checkpoint-dir", str(folder)]) == 130
    return folder


def _set(*keys, value=None):
    """An edit of the metadata: the field at ``keys`` set to ``value`` (deleted when ``value`` is ...)."""
    def change(meta):
        for key in keys[:-1]:
            meta = meta[key]
        if value is ...:
            del meta[keys[-1]]
        else:
            meta[keys[-1]] = value
    return change


def _in_epoch(**state):
    return lambda meta: meta["in_progress"].update(state)


REFUSED = {  # edit -> what the one line names
    "correct past int64": (_in_epoch(correct=2 ** 63), "in_progress.correct"),
    "correct of 31 digits": (_in_epoch(correct=10 ** 30), "in_progress.correct"),
    "correct above seen": (_in_epoch(correct=351), "in_progress.correct"),
    "loss_sum of 400 digits": (_in_epoch(loss_sum=10 ** 400), "in_progress.loss_sum"),
    "loss_sum NaN": (_in_epoch(loss_sum=math.nan), "in_progress.loss_sum"),
    "loss_sum negative": (_in_epoch(loss_sum=-1.0), "in_progress.loss_sum"),
    "seconds of 400 digits": (_in_epoch(seconds=10 ** 400), "in_progress.seconds"),
    "seconds infinite": (_in_epoch(seconds=math.inf), "in_progress.seconds"),
    "steps of 31 digits": (_in_epoch(steps=10 ** 30), "in_progress.steps"),
    "every step, nothing seen": (_in_epoch(steps=10, seen=0), "in_progress.seen"),
    "steps past the epoch": (_in_epoch(steps=11, seen=550), "in_progress.steps and .seen"),
    "seen not that of its steps": (_in_epoch(seen=349), "in_progress.steps and .seen"),
    "epoch of 31 digits": (_set("epoch", value=10 ** 30), "bad epoch"),
    "epoch 0 after epoch 1's history": (_set("epoch", value=0), "epoch 0 in its metadata, and a history"),
    "history without seconds": (_set("history", 0, "seconds", value=...), "'seconds' of its history's epoch 1"),
    "history without epoch": (_set("history", 0, "epoch", value=...), "'epoch' must be a whole number"),
    "history seconds of 400 digits": (_set("history", 0, "seconds", value=10 ** 400), "'seconds' must be"),
    "history epoch of 31 digits": (_set("history", 0, "epoch", value=10 ** 30), "'epoch' must be a whole number"),
    "history without the watched dev_loss": (_set("history", 0, "dev_loss", value=...), "'dev_loss' of its history"),
    "train_seconds of 400 digits": (_set("progress", "train_seconds", value=10 ** 400), "progress.train_seconds"),
    "train_seconds infinite": (_set("progress", "train_seconds", value=math.inf), "progress.train_seconds"),
    "best epoch after the run's": (_set("progress", "watch", "best_epoch", value=7), "progress.watch.best_epoch"),
    "waited of 31 digits": (_set("progress", "watch", "waited", value=10 ** 30), "progress.watch.waited"),
    "best value NaN": (_set("progress", "watch", "best_value", value=math.nan), "progress.watch.best_value"),
    "monitor unknown": (_set("progress", "watch", "monitor", value="loss"), "progress.watch.monitor"),
    "batch size of 31 digits": (_set("config", "batch_size", value=10 ** 30), "batch_size (--batch-size"),
    "dev size past int64": (_set("config", "dev_size", value=2 ** 63), "dev_size (--dev-size)"),
    "log interval of 31 digits": (_set("config", "log_interval", value=10 ** 30), "log_interval (--log-interval)"),
    "patience of 31 digits": (_set("config", "early_stopping", value=10 ** 30), "patience (--early-stopping)"),
}
RESUMED = {
    "seconds 0": _in_epoch(seconds=0),
    "train_seconds 0": _set("progress", "train_seconds", value=0),
    "history seconds 0": _set("history", 0, "seconds", value=0),
    "history without lr": _set("history", 0, "lr", value=...),
    "checkpoint_every past int64": _set("outputs", "checkpoint_every", value=2 ** 63),
}


def _edited(stopped_run: Path, tmp_path: Path, change) -> Path:
    """A copy of the stopped run's folder whose interrupted checkpoint has ``change`` made to its metadata."""
    folder = tmp_path / "ck"
    shutil.copytree(stopped_run, folder)
    path = folder / INTERRUPTED_NAME
    tensors, meta = _contents(path)
    meta["outputs"]["checkpoint_dir"] = str(folder)
    change(meta)
    return _write(path, tensors, meta)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_edited_checkpoint_resumed_is_one_line_naming_the_file_and_the_field(stopped_run, tmp_path, capsys, case):
    change, field = REFUSED[case]
    path = _edited(stopped_run, tmp_path, change)
    status = main(["--resume", str(path), "--quiet"])
    line = one_line_error(status, 1, capsys.readouterr().err)
    assert str(path) in line and field in line, line


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_edited_checkpoint_in_the_run_folder_is_skipped_or_refused_when_the_command_is_rerun(stopped_run, tmp_path,
                                                                                                capsys, case):
    """Refused on loading: skipped with a warning for the epoch checkpoint before it; refused when
    resuming (it loads, and does not fit the data): one error line."""
    change, field = REFUSED[case]
    path = _edited(stopped_run, tmp_path, change)
    status = main([*COMMAND, "--checkpoint-dir", str(path.parent)])
    err = capsys.readouterr().err
    if status == 0:
        assert err.startswith(f"warning: skipped: checkpoint {path}") and err.count("\n") == 1, err
        assert field in err, err
    else:
        line = one_line_error(status, 1, err)
        assert str(path) in line and field in line, line


@pytest.mark.parametrize("case", sorted(RESUMED))
def test_an_edited_checkpoint_within_range_resumes(stopped_run, tmp_path, capsys, case):
    path = _edited(stopped_run, tmp_path, RESUMED[case])
    assert main(["--resume", str(path), "--quiet"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().err == ""
    assert load_checkpoint(path.parent / "epoch-0003.npz").epoch == 3 and not path.exists()


def test_a_network_edited_in_the_config_is_refused_before_its_memory_is_counted(stopped_run, tmp_path, capsys):
    """Before: a hidden layer in the checkpoint's config far wider than its weights asked for its memory first
    (a usage error blaming flags); now the widest layer any run may have (65,536 units) is named as not the file's."""
    path = _edited(stopped_run, tmp_path, _set("config", "hidden", value=[65536]))
    line = one_line_error(main(["--resume", str(path), "--quiet"]), 1, capsys.readouterr().err)
    assert f"the checkpoint {path} holds a MLP 784-8-10 float32 model but this run asks for MLP 784-65536-10" in line


def test_an_edited_best_checkpoint_without_the_watched_metric_is_not_taken_for_the_best_weights(stopped_run, tmp_path,
                                                                                                 capsys):
    """Before: a KeyError ('dev_loss') when the test line named the best epoch's metric."""
    path = _edited(stopped_run, tmp_path, lambda meta: None).parent / "best.npz"
    tensors, meta = _contents(path)
    del meta["history"][-1]["dev_loss"]
    _write(path, tensors, meta)
    assert main(["--resume", str(path.parent), "--epochs", "1", "--quiet"]) == 0  # tested as epoch 1 left it
    assert capsys.readouterr().err == ("warning: the weights of the best epoch so far (1) were not kept (no "
                                       f"{path} of that epoch); the best epoch from here on will be\n")


def test_a_dry_run_refuses_restart_which_would_delete_the_folders_run(tmp_path):
    """Before: --dry-run --restart deleted every checkpoint of the finished run, then said it deleted nothing."""
    folder = tmp_path / "ck"
    xpnet.fit(backend="numpy", checkpoint_dir=str(folder), **RUN)
    before = _kept(folder)
    with pytest.raises(UsageError, match="^restart deletes the checkpoints of the folder's run, and a dry run "
                                         "writes and deletes nothing; leave out restart or dry_run$"):
        xpnet.fit(backend="numpy", checkpoint_dir=str(folder), dry_run=True, restart=True, **RUN)
    assert _kept(folder) == before
    lines = []
    xpnet.fit(backend="numpy", checkpoint_dir=str(folder), dry_run=True, **{**RUN, "log": lines.append})
    assert "dry run: no step (none is left), then the test; no checkpoint, model or metrics file is written or " \
           "deleted" in lines and _kept(folder) == before
