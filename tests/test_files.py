"""Every output goes through ``write_output``: whole or not at all, and one line when it cannot."""

import pytest

from xpnet.arguments import on_the_command_line
from xpnet.errors import XpnetError
from xpnet.files import write_output
from xpnet.training.checkpoint import CheckpointError
from xpnet.training.metrics_log import MetricsLog


def test_write_output_writes_the_whole_file_and_returns_its_path(tmp_path):
    path = write_output(tmp_path / "deep" / "out.txt", "hello\n", fix="unused")
    assert path.read_text() == "hello\n" and list(path.parent.iterdir()) == [path]


def test_a_failed_write_is_one_line_naming_the_path_the_reason_and_the_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("kept")
    with pytest.raises(CheckpointError) as caught:
        write_output(blocker / "model.npz", b"x", fix="choose a writable path", error=CheckpointError)
    message = str(caught.value)
    assert message.startswith(f"cannot write {blocker / 'model.npz'}: ") and message.endswith("choose a writable path")
    assert "\n" not in message and blocker.read_text() == "kept"


def test_the_metrics_log_names_its_flag_when_it_cannot_write(tmp_path):
    (tmp_path / "file").write_text("")
    log = MetricsLog(tmp_path / "file" / "metrics.jsonl", [{"epoch": 1}])  # training goes on: a warning
    assert isinstance(log.start_error, XpnetError)
    assert str(log.start_error).endswith("; choose a writable path with metrics")  # fit's keyword
    with on_the_command_line():
        assert str(MetricsLog(tmp_path / "file" / "m.jsonl", [{"epoch": 1}]).start_error).endswith(
            "; choose a writable path with --metrics")
    with pytest.raises(XpnetError, match=r"cannot write .*metrics.jsonl: .*; choose a writable path with metrics$"):
        log.append({"epoch": 2})


@pytest.mark.parametrize("command, flags", [
    ("evaluate", ["CHECKPOINT", "--json", "{tmp}"]),
    ("predict", ["CHECKPOINT", "--index", "0", "--out", "{tmp}/picture.jpg"]),
    ("plot", ["--checkpoint", "CHECKPOINT", "--out-dir", "{tmp}/a-file"]),
    ("bench", ["--quick", "--json", "{tmp}/a-file/bench.json"]),
    ("bench", ["--quick", "--plot", "{tmp}/bench.svg"]),
])
def test_every_command_refuses_an_output_it_cannot_write_before_any_work(tmp_path, monkeypatch, capsys, command,
                                                                         flags):
    import importlib

    (tmp_path / "a-file").write_text("mine")
    module = importlib.import_module("xpnet.bench.command" if command == "bench" else f"xpnet.{command}")
    for name in ("load_model", "run_bench"):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("work began"))
    argv = [flag.format(tmp=tmp_path).replace("CHECKPOINT", str(tmp_path / "model.npz")) for flag in flags]
    status = module.main(argv)
    err = capsys.readouterr().err.splitlines()
    assert status == 2 and len(err) == 2 and "error: --" in err[0], err
    assert (tmp_path / "a-file").read_text() == "mine"


def test_the_temporaries_a_killed_write_left_are_removed_and_only_those(tmp_path):
    from xpnet.files import remove_temporaries_of

    target = tmp_path / "model.npz"
    left = [tmp_path / ".model.npz.0123abcd.tmp", tmp_path / ".model.npz.ffffffff.tmp"]
    others = [tmp_path / ".other.npz.0123abcd.tmp", tmp_path / ".model.npz.xyz.tmp", tmp_path / "model.npz"]
    for path in left + others:
        path.write_bytes(b"x")
    assert sorted(remove_temporaries_of(target)) == sorted(left)
    assert all(path.exists() for path in others) and not any(path.exists() for path in left)
    assert remove_temporaries_of(tmp_path / "missing-folder" / "m.npz") == []


@pytest.mark.parametrize("kind", ["fifo", "socket", "folder"])
def test_an_output_that_is_not_a_regular_file_is_never_replaced(tmp_path, kind):
    import os
    import socket
    import stat

    target = tmp_path / kind
    listener = None
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(target))
    else:
        target.mkdir()
    before = target.stat().st_mode
    try:
        with pytest.raises(XpnetError, match=rf"cannot write {target}: it is a .*, not a regular file; choose"):
            write_output(target, "x", fix="choose another")
        assert target.stat().st_mode == before and not stat.S_ISREG(target.stat().st_mode)
        assert [p.name for p in tmp_path.iterdir()] == [kind]  # no temporary file left either
    finally:
        if listener is not None:
            listener.close()
