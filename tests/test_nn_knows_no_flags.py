"""xpnet.nn names its own parameters; the command layer (xpnet.training.config) names the flags."""

import re
from pathlib import Path

import pytest

import xpnet
from xpnet.errors import UsageError
from xpnet.nn.augment import shift_size
from xpnet.nn.checks import ParameterError
from xpnet.nn.dropout import dropout_rate
from xpnet.nn.optim import make_optimizer
from xpnet.nn.schedules import make_schedule

NN = Path(xpnet.__file__).parent / "nn"


def test_no_file_in_xpnet_nn_mentions_a_flag_or_usage_error():
    found = [f"{path.name}:{number}: {line.strip()}" for path in sorted(NN.glob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"--[a-z]", line) or "UsageError" in line]
    assert found == []


@pytest.mark.parametrize("call, words", [
    (lambda: dropout_rate(1.5), "the dropout rate p must be in [0, 0.99), got 1.5"),
    (lambda: make_optimizer("momentum", 0.1, momentum=1.5), "momentum must be in [0, 1), got 1.5"),
    (lambda: make_optimizer("adam", -1.0), "the learning rate lr must be a finite number above 0, got -1.0"),
    (lambda: make_schedule("cosine", 0.1, 5, 10, warmup_epochs=5), "warmup_epochs must be a whole number from 0"),
    (lambda: shift_size(28, (28, 28)), "the largest shift must be smaller than the images (28x28), got 28"),
])
def test_nn_errors_are_value_errors_naming_their_own_parameter(call, words):
    with pytest.raises(ParameterError) as caught:
        call()
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, UsageError)
    assert str(caught.value).startswith(words)


def test_text_where_a_number_goes_is_also_a_type_error():
    with pytest.raises(TypeError, match="the dropout rate p must be a number"):
        dropout_rate("0.1")


@pytest.mark.parametrize("settings, words", [
    (dict(dropout=1.5), "dropout (--dropout) must be in [0, 0.99), got 1.5"),
    (dict(lr=-1.0), "the learning rate lr (--lr) must be a finite number above 0"),
    (dict(epochs=4, warmup_epochs=4), "warmup_epochs (--warmup-epochs) must be a whole number from 0 to 3"),
])
def test_config_names_the_keyword_and_the_flag(settings, words):
    with pytest.raises(UsageError) as caught:
        xpnet.Config(**settings).validate()
    assert str(caught.value).startswith(words)


@pytest.mark.parametrize("flags, words", [
    (["--dropout", "0.995"], "dropout (--dropout) must be in [0, 0.99)"),
    (["--warmup-epochs", "5", "--epochs", "2"], "(--warmup-epochs) must be a whole number"),
    (["--arch", "fc16,pool"], "--arch fc16,pool: pool must come before the fc layers"),
    (["--arch", "conv8"], "unknown layer 'conv8' in --arch"),
])
def test_the_trainer_names_the_flag_in_one_line_and_exits_2(flags, words, capsys):
    from xpnet.train import main

    status = main(["--dataset", "synthetic:200", *flags])
    err = capsys.readouterr().err.splitlines()
    assert status == 2 and len(err) == 2 and words in err[0], err
