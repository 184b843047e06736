"""Hostile numbers and wrong types (issue 25): digits other than ASCII 0-9, numbers of thousands of
digits, networks past the stated depth, shifts past int8, and the Python API given None, ints,
bytes, NUL bytes and arrays. Each is one UsageError line (exit 2 from a command), never a traceback."""

import argparse
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.arguments import MAX_LAYERS
from xpnet.bench import command as bench
from xpnet.errors import UsageError
from xpnet.nn.augment import EpochShifts
from xpnet import train

pytestmark = pytest.mark.hostile

HUGE = "9" * 5000  # past Python's 4,300-digit limit of int('...')
TWENTY = "9" * 20
FIXTURE = str(Path(__file__).parent / "fixtures" / "mlp-784-16-10-v0.1.0.npz")
RUN = ["--dataset", "synthetic:60", "--epochs", "1", "--dry-run"]


def _usage_line(main, argv, capsys) -> str:
    """The first stderr line of ``main(argv)``, which must exit 2."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return err.splitlines()[0]


@pytest.mark.parametrize("argv, fragment", [
    (["--device", "cuda:²"], "unknown device"),
    (["--device", "cuda:²", "--backend", "torch"], "unknown device"),
    (["--device", "cuda:²", "--backend", "numpy"], "unknown device"),
    (["--device", "cuda:²", "--backend", "jax"], "unknown device"),
    (["--device", "cuda:٣", "--backend", "cupy"], "unknown device"),
    (["--device", f"cuda:{TWENTY}", "--backend", "jax"], "N from 0 to 1023"),
    (["--arch", f"fc{HUGE}"], "at most 65,536"),
    (["--arch", f"conv{HUGE}k1"], "at most 65,536"),
    (["--arch", f"conv1k{HUGE}"], "at most 65,536"),
    (["--arch", "fc٣"], "unknown layer"),
    (["--arch", "fc999999999"], "at most 65,536"),
    (["--arch", ",".join(["fc1"] * (MAX_LAYERS + 1))], f"at most {MAX_LAYERS}"),
    (["--arch", ",".join(["conv1k1"] * (MAX_LAYERS + 1))], f"at most {MAX_LAYERS}"),
    (["--hidden", ",".join(["1"] * (MAX_LAYERS + 1))], f"at most {MAX_LAYERS} hidden layers"),
    (["--hidden", "٣"], "the digits 0-9"),
    (["--hidden", HUGE], "at most 65,536 each"),
    (["--epochs", "١"], "the digits 0-9"),
    (["--epochs", "１２"], "the digits 0-9"),
    (["--epochs", "1_000"], "the digits 0-9"),
    (["--epochs", "+3"], "the digits 0-9"),
    (["--epochs", TWENTY], "at most 1,000,000,000"),
    (["--batch-size", TWENTY], "at most 1,000,000,000"),
    (["--seed", TWENTY], "at most 4,294,967,295"),
    (["--shift", "٣"], "the digits 0-9"),
    (["--lr", "١"], "the digits 0-9"),
    (["--momentum", "nan"], "a number"),
    (["--threads", "٣"], "threads from 1 to 4,096"),
])
def test_a_hostile_number_on_the_train_command_is_one_usage_line(argv, fragment, capsys):
    line = _usage_line(train.main, [*RUN, *argv], capsys)
    assert fragment in line


def test_synthetic_with_thousands_of_digits_is_one_line(capsys):
    argv = ["--dataset", f"synthetic:{HUGE}", "--hidden", "4", "--epochs", "1"]
    code = train.main(argv)
    err = capsys.readouterr().err
    assert code in (1, 2) and "Traceback" not in err and "synthetic:N" in err


@pytest.mark.parametrize("argv", [["--models", f"784-{HUGE}-10"], ["--n-train", HUGE], ["--n-train", TWENTY],
                                  ["--models", "784-٣-10"], ["--epochs", "١"]])
def test_a_hostile_number_in_the_bench_is_one_usage_line(argv, capsys):
    line = _usage_line(bench.main, ["--quick", *argv], capsys)
    assert "the digits 0-9" in line


@pytest.mark.parametrize("shift", [128, 150])
def test_a_shift_past_127_pixels_moves_large_images(shift):
    """int8 held the draws; an image of 400 pixels may shift by 150."""
    shifts = EpochShifts(np.random.default_rng(0), 50, shift, (400, 400, 1), lambda host: host)
    codes = shifts.rows(0, 50)
    assert np.abs(codes).max() <= shift and np.abs(codes).max() > 127


def test_the_commands_modules_are_attributes_of_the_package():
    assert xpnet.evaluate.evaluate_checkpoint and xpnet.plot.plot_checkpoint and xpnet.predict.main


WRONG = [None, 5, 2.5, True, b"numpy", "a\0b", np.array(3), np.ones((2, 2), bool), ["numpy"]]


def _calls():
    model = lambda: xpnet.load_model(FIXTURE, dataset="synthetic:60")  # noqa: E731
    return {
        "resolve(backend)": lambda v: xpnet.resolve(v),
        "resolve(device)": lambda v: xpnet.resolve("numpy", v),
        "load_model(backend)": lambda v: xpnet.load_model(FIXTURE, with_data=False, backend=v),
        "load_model(device)": lambda v: xpnet.load_model(FIXTURE, with_data=False, device=v),
        "load_model(with_data)": lambda v: xpnet.load_model(FIXTURE, with_data=v),
        "load_model(dataset)": lambda v: xpnet.load_model(FIXTURE, dataset=v),
        "load_model(data_dir)": lambda v: xpnet.load_model(FIXTURE, dataset="synthetic:60", data_dir=v),
        "load_model(download)": lambda v: xpnet.load_model(FIXTURE, dataset="synthetic:60", download=v),
        "Model.split": lambda v: model().split(v),
        "from_preset": lambda v: xpnet.from_preset(v),
        "fit(preset)": lambda v: xpnet.fit(preset=v, dataset="synthetic:60", log=None),
        "fit(metrics_path)": lambda v: xpnet.fit(dataset="synthetic:60", metrics_path=v, log=None, hidden=4),
        "fit(checkpoint_dir)": lambda v: xpnet.fit(dataset="synthetic:60", checkpoint_dir=v, log=None, hidden=4),
        "fit(progress)": lambda v: xpnet.fit(dataset="synthetic:60", progress=v, log=None, hidden=4, epochs=1),
        "fit(restart)": lambda v: xpnet.fit(dataset="synthetic:60", restart=v, log=None, hidden=4, epochs=1),
        "fit(threads)": lambda v: xpnet.fit(dataset="synthetic:60", threads=v, log=None, hidden=4, epochs=1),
        "evaluate_checkpoint(threads)": lambda v: xpnet.evaluate.evaluate_checkpoint(FIXTURE, threads=v,
                                                                                     dataset="synthetic:60"),
        "plot_checkpoint(out_dir)": lambda v: xpnet.plot.plot_checkpoint(FIXTURE, v, dataset="synthetic:60"),
        "plot_metrics(path)": lambda v: xpnet.plot.plot_metrics(v),
        "plot_metrics(out_dir)": lambda v: xpnet.plot.plot_metrics("run.jsonl", v),
    }


_NAMES = list(_calls())
# Values each call accepts: a good value proves nothing here.
_ACCEPTED = {("fit(progress)", "None"), ("fit(progress)", "True"), ("fit(restart)", "True"),
             ("fit(threads)", "None"), ("fit(threads)", "5"), ("fit(threads)", "array(3)"),
             ("evaluate_checkpoint(threads)", "None"), ("evaluate_checkpoint(threads)", "5"),
             ("evaluate_checkpoint(threads)", "array(3)"), ("load_model(with_data)", "True"),
             ("load_model(dataset)", "None"), ("load_model(data_dir)", "None"), ("load_model(download)", "None"),
             ("load_model(download)", "True"), ("fit(metrics_path)", "None"), ("fit(checkpoint_dir)", "None"),
             ("fit(preset)", "None"), ("from_preset", "None")}


@pytest.mark.parametrize("name", _NAMES)
def test_a_wrong_argument_from_python_is_one_usage_line_naming_it(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call = _calls()[name]
    for value in WRONG:
        if (name, repr(value)) in _ACCEPTED:
            continue
        with pytest.raises(UsageError) as refused:
            call(value)
        assert "\n" not in str(refused.value), (name, value)


@pytest.mark.parametrize("text", ["１２", "1_0", "٣"])
def test_ci_gpu_reports_timeout_takes_ascii_digits_only(text):
    from tests.ci_scripts import load_script

    with pytest.raises(argparse.ArgumentTypeError, match="in the digits 0-9"):
        load_script("gpu_report").seconds(text)
