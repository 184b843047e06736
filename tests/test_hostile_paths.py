"""Hostile output paths (issue 25): the command's own stdout or stderr as an output, symbolic links,
loops of links, names too long for the file system, empty and slash-ended paths, a full stdout,
and paths holding escape sequences or newlines.

The rule these tests hold xpnet to: an output that is the process's own standard stream is
written as a stream (appended), text only; xpnet never writes through a symbolic link (refused
before any work, and at write time the link itself is replaced, never its target); every bad
path is one line, exit status 2, before any work; a failed print loses only the printed lines.
"""

import errno
import io
import json
import os
import subprocess
import sys

import pytest
from saved_models import one_line_error
from test_hostile_outputs import EVIL, a_checkpoint, child_env, needs_matplotlib, save_model

from xpnet.errors import UsageError, XpnetError
from xpnet.evaluate import main as evaluate_main
from xpnet.plot import main as plot_main
from xpnet.predict import main as predict_main
from xpnet.train import main as train_main

pytestmark = pytest.mark.hostile

TRAIN = ["--dataset", "synthetic:300", "--hidden", "8", "--epochs", "1", "--backend", "numpy"]
EPOCH_LINE = json.dumps({"epoch": 1, "train_loss": 2.0, "train_accuracy": 0.5}) + "\n"
on_linux = pytest.mark.skipif(not os.path.exists("/proc/self/fd/1"), reason="needs /dev/stdout and /proc/self/fd")


