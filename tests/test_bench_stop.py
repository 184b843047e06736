"""A bench stopped by Ctrl-C, SIGTERM or a second Ctrl-C says so in one line of its own, exits with
128 + the signal's number and writes nothing: no interrupted checkpoint, no resume hint, no --json.

The in-process cases raise the signal at a known moment (inside a fit's training step, inside a
callback whose exceptions Python ignores); the child-process cases send it from outside, as a
terminal or ``timeout`` does, while the bench runs its turns."""

import signal
import subprocess
import sys

import pytest
from test_hostile_outputs import child_env

from xpnet.bench import command as bench
from xpnet.bench import references as refs
from xpnet.nn.layers import Dense

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TINY = ["--quick", "--models", "784-10", "--n-train", "64", "--backends", "numpy"]
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def _signalling(function, *signums, before=None):
    """``function``, which first raises ``signums`` in this process, one after the other, on its first
    call (or calls ``before()`` instead, which raises one)."""
    calls = []

    def signalled(*args, **kwargs):
        if not calls:
            calls.append(True)
            for signum in signums:
                signal.raise_signal(signum)
            if before is not None:
                before()
        return function(*args, **kwargs)

    return signalled


def _run_in(folder, monkeypatch, capsys) -> tuple[int, list[str]]:
    """The tiny bench run in ``folder`` with --json there: (status, stderr lines)."""
    monkeypatch.chdir(folder)
    status = bench.main([*TINY, "--json", "out.json"])
    return status, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_inside_a_fit_writes_no_checkpoint_and_gives_the_benchs_line(tmp_path, monkeypatch, capsys,
                                                                             signum):
    """A fit called by the bench used to answer the signal as a training run does: it wrote
    xpnet-interrupted.npz into the current folder and printed how to resume it."""
    (tmp_path / "out.json").write_text("mine")
    monkeypatch.setattr(Dense, "backward", _signalling(Dense.backward, signum))
    status, err = _run_in(tmp_path, monkeypatch, capsys)
    assert status == 128 + signum, err
    assert err[-1] == f"bench stopped by {NAMES[signum]} after 0 of 1 case(s); nothing written", err
    assert not any("resume" in line or "Traceback" in line for line in err), err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.json"]
    assert (tmp_path / "out.json").read_text() == "mine"


def test_a_ctrl_c_inside_a_callback_whose_errors_python_ignores_still_stops_the_bench(tmp_path, monkeypatch,
                                                                                      capsys):
    """As in JAX's garbage-collector callback: the KeyboardInterrupt raised there was printed as
    'Exception ignored' and lost, and the bench ran on to the end and wrote its outputs."""
    class SignalsWhenCollected:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)

    def collected_at_once():
        SignalsWhenCollected()

    monkeypatch.setattr(refs, "numpy_loop_epoch", _signalling(refs.numpy_loop_epoch, before=collected_at_once))
    status, err = _run_in(tmp_path, monkeypatch, capsys)
    assert status == 130, err
    assert err[-1] == "bench stopped by Ctrl-C after 0 of 1 case(s); nothing written", err
    assert list(tmp_path.iterdir()) == []


def test_a_second_ctrl_c_stops_at_once_with_the_benchs_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Dense, "backward", _signalling(Dense.backward, signal.SIGINT, signal.SIGINT))
    status, err = _run_in(tmp_path, monkeypatch, capsys)
    assert status == 130, err
    assert err[-2].startswith("Ctrl-C: the bench stops before its next turn"), err
    assert err[-1] == "bench stopped by Ctrl-C after 0 of 1 case(s); nothing written", err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_from_outside_while_the_bench_runs_is_one_line_and_128_plus_its_number(tmp_path, signum):
    """Sent once the first case has begun, at whatever moment of its turns (fits, references, the
    floor): SIGTERM outside a fit used to end the bench without a word, Ctrl-C with 'interrupted'."""
    many_rounds = [*TINY, "--epochs", "100000", "--json", "out.json"]
    run = subprocess.Popen([sys.executable, "-m", "xpnet.bench", *many_rounds], cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        while not (lines and lines[-1].startswith("[1/1]")):
            line = run.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        run.send_signal(signum)
        out, rest = run.communicate(timeout=60)
    finally:
        run.kill()
    err = "".join(lines) + rest
    assert run.returncode == 128 + signum, err
    assert err.splitlines()[-1].startswith(f"bench stopped by {NAMES[signum]} after 0 of 1 case(s)"), err
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []


def test_json_and_plot_naming_one_file_are_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: pytest.fail("work began"))
    monkeypatch.chdir(tmp_path)
    status = bench.main([*TINY, "--json", "bench.png", "--plot", "./bench.png"])
    err = capsys.readouterr().err.splitlines()
    assert status == 2 and "error: --json bench.png and --plot ./bench.png name the same file" in err[0], err


def test_a_ctrl_c_while_the_libraries_shut_down_ends_the_bench_without_a_traceback(tmp_path):
    """After the bench's line or table, JAX's exit handlers take a while, and a Ctrl-C among
    them printed 'Exception ignored in atexit callback' and a traceback from their code."""
    after_the_bench = ("import atexit, runpy, signal, sys; "
                       "atexit.register(signal.raise_signal, signal.SIGINT); "  # runs after the bench's main
                       f"sys.argv = ['xpnet.bench', *{TINY!r}]; runpy.run_module('xpnet.bench', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", after_the_bench], cwd=tmp_path, capture_output=True, text=True,
                          env=child_env(), timeout=120)
    # Ended by the signal itself (-2), which a shell shows as 130, as a command does when Ctrl-C ends it.
    assert done.returncode in (130, -signal.SIGINT), done.stderr
    assert "Traceback" not in done.stderr and "| 784-10 |" in done.stdout, done.stderr


def test_a_turn_that_fails_after_a_signal_is_the_stop_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Ctrl-C at a terminal also kills the compiler torch.compile runs as a child (g++), and the
    turn then failed with PyTorch's compile error, hundreds of lines of it, instead of stopping."""
    def compiler_killed(*args, **kwargs):
        raise RuntimeError("C++ compile error: g++ died of SIGINT\n" + "warning: ...\n" * 300)

    monkeypatch.setattr(Dense, "backward", _signalling(compiler_killed, signal.SIGINT))
    status, err = _run_in(tmp_path, monkeypatch, capsys)
    assert status == 130, err
    assert err[-1] == ("bench stopped by Ctrl-C after 0 of 1 case(s) (the running turn failed as it stopped: "
                       "RuntimeError); nothing written"), err
    assert list(tmp_path.iterdir()) == []
