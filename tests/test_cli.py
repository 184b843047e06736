"""``python -m xpnet.train`` end to end, in a subprocess, on tiny generated data."""

import argparse
import json
import os
import subprocess
import sys

import pytest

from xpnet.backend import cuda_problem
from xpnet.cli import SHARED_FLAGS, add_shared, example_parser
from xpnet.training.config import DTYPES


def run_train(*args, env=None, cwd=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "xpnet.train", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300)


def assert_one_line_error(result, status):
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if status == 2:  # a usage error: its line, then where to look, and no usage block
        assert lines[-1:] == ["try: python -m xpnet.train --help"], result.stderr
        lines.pop()
    assert len(lines) == 1 and lines[0].startswith(("error:", "python -m xpnet.train: error:")), result.stderr
    return lines[0]


def test_trains_end_to_end_and_writes_metrics(tmp_path):
    metrics = tmp_path / "m.jsonl"
    result = run_train("--dataset", "synthetic:500", "--backend", "numpy", "--epochs", "2", "--hidden", "32",
                       "--batch-size", "50", "--dev-size", "100", "--metrics", str(metrics))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "backend numpy on cpu, float32" in out
    assert "MLP 784-32-10" in out and "400 train, 100 dev" in out
    assert "epoch 2/2" in out and "dev acc" in out and "ex/s" in out
    assert "test accuracy" in out.splitlines()[-1]
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert len(records) == 3 and records[-1]["config"]["hidden"] == [32]


def test_preset_with_an_override_and_quiet():
    result = run_train("--preset", "seed000", "--dataset", "synthetic:300", "--epochs", "1", "--quiet",
                       "--backend", "array-api-strict")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_full_batch_and_softmax_regression_flags():
    result = run_train("--dataset", "synthetic:300", "--hidden", "none", "--batch-size", "full", "--epochs", "3",
                       "--lr", "0.5", "--init", "uniform:0.05", "--no-normalize", "--log-interval", "2")
    assert result.returncode == 0, result.stderr
    assert "softmax regression 784-10" in result.stdout and "batch full" in result.stdout
    assert "epoch 2/3" in result.stdout and "epoch 1/3" not in result.stdout  # full batch: a step an epoch


def test_log_interval_counts_batches_and_piped_prints_the_running_figures_as_pytorch_does():
    # 6 steps an epoch: steps 4 and 8 (epoch 2's second) have a line; 12 is epoch 2's last, and its line covers it
    result = run_train("--dataset", "synthetic:300", "--hidden", "8", "--batch-size", "50", "--epochs", "2",
                       "--log-interval", "4")
    assert result.returncode == 0, result.stderr
    batch_lines = [line for line in result.stdout.splitlines() if "%)]" in line]
    assert [line.split("  train loss")[0] for line in batch_lines] == ["epoch 1/2  [200/300 (67%)]",
                                                                       "epoch 2/2  [100/300 (33%)]"]
    assert all("train acc" in line for line in batch_lines)


@pytest.mark.parametrize("args", [
    ["--epochs", "0"], ["--lr", "abc"], ["--hidden", "12,x"], ["--batch-size", "-3"], ["--backend", "mxnet"],
    ["--dtype", "int8"], ["--init", "gauss:1"], ["--device", "tpu"], ["--preset", "seed999"], ["--frobnicate"],
    ["--dev-size", "300"], ["--optimizer", "lbfgs"], ["--schedule", "linear"], ["--warmup-epochs", "20"],
    ["--momentum", "1.5", "--optimizer", "momentum"], ["--weight-decay", "-1"],
])
def test_bad_usage_exits_2_with_a_message(args):
    result = run_train("--dataset", "synthetic:300", *args)
    line = assert_one_line_error(result, 2)
    assert "error:" in line


def test_device_cuda_without_cuda_is_one_line_and_exit_1():
    if cuda_problem() is None:
        pytest.skip("CUDA is usable here")
    result = run_train("--dataset", "synthetic:300", "--device", "cuda")
    line = assert_one_line_error(result, 1)
    assert "cuda" in line and ("install" in line or "driver" in line)


