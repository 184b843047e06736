"""A checkpoint folder xpnet owns: numbers compared as numbers, only xpnet's own names chosen or
pruned, a damaged newest checkpoint skipped, the temporaries of killed saves removed, one run at a time."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from xpnet.training.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from xpnet.training.checkpoint_folder import (INTERRUPTED_NAME, FolderInUse, checkpoint_name, epoch_checkpoints,
                                              forget_run, locked, newest_usable, prune, remove_stale_temporaries)


def _checkpoint(epoch: int, steps: int | None = None) -> Checkpoint:
    params = [(np.full((4, 3), epoch, dtype=np.float32), np.zeros(3, dtype=np.float32))]
    in_progress = None if steps is None else {"steps": steps}
    return Checkpoint(params=params, config={}, epoch=epoch, in_progress=in_progress)


def _save(folder, epoch, name=None, steps=None):
    return save_checkpoint(folder / (name or checkpoint_name(epoch)), _checkpoint(epoch, steps))


def test_epoch_numbers_past_9999_are_compared_as_numbers(tmp_path):
    for epoch in (9998, 9999, 10000, 10003):
        _save(tmp_path, epoch)
    assert [epoch for epoch, _ in epoch_checkpoints(tmp_path)] == [9998, 9999, 10000, 10003]
    assert newest_usable(tmp_path)[0].name == "epoch-10003.npz"
    prune(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-10000.npz", "epoch-10003.npz"]


def test_files_the_user_put_there_are_never_chosen_or_pruned(tmp_path):
    _save(tmp_path, 1)
    _save(tmp_path, 2)
    mine = [_save(tmp_path, 7, "epoch-0001-best.npz"), _save(tmp_path, 9, "epoch-final.npz"),
            _save(tmp_path, 8, "my-epoch-0008.npz")]
    backup = tmp_path / "epoch-0008.npz.bak"
    backup.write_bytes((tmp_path / "epoch-0002.npz").read_bytes())
    mine.append(backup)
    assert newest_usable(tmp_path)[0].name == "epoch-0002.npz"
    prune(tmp_path, 1)
    assert all(path.exists() for path in mine) and not (tmp_path / "epoch-0001.npz").exists()
    assert {path.name for path in forget_run(tmp_path)} == {"epoch-0002.npz"}
    assert all(path.exists() for path in mine)


def test_the_interrupted_checkpoint_is_ordered_by_epoch_and_step(tmp_path):
    _save(tmp_path, 2)
    _save(tmp_path, 2, INTERRUPTED_NAME, steps=5)  # 5 steps into epoch 3: newer than epoch-0002
    assert newest_usable(tmp_path)[0].name == INTERRUPTED_NAME
    _save(tmp_path, 3)
    assert newest_usable(tmp_path)[0].name == "epoch-0003.npz"
    only = tmp_path / "only"
    only.mkdir()
    _save(only, 0, INTERRUPTED_NAME, steps=4)  # stopped inside epoch 1: no epoch checkpoint yet
    path, checkpoint = newest_usable(only)
    assert path.name == INTERRUPTED_NAME and checkpoint.in_progress == {"steps": 4}


def test_a_damaged_newest_checkpoint_is_reported_and_the_one_before_used(tmp_path):
    _save(tmp_path, 3)
    (tmp_path / "epoch-9999.npz").write_bytes(b"PK\x03\x04 not really a zip")
    said = []
    path, checkpoint = newest_usable(tmp_path, said.append)
    assert path.name == "epoch-0003.npz" and checkpoint.epoch == 3
    assert len(said) == 1 and "epoch-9999.npz" in said[0] and "allow_pickle" not in said[0]
    (tmp_path / "epoch-0003.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no usable checkpoint in"):
        newest_usable(tmp_path)


def test_temporaries_of_killed_saves_are_removed_and_nothing_else(tmp_path):
    stale = [tmp_path / ".epoch-0003.npz.0a1b2c3d.tmp", tmp_path / f".{INTERRUPTED_NAME}.deadbeef.tmp"]
    kept = [tmp_path / ".notes.txt.0a1b2c3d.tmp", tmp_path / "epoch-0003.npz.tmp", tmp_path / ".epoch-0003.npz.xyz.tmp"]
    for path in stale + kept:
        path.write_bytes(b"partial")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in stale)


HOLD = textwrap.dedent("""
    import sys, time
    from xpnet.training.checkpoint_folder import locked
    with locked(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_second_run_into_the_same_folder_fails_at_once_and_a_dead_runs_lock_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        words = (rf"another xpnet run \(process {holder.pid}\) is writing checkpoints to {tmp_path}; "
                 "wait for it to end, or choose another checkpoint_dir")
        with pytest.raises(FolderInUse, match=words):
            with locked(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with locked(tmp_path):  # killed with SIGKILL: its lock went with it
        assert (tmp_path / ".xpnet-lock").read_text().strip() == str(os.getpid())