def run_redirected(module: str, *args, cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    """``python -m xpnet.MODULE ARGS`` in ``cwd`` with its fd 1 and 2 sent where given (an open file
    is a shell's ``> FILE``), as a CompletedProcess."""
    return subprocess.run([sys.executable, "-m", f"xpnet.{module}", *map(str, args)], stdout=stdout, stderr=stderr,
                          text=True, cwd=cwd, env=child_env(), timeout=60, check=False)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# --- 5. the command's own stdout or stderr as an output: a stream, appended ----------------------------------

@on_linux
@pytest.mark.parametrize("path", ["/dev/stdout", "/proc/self/fd/1"])
def test_metrics_into_the_redirected_stdout_keep_the_printed_lines_too(tmp_path, path):
    log = tmp_path / "log.txt"
    with open(log, "w") as out:
        inode = os.fstat(out.fileno()).st_ino
        done = run_redirected("train", *TRAIN, "--metrics", path, cwd=tmp_path, stdout=out)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = log.read_text().splitlines()
    assert log.stat().st_ino == inode  # the file the shell opened, not one renamed over it
    assert lines[0].startswith("xpnet ") and lines[-1].startswith("test accuracy ")
    records = json_lines(log.read_text())
    assert [record.get("epoch") for record in records] == [1, None] and "test_accuracy" in records[-1]
    assert lines.index(json.dumps(records[0])) < next(i for i, line in enumerate(lines) if line.startswith("epoch 1/1"))


@on_linux
def test_metrics_into_the_redirected_stderr_keep_its_lines_and_stdout_is_untouched(tmp_path):
    err = tmp_path / "err.txt"
    with open(err, "w") as stream:
        stream.write("before\n")
        stream.flush()
        done = run_redirected("train", *TRAIN, "--metrics", "/dev/stderr", cwd=tmp_path, stderr=stream)
    assert done.returncode == 0 and "test accuracy" in done.stdout and "{" not in done.stdout
    text = err.read_text()
    assert text.startswith("before\n") and [r.get("epoch") for r in json_lines(text)] == [1, None]


@on_linux
def test_metrics_into_a_pipe_are_accepted_up_front_and_written(tmp_path):
    done = run_redirected("train", *TRAIN, "--metrics", "/dev/stdout", cwd=tmp_path)  # stdout is a pipe here
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert [record.get("epoch") for record in json_lines(done.stdout)] == [1, None]


@on_linux
def test_evaluate_json_into_the_redirected_stdout_follows_the_report(tmp_path):
    model = save_model(tmp_path / "model.npz")
    report = tmp_path / "report.txt"
    with open(report, "w") as out:
        done = run_redirected("evaluate", model, "--backend", "numpy", "--json", "/dev/stdout", cwd=tmp_path, stdout=out)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    text = report.read_text()
    start, end = text.index("\n{\n") + 1, text.index("\n}\n") + 2
    assert "test accuracy " in text[:start] and json.loads(text[start:end])["split"] == "test"


@on_linux
@pytest.mark.parametrize("module, flags, name", [
    ("train", [*TRAIN, "--save"], "out.npz"),
    ("predict", ["MODEL", "--index", "0", "--backend", "numpy", "--out"], "out.png"),
])
def test_a_binary_output_into_the_commands_own_stdout_is_refused(tmp_path, module, flags, name):
    model = save_model(tmp_path / "model.npz")
    with open(tmp_path / name, "w") as out:
        done = run_redirected(module, *[model if flag == "MODEL" else flag for flag in flags], name, cwd=tmp_path,
                              stdout=out)
    line = one_line_error(done.returncode, 2, done.stderr)
    assert f"{name} is this command's standard output" in line and "binary" in line
    assert (tmp_path / name).read_text() == ""  # nothing printed, nothing written: refused before any work


# --- 6. never through a symbolic link ------------------------------------------------------------------------

def make_link(tmp_path, kind: str, name: str):
    """(link, its target) at tmp_path/name: to a file holding 'victim', to nothing, or to itself."""
    link, target = tmp_path / name, tmp_path / f"victim{os.path.splitext(name)[1]}"
    if kind == "file":
        target.write_text("victim")
    elif kind == "loop":
        target = link
    link.symlink_to(target)
    return link, target


def untouched(link, target, kind: str) -> bool:
    return link.is_symlink() and (target.read_text() == "victim" if kind == "file" else not os.path.exists(target))


@pytest.mark.parametrize("kind", ["file", "dangling", "loop"])
@pytest.mark.parametrize("command, flags, name", [
    ("train", [*TRAIN, "--save"], "v.npz"),
    ("train", [*TRAIN, "--metrics"], "v.jsonl"),
    ("evaluate", ["MODEL", "--backend", "numpy", "--json"], "v.json"),
    ("predict", ["MODEL", "--index", "0", "--backend", "numpy", "--out"], "v.png"),
])
def test_an_output_that_is_a_link_is_refused_naming_where_it_points(tmp_path, monkeypatch, capsys, command, flags,
                                                                    name, kind):
    model = save_model(tmp_path / "model.npz")
    link, target = make_link(tmp_path, kind, name)
    main = {"train": train_main, "evaluate": evaluate_main, "predict": predict_main}[command]
    status = main([model if flag == "MODEL" else flag for flag in flags] + [str(link)])
    out, err = capsys.readouterr()
    line = one_line_error(status, 2, err)
    assert f"{link} is a symbolic link (to {target}" in line and "does not write through links" in line
    assert out == "" and untouched(link, target, kind)


@needs_matplotlib
@pytest.mark.parametrize("kind", ["file", "dangling", "loop"])
def test_a_picture_plot_would_write_that_is_a_link_is_refused(tmp_path, capsys, kind):
    (tmp_path / "run.jsonl").write_text(EPOCH_LINE)
    link, target = make_link(tmp_path, kind, "run-curves.png")
    line = one_line_error(plot_main(["--metrics", str(tmp_path / "run.jsonl"), "--out-dir", str(tmp_path)]), 2,
                          capsys.readouterr().err)
    assert "run-curves.png is a symbolic link" in line and untouched(link, target, kind)


def test_fit_from_python_refuses_a_link_too(tmp_path):
    import xpnet

    link, target = make_link(tmp_path, "file", "v.npz")
    with pytest.raises(UsageError, match="is a symbolic link"):
        xpnet.fit(dataset="synthetic:300", hidden=(8,), epochs=1, backend="numpy", log=None, save_path=str(link))
    assert untouched(link, target, "file")


def test_a_link_in_a_parent_folder_is_fine(tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    assert train_main([*TRAIN, "--save", str(tmp_path / "via" / "m.npz")]) == 0
    assert (tmp_path / "real" / "m.npz").is_file()


def test_a_write_replaces_a_link_itself_never_its_target(tmp_path):
    """What a checkpoint written into --checkpoint-dir meets when a link was planted at its name."""
    from xpnet.training.checkpoint import load_checkpoint, save_checkpoint

    link, target = make_link(tmp_path, "file", "epoch-0001.npz")
    save_checkpoint(link, a_checkpoint())
    assert target.read_text() == "victim" and not link.is_symlink() and load_checkpoint(link).epoch == 2


def test_a_metrics_file_swapped_for_a_link_during_the_run_is_not_followed(tmp_path):
    from xpnet.training.metrics_log import MetricsLog

    path = tmp_path / "run.jsonl"
    log = MetricsLog(str(path))
    path.unlink()
    link, target = make_link(tmp_path, "file", "run.jsonl")
    with pytest.raises(XpnetError, match="cannot write"):
        log.append({"epoch": 1})
    assert untouched(link, target, "file")


def test_a_metrics_file_swapped_for_a_fifo_during_the_run_is_a_warning_not_a_wait(tmp_path):
    from xpnet.training.metrics_log import MetricsLog

    path = tmp_path / "run.jsonl"
    log = MetricsLog(str(path))
    path.unlink()
    os.mkfifo(path)  # nobody reads it: opening it to write would wait for a reader forever
    with pytest.raises(XpnetError, match="cannot write"):
        log.append({"epoch": 1})


# --- paths the file system refuses: one line before any work, never a traceback -----------------------------

LONG = "a" * 300


@pytest.mark.parametrize("command, flags, path, words", [
    ("train", [*TRAIN, "--save"], "loop/m.npz", "loop of symbolic links"),
    ("train", [*TRAIN, "--metrics"], "loop/m.jsonl", "loop of symbolic links"),
    ("evaluate", ["MODEL", "--backend", "numpy", "--json"], "loop/r.json", "loop of symbolic links"),
    ("predict", ["MODEL", "--index", "0", "--backend", "numpy", "--out"], "loop/p.png", "loop of symbolic links"),
    ("train", [*TRAIN, "--save"], LONG + ".npz", "too long"),
    ("train", [*TRAIN, "--metrics"], LONG, "too long"),
    ("train", [*TRAIN, "--save"], LONG + "/m.npz", "too long"),
    ("evaluate", ["MODEL", "--backend", "numpy", "--json"], LONG, "too long"),
    ("predict", ["MODEL", "--index", "0", "--backend", "numpy", "--out"], LONG + ".png", "too long"),
    ("plot", ["--metrics", "run.jsonl", "--out-dir"], LONG, "too long"),
    ("plot", ["--metrics", "run.jsonl", "--out-dir"], "loop", "is a link to nothing"),
    ("plot", ["--metrics", "run.jsonl", "--out-dir"], "dangling", "is a link to nothing"),
    ("plot", ["--metrics", "run.jsonl", "--out-dir"], "dangling/pictures", "is a link to nothing"),
    ("train", [*TRAIN, "--checkpoint-dir"], "dangling", "is a link to nothing"),
    ("train", [*TRAIN, "--checkpoint-dir"], "loop", "is a link to nothing"),
    ("plot", ["--metrics", "run.jsonl", "--out-dir"], "", "needs a path"),
    ("train", [*TRAIN, "--metrics"], "folder/", "ends in a slash"),
])
def test_a_path_the_file_system_refuses_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, command, flags,
                                                                   path, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "run.jsonl").write_text(EPOCH_LINE)
    model = save_model(tmp_path / "model.npz")
    main = {"train": train_main, "evaluate": evaluate_main, "predict": predict_main, "plot": plot_main}[command]
    status = main([model if flag == "MODEL" else flag for flag in flags] + [path])
    out, err = capsys.readouterr()
    assert words in one_line_error(status, 2, err) and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "loop", "model.npz", "run.jsonl"]


