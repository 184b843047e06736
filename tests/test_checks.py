"""Each hyperparameter check is written once (xpnet.nn.checks) and gives the same line wherever a value enters."""

import numpy as np
import pytest

from xpnet import Config
from xpnet.errors import UsageError
from xpnet.nn.checks import fraction, non_negative, positive, whole
from xpnet.nn.dropout import EpochDropout
from xpnet.nn.optim import make_optimizer
from xpnet.nn.schedules import make_schedule


@pytest.mark.parametrize("check, value", [
    (positive, 0), (positive, -1), (positive, float("nan")), (positive, float("inf")), (positive, "x"),
    (positive, True), (non_negative, -1e-9), (non_negative, None), (fraction, 1.0), (fraction, -0.1),
])
def test_numbers_outside_their_range_are_refused_in_one_line(check, value):
    with pytest.raises(ValueError) as caught:
        check("setting", value)
    assert "setting" in str(caught.value) and repr(value) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [-1, 1.5, "3", True, None])
def test_whole_numbers_refuse_negatives_floats_strings_and_bools(value):
    with pytest.raises(ValueError, match="must be a whole number, 0 or more"):
        whole("seed", value, 0)


def test_whole_numbers_accept_numpy_integers_as_plain_ints():
    value = whole("seed", np.int64(7), 0)
    assert value == 7 and type(value) is int


def _message(make, kind=UsageError) -> str:
    with pytest.raises(kind) as caught:
        make()
    return str(caught.value)


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan")])
def test_a_bad_learning_rate_reads_the_same_from_config_optimiser_and_schedule(lr):
    from_config = _message(lambda: Config(lr=lr).validate())
    from_optimiser = _message(lambda: make_optimizer("adam", lr), ValueError)
    assert from_optimiser == _message(lambda: make_schedule("cosine", lr, 3, 10), ValueError).replace("base_lr", "lr")
    assert from_config == from_optimiser.replace("lr", "lr (--lr)", 1)
    assert "learning rate" in from_config


@pytest.mark.parametrize("p", [0.995, 0.999, 1.0, -0.5])
def test_dropout_that_would_keep_no_unit_is_refused_the_same_way_everywhere(p):
    from_config = _message(lambda: Config(dropout=p).validate())
    from_dropout = _message(lambda: EpochDropout(np.random.default_rng(0), 4, (3,), p, np.asarray), ValueError)
    assert from_config == from_dropout.replace("the dropout rate p", "dropout (--dropout)")
    assert from_config.startswith("dropout (--dropout) must be in [0, 0.99)")


def test_dropout_at_the_highest_rate_still_keeps_some_units():
    import array_api_compat.numpy as xp

    dropout = EpochDropout(np.random.default_rng(0), 1000, (50,), 0.989, np.asarray)
    factors = dropout.factors(dropout.rows(0, 1000), xp.float64, xp)[0]
    assert 0 < np.count_nonzero(factors) < factors.size and np.all(np.isfinite(factors))


@pytest.mark.parametrize("flag", [["--seed", "-1"], ["--dropout", "0.999"], ["--hidden", "0"], ["--lr", "0"]])
def test_the_trainer_refuses_them_before_any_work_with_two_lines_and_status_2(flag, capsys):
    from xpnet.train import main

    try:
        status = main(["--dataset", "synthetic:200", "--epochs", "1", *flag])
    except SystemExit as stop:  # refused by the flag's parser, before main returns
        status = stop.code
    err = capsys.readouterr().err.splitlines()
    assert status == 2 and len(err) == 2 and err[0].startswith("python -m xpnet.train: error: "), err
    assert err[1] == "try: python -m xpnet.train --help"


@pytest.mark.parametrize("settings, words", [
    (dict(backend=3), "backend must be a string such as 'auto', got 3"),
    (dict(device=None), "device must be a string"),
    (dict(init=3), "init must be a string such as 'he'"),
    (dict(optimizer="momentum", momentum="0.9"), r"momentum \(--momentum\) must be a number, got '0.9'"),
    (dict(dropout="0.1"), "dropout .* must be a number"),
    (dict(normalize="no"), "normalize must be True or False, got 'no'"),
    (dict(download="no"), "download must be True or False"),
    (dict(hidden=2.5), "hidden must be layer sizes"),
    (dict(hidden="a,b"), r"hidden sizes \(--hidden\) must be whole numbers"),
    (dict(threads=10**20), r"threads \(--threads\) must be at most 4096"),
    (dict(epochs="3"), r"epochs \(--epochs\) must be a whole number"),
])
def test_values_of_the_wrong_type_from_python_are_one_line_usage_errors(settings, words):
    with pytest.raises(UsageError, match=words):
        Config(**settings).validate()


@pytest.mark.parametrize("arguments, words", [
    (dict(dataset=42), "dataset must be a name, a folder or an xpnet.data.Dataset, got 42"),
    (dict(dataset=["mnist"]), "dataset must be"),
    (dict(metrics_path=42), "paths must be strings or os.PathLike, got 42"),
    (dict(checkpoint_dir=42), "paths must be"),
    (dict(log=42), "log must be a function"),
])
def test_fit_refuses_arguments_of_the_wrong_type_in_one_line(arguments, words):
    import xpnet

    with pytest.raises(UsageError, match=words):
        xpnet.fit(**{"backend": "numpy", "log": None, **arguments})
    with pytest.raises(UsageError, match="config must be an xpnet.Config"):
        xpnet.fit("x")


@pytest.mark.parametrize("hidden, sizes", [(256, (256,)), ("256", (256,)), ("512,256", (512, 256)), ("none", ()),
                                           ([64, 32], (64, 32))])
def test_hidden_sizes_from_python_read_as_the_command_line_reads_them(hidden, sizes):
    assert Config(hidden=hidden).validate().hidden == sizes


@pytest.mark.parametrize("flag", ["--save", "--metrics", "--checkpoint-dir"])
def test_an_empty_output_path_is_refused_not_ignored(flag, capsys):
    from xpnet.train import main

    assert main(["--dataset", "synthetic:200", "--epochs", "1", flag, ""]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"python -m xpnet.train: error: {flag} needs a path, and '' is none; give one, or leave {flag} out"


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "plot", "bench"])
def test_an_absurd_thread_count_is_a_usage_error_everywhere(command, capsys):
    import importlib

    module = importlib.import_module("xpnet.bench.command" if command == "bench" else f"xpnet.{command}")
    argv = {"train": [], "evaluate": ["m.npz"], "predict": ["m.npz", "--index", "0"], "plot": ["--metrics", "m.jsonl"],
            "bench": ["--quick"]}[command]
    with pytest.raises(SystemExit) as stop:
        module.main([*argv, "--threads", "99999999999999999999"])
    assert stop.value.code == 2 and "expected a number of threads from 1 to 4,096" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1"])
def test_too_few_threads_are_not_called_too_many(value, capsys):
    """--threads 0 once said 'expected at most 4096 threads, got '0'', a limit 0 does not break."""
    from xpnet import train

    with pytest.raises(SystemExit) as stop:
        train.main(["--threads", value])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f"expected a number of threads from 1 to 4,096, got '{value}'" in err
