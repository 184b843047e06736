"""Hostile run folders (issue 25): a received checkpoint that names where xpnet writes, outputs
that name the files xpnet keeps for a run, system and shared folders as a checkpoint folder, a
checkpoint folder that is a link to nothing, and a disk too full for the lock's note.

Victim files planted outside the run's folder must stay byte-identical; each refusal is one
line (exit status 2) before any work.
"""

import contextlib
import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
from saved_models import DATASET, one_line_error
from stopping import stop_after
from test_hostile_outputs import child_env, run_xpnet

import xpnet
from xpnet.arguments import on_the_command_line
from xpnet.errors import UsageError
from xpnet.train import main as train_main
from xpnet.training import outputs as outputs_module
from xpnet.training import run as run_module
from xpnet.training.checkpoint import load_checkpoint, save_checkpoint
from xpnet.training.interrupt import InterruptRequest

pytestmark = pytest.mark.hostile

RUN = dict(backend="numpy", hidden=(16,), batch_size=50, epochs=2, seed=2, log=None)
VICTIM = b"the user's own bytes, which no received checkpoint may replace\n"


def _contents(folder) -> dict:
    """Every file under ``folder``, by relative path, with its bytes."""
    return {os.path.relpath(os.path.join(root, name), folder): open(os.path.join(root, name), "rb").read()
            for root, _, names in os.walk(folder) for name in names}


def _same(a, b) -> bool:
    return all(np.array_equal(W, W2) and np.array_equal(v, v2) for (W, v), (W2, v2) in zip(a, b))


@pytest.fixture
def stopped(tiny_dataset, tmp_path, monkeypatch):
    """A checkpoint of a run stopped 3 steps into epoch 1 (no folder, no outputs)."""
    monkeypatch.chdir(tmp_path)
    stop_after(monkeypatch, 3)
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(dataset=tiny_dataset, **RUN)
    monkeypatch.setattr(run_module, "InterruptRequest", InterruptRequest)
    return load_checkpoint(tmp_path / "xpnet-interrupted.npz")


@pytest.mark.parametrize("forged", ["a run without a folder", "its folder is where it lies",
                                    "a planted folder identity", "links in its folder"])
def test_a_received_checkpoint_writes_none_of_the_paths_it_names(tiny_dataset, tmp_path, stopped, forged):
    """A received file may carry any name, any stored path and any identity: the victim files it
    names outside the folder it lies in stay as they were, and a note names what was not adopted."""
    download, victims = tmp_path / "download", tmp_path / "victims"
    download.mkdir()
    victims.mkdir()
    for name in ("victim.npz", "victim.txt"):
        (victims / name).write_bytes(VICTIM)
    stopped.outputs = {"save_path": str(victims / "victim.npz"), "metrics_path": str(victims / "victim.txt")}
    if forged != "a run without a folder":
        stopped.outputs["checkpoint_dir"] = str(download)
    if forged in ("a planted folder identity", "links in its folder"):
        (download / ".xpnet-folder-id").write_text("0123456789abcdef" * 2 + "\n")
        stopped.outputs["folder_id"] = "0123456789abcdef" * 2
    if forged == "links in its folder":  # inside the folder by name, outside it by where they lead
        for name in ("victim.npz", "victim.txt"):
            (download / name).symlink_to(victims / name)
            stopped.outputs[f"{'save' if name.endswith('npz') else 'metrics'}_path"] = str(download / name)
    received = save_checkpoint(download / "xpnet-interrupted.npz", stopped)
    lines = []
    xpnet.fit(resume=received, dataset=tiny_dataset, log=lines.append)
    assert _contents(victims) == {"victim.npz": VICTIM, "victim.txt": VICTIM}
    note = next(line for line in lines if line.startswith("note: "))
    named = download if forged == "links in its folder" else victims
    assert f"save='{named / 'victim.npz'}', metrics='{named / 'victim.txt'}'" in note, note
    assert note.endswith("to write there, pass them again"), note