# --- a full stdout: the printed lines are lost, nothing else ---------------------------------------------------

class FullFrom(io.StringIO):
    """A stdout whose device fills up when a line containing ``trigger`` is printed."""

    def __init__(self, trigger: str):
        super().__init__()
        self.trigger, self.full = trigger, False

    def write(self, text: str) -> int:
        self.full = self.full or self.trigger in text
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(text)


@pytest.mark.parametrize("trigger", ["test accuracy", "model saved to"])
def test_a_stdout_that_fills_at_the_last_lines_of_a_run_loses_nothing_else(tmp_path, capsys, monkeypatch, trigger):
    monkeypatch.setattr(sys, "stdout", FullFrom(trigger))
    status = train_main([*TRAIN, "--save", str(tmp_path / "m.npz"), "--checkpoint-dir", str(tmp_path / "ck")])
    line = one_line_error(status, 1, capsys.readouterr().err)
    assert "cannot write to standard output (No space left on device)" in line
    assert (tmp_path / "m.npz").is_file() and (tmp_path / "ck" / "epoch-0001.npz").is_file()


def test_evaluate_on_a_stdout_that_fills_still_writes_its_json(tmp_path, capsys, monkeypatch):
    model = save_model(tmp_path / "model.npz")
    monkeypatch.setattr(sys, "stdout", FullFrom("accuracy"))
    status = evaluate_main([model, "--backend", "numpy", "--json", str(tmp_path / "r.json")])
    assert "standard output" in one_line_error(status, 1, capsys.readouterr().err)
    assert json.loads((tmp_path / "r.json").read_text())["split"] == "test"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("module", ["train", "evaluate"])
