"""What the bench's default, --full and --quick plans time, and the estimate and progress it shows; no timings."""

import importlib.util
import re

import pytest

from xpnet.bench import command as bench
from xpnet.bench import plan

ESTIMATE = re.compile(r"^plan: \d+ case\(s\), \d+ round\(s\) each: roughly \d+ (seconds|minutes)"
                      r"(; --full times \d+ case\(s\): roughly \d+ (seconds|minutes))?"
                      r" \(an estimate for a 2-core CPU, from the cases and rounds\)$")
torch_installed = importlib.util.find_spec("torch") is not None


def settings(*flags):
    return bench.settings_from(bench.build_parser().parse_args(list(flags)))


def cnn_texts(chosen):
    return tuple(",".join(arch.tokens) for arch in chosen["cnn"])


def test_the_default_is_the_mlp_at_128_on_a_whole_epoch_and_the_cnn_on_512_images():
    chosen = settings("--backends", "numpy")
    assert chosen["models"] == ((784, 128, 10),) and chosen["batch_sizes"] == {(784, 128, 10): (128,)}
    assert chosen["n_train"] == 60000 and chosen["epochs"] == 3
    assert cnn_texts(chosen) == (bench.DEFAULT_CNN,)
    assert chosen["cnn_images"] == 512 and chosen["cnn_batch_sizes"] == (128,)
    assert [(case.model, case.batch_size, case.examples) for case in plan.cases(chosen)] == [
        ("784-128-10", 128, 60000), ("conv32k5-pool-conv64k5-pool-fc256", 128, 512)]


def test_full_is_every_case_there_was_and_quick_is_unchanged():
    chosen = settings("--full", "--backends", "numpy")
    assert chosen["models"] == ((784, 128, 10), (784, 10), (784, 1024, 10))
    assert chosen["batch_sizes"] == {(784, 128, 10): (128,), (784, 10): (256,), (784, 1024, 10): (1024,)}
    assert chosen["n_train"] == 60000 and chosen["epochs"] == 3
    assert cnn_texts(chosen) == (bench.DEFAULT_CNN,) and chosen["cnn_images"] == 2560
    chosen = settings("--quick", "--backends", "numpy")
    assert chosen["models"] == ((784, 32, 10), (784, 10)) and chosen["n_train"] == 512 and chosen["epochs"] == 1
    assert chosen["batch_sizes"] == {(784, 32, 10): (64,), (784, 10): (64,)}
    assert cnn_texts(chosen) == ("conv4k3,pool,fc16",) and chosen["cnn_images"] == 256


@pytest.mark.skipif(not torch_installed, reason="torch is not installed")
def test_only_full_adds_torch_compile_to_the_installed_backends():
    assert "torch+compile" in settings("--full")["backends"]
    assert "torch+compile" not in settings()["backends"] and "torch" in settings()["backends"]
    assert "torch+compile" not in settings("--quick")["backends"]


@pytest.mark.parametrize("plan_flag", [[], ["--full"], ["--quick"]], ids=["default", "full", "quick"])
def test_flags_that_name_cases_select_exactly_them_under_every_plan(plan_flag):
    chosen = settings(*plan_flag, "--backends", "numpy", "--models", "784-10,784-64-10", "--batch-sizes", "32,512",
                      "--epochs", "2", "--n-train", "1000")
    assert chosen["batch_sizes"] == {(784, 10): (32, 512), (784, 64, 10): (32, 512)} and chosen["cnn"] == ()
    assert [(c.model, c.batch_size, c.examples, c.rounds) for c in plan.cases(chosen)] == [
        ("784-10", 32, 1000, 2), ("784-10", 512, 1000, 2), ("784-64-10", 32, 1000, 2), ("784-64-10", 512, 1000, 2)]
    chosen = settings(*plan_flag, "--backends", "numpy", "--cnn", "conv2k3,pool,fc8", "--cnn-images", "300",
                      "--cnn-batch-sizes", "50")
    assert chosen["models"] == () and cnn_texts(chosen) == ("conv2k3,pool,fc8",)
    assert [(c.model, c.batch_size, c.examples) for c in plan.cases(chosen)] == [("conv2k3-pool-fc8", 50, 300)]


def test_the_default_is_several_times_smaller_than_full():
    """On the same backends: at least 3x fewer rounds x examples summed over the cases, at least 5x
    fewer GFLOP of timed epochs (rounds x implementations x two epochs x an epoch's products), and
    an estimate at least 3x shorter; on the installed backends the default is estimated at most 4 minutes."""
    short, full = plan.cases(settings("--backends", "numpy")), plan.cases(settings("--full", "--backends", "numpy"))
    assert len(full) == 2 * len(short)
    examples = [sum(case.rounds * case.examples for case in cases) for cases in (short, full)]
    assert examples[1] >= 3 * examples[0]
    assert sum(case.work for case in full) >= 5 * sum(case.work for case in short)
    estimates = [plan.estimate_seconds(cases) for cases in (short, full)]
    assert estimates[1] >= 3 * estimates[0]
    assert plan.estimate_seconds(plan.cases(settings())) <= 240


def test_the_estimate_line_states_cases_rounds_and_duration_as_an_estimate():
    parser = bench.build_parser()
    args = parser.parse_args(["--backends", "numpy"])
    line = bench.plan_line(args, bench.settings_from(args))
    assert ESTIMATE.match(line) and "; --full times 4 case(s): roughly" in line, line
    args = parser.parse_args(["--full", "--backends", "numpy"])
    line = bench.plan_line(args, bench.settings_from(args))
    assert ESTIMATE.match(line) and line.startswith("plan: 4 case(s), 3 round(s) each: roughly "), line
    assert "--full" not in line


def test_a_run_says_its_estimate_first_then_a_line_per_case_when_not_on_a_terminal(capsys):
    status = bench.main(["--quick", "--models", "784-10", "--n-train", "64", "--backends", "numpy"])
    err = capsys.readouterr().err.splitlines()
    assert status == 0
    assert ESTIMATE.match(err[0]), err
    cases = [line for line in err if line.startswith("[")]
    assert len(cases) == 2 and cases[0] == "[1/1] 784-10, batch 64: 1 round(s)", err
    assert re.fullmatch(r"\[1/1\] done in \d+ s", cases[1]), err


def test_on_a_terminal_the_cases_advance_a_progress_bar(capsys):
    said = []
    progress = plan.Progress(2, said.append, terminal=True)
    for label in ("784-10, batch 64", "784-128-10, batch 128"):
        progress.start(label)
        progress.done(1.0)
    progress.close()
    assert said == [] and "2/2" in capsys.readouterr().err


def test_full_and_quick_together_are_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        bench.build_parser().parse_args(["--full", "--quick"])
    assert stop.value.code == 2
    assert "--quick: not allowed with argument --full" in capsys.readouterr().err