@pytest.mark.parametrize("folder", [None, "ck"])
@pytest.mark.parametrize("asked", ["command", "python"])
def test_a_stopped_run_says_how_to_resume_with_its_outputs_and_doing_so_loses_nothing(tmp_path, monkeypatch,
                                                                                      folder, asked):
    """Resuming adopts no output outside the checkpoint folder (none at all without one), so the
    stop message spells the output flags out (the command's flags, or fit's keywords); what it
    gives ends as an uninterrupted run."""
    monkeypatch.chdir(tmp_path)
    run = dict(RUN, dataset=DATASET, hidden=(8,))
    whole = xpnet.fit(**run).host_params()
    stop_after(monkeypatch, 3)
    with pytest.raises(xpnet.TrainingInterrupted) as stop, (on_the_command_line() if asked == "command"
                                                            else contextlib.nullcontext()):
        xpnet.fit(save_path="m.npz", metrics_path="run.jsonl", checkpoint_dir=folder, **run)
    monkeypatch.setattr(run_module, "InterruptRequest", InterruptRequest)
    where = folder or "xpnet-interrupted.npz"
    if asked == "python":
        again = "call fit again as before, or " if folder else ""
        assert str(stop.value).endswith(f"{again}fit(..., resume={where!r}, save='m.npz', metrics='run.jsonl')"), \
            stop.value
        xpnet.fit(resume=where, save="m.npz", metrics="run.jsonl", log=None)
    else:
        hint = f"python -m xpnet.train --resume {where} --save m.npz --metrics run.jsonl"
        assert str(stop.value).endswith(hint), stop.value
        assert train_main([*shlex.split(hint)[3:], "--quiet"]) == 0
    assert _same(load_checkpoint(tmp_path / "m.npz").params, whole)
    records = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [record.get("epoch") for record in records] == [1, 2, None] and "test_accuracy" in records[-1]