def test_a_full_stdout_is_one_line_and_exit_1_with_no_trace_at_exit(tmp_path, module):
    model = save_model(tmp_path / "model.npz")
    args = [*TRAIN, "--save", "m.npz"] if module == "train" else [model, "--backend", "numpy"]
    with open("/dev/full", "w") as full:
        done = run_redirected(module, *args, cwd=tmp_path, stdout=full)
    assert "No space left on device" in one_line_error(done.returncode, 1, done.stderr)
    assert "Exception ignored" not in done.stderr
    assert module == "evaluate" or (tmp_path / "m.npz").is_file()


def test_a_run_started_with_stdout_closed_prints_nothing_and_succeeds(tmp_path):
    """Python's sys.stdout is None then: the guard that keeps a failing stdout from ending a run stays out."""
    done = subprocess.run([sys.executable, "-m", "xpnet.train", *TRAIN, "--save", "m.npz"], stderr=subprocess.PIPE,
                          text=True, cwd=tmp_path, env=child_env(), timeout=60, check=False,
                          preexec_fn=lambda: os.close(1))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "m.npz").is_file()


# --- escape sequences and newlines in paths: printed escaped ---------------------------------------------------

def test_a_save_path_with_escapes_is_printed_escaped(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert train_main([*TRAIN, "--save", f"{EVIL}m.npz"]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "model saved to \\x1b[2J" in out and (tmp_path / f"{EVIL}m.npz").is_file()


@pytest.mark.parametrize("flags, status", [
    (["--resume", f"{EVIL}.npz"], 1),  # no such file
    (["--metrics", f"{EVIL}folder"], 2),  # a folder
    (["--save", f"{EVIL}folder/m.npz"], 2),  # in a folder that is not one
])
def test_an_error_naming_a_path_with_escapes_is_escaped(tmp_path, monkeypatch, capsys, flags, status):
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{EVIL}folder").mkdir()
    (tmp_path / f"{EVIL}folder" / "m.npz").mkdir()
    line = one_line_error(train_main([*TRAIN, *flags]), status, capsys.readouterr().err)
    assert "\x1b" not in line and "\x07" not in line and "\\x1b[2J" in line


@pytest.fixture
def no_mnist_anywhere(tmp_path, monkeypatch):
    """A cache with no MNIST in it (and none in the system's folders), so a known dataset is not found."""
    from xpnet.data.known import DATASETS

    if any(os.path.exists(folder) for folder in DATASETS["mnist"].system_dirs):
        pytest.skip("this machine has a system copy of MNIST")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)


def test_a_data_dir_with_escapes_is_named_escaped(tmp_path, capsys, no_mnist_anywhere):
    status = train_main(["--dataset", "mnist", "--no-download", "--data-dir", str(tmp_path / EVIL), "--epochs", "1"])
    line = one_line_error(status, 2, capsys.readouterr().err)  # no such folder: a bad flag
    assert "\x1b" not in line and "\\x1b[2J" in line


def test_a_data_dir_from_the_environment_holding_a_newline_is_one_line(tmp_path, monkeypatch, capsys,
                                                                      no_mnist_anywhere):
    monkeypatch.setenv("XPNET_DATA_DIR", str(tmp_path / "a\nb"))
    line = one_line_error(train_main(["--dataset", "mnist", "--no-download", "--epochs", "1"]), 1,
                          capsys.readouterr().err)
    assert "a\\x0ab" in line


def test_a_warning_naming_a_path_with_escapes_is_escaped(tmp_path, monkeypatch, capsys):
    import xpnet.training.metrics_log as metrics_log

    def full_disk(path, data, **_):
        raise XpnetError(f"cannot write {path}: No space left on device; {metrics_log._fix()}")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(metrics_log, "write_output", full_disk)
    assert train_main([*TRAIN, "--metrics", f"{EVIL}.jsonl"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "warning: cannot write \\x1b[2J" in err


@pytest.mark.parametrize("command", [["train", "--resume"], ["evaluate"], ["predict", "--index", "0"]])
def test_a_checkpoint_name_too_long_to_look_up_is_one_line(command, tmp_path, capsys):
    """Before: ``OSError: [Errno 36] File name too long`` from the folder-or-file test of the path."""
    name = str(tmp_path / ("a" * 300 + ".npz"))
    main = {"train": train_main, "evaluate": evaluate_main, "predict": predict_main}[command[0]]
    args = [*command[1:], name] if command[0] == "train" else [name, *command[1:]]
    line = one_line_error(main(args), 1, capsys.readouterr().err)
    assert "File name too long" in line and "checkpoint" in line


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_the_bench_refuses_an_empty_output_path_before_any_work(flag, capsys):
    """Before: ``--json ''`` read as no --json: the whole bench ran and wrote nothing."""
    from xpnet.bench.command import main as bench_main

    line = one_line_error(bench_main(["--quick", "--backends", "numpy", flag, ""]), 2, capsys.readouterr().err)
    assert f"{flag} needs a path" in line


@pytest.mark.parametrize("target", ["folder", "/dev/full"])
def test_a_link_to_a_device_or_folder_is_not_answered_with_give_it_itself(tmp_path, capsys, target):
    """'give /dev/full itself' only led to '/dev/full is a character device': the advice went in a circle."""
    pointed = tmp_path / "folder" if target == "folder" else __import__("pathlib").Path(target)
    if target == "folder":
        pointed.mkdir()
    elif not pointed.exists():
        pytest.skip(f"no {target} here")
    (tmp_path / "v.npz").symlink_to(pointed)
    line = one_line_error(train_main([*TRAIN, "--save", str(tmp_path / "v.npz")]), 2, capsys.readouterr().err)
    kind = "a folder" if target == "folder" else "a character device"
    assert f"is a symbolic link (to {pointed}, {kind}); xpnet does not write through links: give a file name" in line
    assert "itself" not in line, line