def test_missing_data_offline_is_one_line(tmp_path):
    (tmp_path / "none").mkdir()
    env = {"XPNET_DATA_DIR": str(tmp_path / "none"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = run_train("--dataset", "mnist", "--no-download", env=env)
    line = assert_one_line_error(result, 1)
    assert "mnist" in line


def test_a_folder_dataset(tmp_path):
    from xpnet.data import make_synthetic, write_mnist_folder

    write_mnist_folder(tmp_path / "kmnist", make_synthetic(300, 60, seed=4), compress=False)
    result = run_train("--dataset", str(tmp_path / "kmnist"), "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "300 train" in result.stdout


def test_help_shows_every_default():
    result = run_train("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag in ("--lr", "--batch-size", "--epochs", "--seed", "--hidden", "--backend", "--device", "--dtype",
                 "--dev-size", "--log-interval", "--init"):
        assert flag in text
    assert text.count("(default:") >= 15


# --- The shared flags: one definition in xpnet.cli, taken by every command ---


def shared_declarations() -> dict[str, dict[str, argparse.Action]]:
    """{flag: {command: its action}} for every flag of SHARED_FLAGS that a command declares."""
    from ci_scripts import load_script
    from xpnet import evaluate, plot, predict, train
    from xpnet.bench import command as bench

    parsers = {"train": train.build_parser(), "evaluate": evaluate.build_parser(), "predict": predict.build_parser(),
               "plot": plot.build_parser(), "bench": bench.build_parser(),
               "ci/parity.py": load_script("parity").build_parser(), "examples": example_parser("an example")}
    found = {}
    for command, parser in parsers.items():
        for action in parser._actions:
            for flag in set(action.option_strings) & set(SHARED_FLAGS):
                found.setdefault(flag, {})[command] = action
    return found


def declaration(action: argparse.Action, *, choices: bool = True) -> tuple:
    """What must not differ between two commands: everything but the default and its text."""
    base, _, _ = action.help.rpartition(" (default: ")
    return (type(action), action.dest, action.type, action.metavar, action.const, action.nargs, base,
            tuple(action.choices or ()) if choices else None)


def test_every_command_declares_each_shared_flag_alike():
    found = shared_declarations()
    assert set(found) == set(SHARED_FLAGS)
    for flag in ("--dataset", "--data-dir", "--backend", "--device", "--threads"):
        assert {"train", "evaluate", "predict", "plot"} <= set(found[flag]), flag
    assert {"train", "bench", "ci/parity.py"} <= set(found["--dtype"])
    assert {"train", "bench"} <= set(found["--threads"])
    for flag, actions in found.items():
        assert len(actions) >= 2, f"{flag} is declared by {list(actions)} alone: not a shared flag"
        for command, action in actions.items():
            assert action.help.endswith(")") and " (default: " in action.help, (command, flag, action.help)
            assert action.help.startswith(SHARED_FLAGS[flag].help), (command, flag)
        # ci/parity.py's --dtype also takes 'both'; its other choices are the shared ones.
        widened = {command for command in actions if (command, flag) == ("ci/parity.py", "--dtype")}
        forms = {command: declaration(action, choices=command not in widened) for command, action in actions.items()}
        reference = next(iter(forms.values()))
        for command, form in forms.items():
            expected = reference[:-1] + (None,) if command in widened else reference
            assert form == expected, f"{flag}: {command} declares it differently from {next(iter(forms))}"
    assert set(DTYPES) < set(found["--dtype"]["ci/parity.py"].choices)


def test_train_leaves_absent_shared_flags_to_the_preset_and_config():
    from xpnet import evaluate, train

    given = vars(train.build_parser().parse_args([]))
    shared_dests = {"dataset", "data_dir", "download", "backend", "device", "dtype", "threads", "hidden", "seed"}
    assert not shared_dests & set(given)
    assert vars(train.build_parser().parse_args(["--no-download", "--hidden", "none", "--seed", "3"])) == {
        **given, "download": False, "hidden": (), "seed": 3}
    options = vars(evaluate.build_parser().parse_args(["model.npz"]))
    assert {key: options[key] for key in ("dataset", "data_dir", "download", "backend", "device", "threads")} == {
        "dataset": None, "data_dir": None, "download": None, "backend": "auto", "device": "auto", "threads": None}


def test_a_shared_flag_must_say_its_default():
    parser = argparse.ArgumentParser()
    with pytest.raises(TypeError, match="--device"):
        add_shared(parser, "--device")
    action = add_shared(parser, "--hidden", (512, 256))
    assert action.help.endswith("(default: 512,256)") and action.default == (512, 256)


def test_a_mistyped_flag_is_named_before_the_complaints_it_causes(capsys):
    from xpnet.predict import main

    with pytest.raises(SystemExit) as stop:
        main(["model.npz", "--indx", "0"])
    err = capsys.readouterr().err.splitlines()
    assert stop.value.code == 2 and err == ["python -m xpnet.predict: error: unrecognized arguments: --indx",
                                            "try: python -m xpnet.predict --help"]


def test_the_installed_command_names_itself_in_its_help_and_errors(tmp_path):
    import shutil
    from pathlib import Path

    command = Path(sys.executable).with_name("xpnet-train")
    command = str(command) if command.exists() else shutil.which("xpnet-train")
    if command is None:
        pytest.skip("the xpnet-train command is not installed (pip install -e .)")
    shown = subprocess.run([command, "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: xpnet-train "), shown.stdout[:80]
    refused = subprocess.run([command, "--epochs", "0"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert refused.returncode == 2 and refused.stderr.startswith("xpnet-train: error: "), refused.stderr