def test_an_honest_resume_without_the_flags_names_the_outputs_it_does_not_write(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stop_after(monkeypatch, 3)
    with pytest.raises(xpnet.TrainingInterrupted):
        xpnet.fit(dataset=tiny_dataset, checkpoint_dir="ck", save_path="m.npz", **RUN)
    monkeypatch.setattr(run_module, "InterruptRequest", InterruptRequest)
    lines = []
    xpnet.fit(resume="ck", dataset=tiny_dataset, log=lines.append)
    assert f"note: resuming writes only inside {tmp_path / 'ck'}, its checkpoint folder, so this run does not write " \
           f"where that run wrote (save='{tmp_path / 'm.npz'}'); to write there, pass them again" in lines
    assert not (tmp_path / "m.npz").exists() and (tmp_path / "ck" / "epoch-0002.npz").is_file()


@pytest.fixture
def run_folder(tiny_dataset, tmp_path):
    """A finished run's checkpoint folder (its lock, identity and epoch checkpoint), and its files' bytes."""
    folder = tmp_path / "RUN"
    xpnet.fit(dataset=tiny_dataset, checkpoint_dir=str(folder), **{**RUN, "epochs": 1})
    (folder / "best.npz").write_bytes(VICTIM)
    return folder, _contents(folder)


KEPT = [".xpnet-lock", ".xpnet-folder-id", ".best.npz.0123abcd.tmp", "epoch-0001.npz", "best.npz",
        "xpnet-interrupted.npz", "xpnet-interrupted-best.npz"]


@pytest.mark.parametrize("flag, name", [*(("metrics_path", name) for name in KEPT),
                                        *(("save_path", name) for name in KEPT if name.endswith(".npz"))])
@pytest.mark.parametrize("same_run", [True, False])
def test_an_output_naming_a_file_xpnet_keeps_in_a_checkpoint_folder_is_refused_before_any_work(
        tiny_dataset, run_folder, name, flag, same_run):
    folder, before = run_folder
    where = dict(checkpoint_dir=str(folder)) if same_run else {}
    with pytest.raises(UsageError, match=rf"{name}: {name} is a file xpnet keeps for a run's checkpoints"):
        xpnet.fit(dataset=tiny_dataset, **{flag: str(folder / name)}, **where, **{**RUN, "epochs": 1})
    assert _contents(folder) == before


def test_metrics_into_a_checkpoint_folders_lock_is_one_line_and_the_lock_stays(run_folder):
    folder, before = run_folder
    done = run_xpnet("train", "--dataset", DATASET, "--backend", "numpy", "--hidden", "8", "--epochs", "1",
                     "--checkpoint-dir", folder, "--metrics", folder / ".xpnet-lock")
    assert "--metrics" in one_line_error(done.returncode, 2, done.stderr)
    assert _contents(folder) == before


@pytest.mark.parametrize("link", [False, True])
def test_save_and_metrics_naming_one_file_are_refused(tiny_dataset, tmp_path, link):
    (tmp_path / "m.npz").write_bytes(VICTIM)
    metrics = tmp_path / "m.npz"
    if link:
        metrics = tmp_path / "log.jsonl"
        metrics.symlink_to(tmp_path / "m.npz")
    with pytest.raises(UsageError, match="name the same file|is a symbolic link"):
        xpnet.fit(dataset=tiny_dataset, save_path=str(tmp_path / "m.npz"), metrics_path=str(metrics), **RUN)
    assert (tmp_path / "m.npz").read_bytes() == VICTIM


def _must_not_lock(folder):
    raise AssertionError(f"{folder} was taken as a checkpoint folder")  # before a root runner writes into it


@pytest.mark.parametrize("folder, what", [
    ("/", "the filesystem root"), ("LINK-TO-ROOT", "the filesystem root"), ("/tmp", "a folder anyone may write into"),
    ("/usr", "a system folder"), ("/etc", "a system folder"), ("/lib", "a system folder"), ("/home", "a system folder"),
    ("HOME", "your home folder itself"), ("SHARED", "a folder anyone may write into")])
def test_a_system_home_or_shared_folder_is_refused_as_a_checkpoint_folder(tiny_dataset, tmp_path, monkeypatch,
                                                                          folder, what):
    (tmp_path / "LINK-TO-ROOT").symlink_to("/")
    for mine in ("HOME", "SHARED"):
        (tmp_path / mine).mkdir()
    (tmp_path / "SHARED").chmod(0o1777)  # like /tmp: others could plant checkpoints there
    monkeypatch.setenv("HOME", str(tmp_path / "HOME"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_module, "locked", _must_not_lock)
    monkeypatch.setattr(outputs_module, "locked", _must_not_lock)
    if not os.path.isdir(folder):
        pytest.skip(f"this system has no {folder}")
    before = sorted(os.listdir(folder))
    with pytest.raises(UsageError, match=f"checkpoint_dir {folder} is {what}.*; xpnet deletes old checkpoints"):
        xpnet.fit(dataset=tiny_dataset, checkpoint_dir=folder, **RUN)
    assert sorted(os.listdir(folder)) == before


@pytest.mark.parametrize("kind", ["dangling", "loop", "under a dangling link"])
def test_a_checkpoint_folder_that_is_a_link_to_nothing_is_one_line(tmp_path, kind):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    folder = tmp_path / ("dangling/run" if kind == "under a dangling link" else kind)
    done = run_xpnet("train", "--dataset", DATASET, "--backend", "numpy", "--hidden", "8", "--epochs", "1",
                     "--checkpoint-dir", folder)
    assert "is a link to nothing" in one_line_error(done.returncode, 2, done.stderr)
    assert not (tmp_path / "nowhere").exists()


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # every write to a file then fails (EFBIG), as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from xpnet.train import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE")
def test_a_full_disk_never_stops_a_run_with_a_checkpoint_folder(tmp_path):
    """The lock's note (its PID) and the folder's identity cannot be written: the run goes on,
    each checkpoint that cannot be written a warning, and ends with exit status 0."""
    done = subprocess.run([sys.executable, "-c", FULL_DISK, "--dataset", DATASET, "--backend", "numpy", "--hidden",
                           "8", "--epochs", "2", "--checkpoint-dir", str(tmp_path / "ck")],
                          capture_output=True, text=True, timeout=60, env=child_env(), check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "test accuracy" in done.stdout
    assert done.stderr.count("training goes on") == 2, done.stderr
