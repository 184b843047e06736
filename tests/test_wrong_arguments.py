"""The building blocks a Python user calls (fit, train_epoch, Step, EpochPlan) refuse arguments of
the wrong type or value in one line naming the argument, before any step runs."""

import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve
from xpnet.errors import UsageError
from xpnet.nn.init import init_params
from xpnet.nn.optim import SGD
from xpnet.training.compiled import CompiledEpochs
from xpnet.training.device_data import DeviceSplit, images_to_device, labels_to_device
from xpnet.training.epoch import EpochHooks, EpochPlan, train_epoch
from xpnet.training.step import Step


@pytest.mark.parametrize("keyword, value, named", [
    ("save", 123, "save"), ("metrics", 5, "metrics"), ("save_path", 3, "save"), ("metrics_path", ["m.jsonl"], "metrics"),
    ("checkpoint_dir", 3, "checkpoint_dir"), ("resume", b"x.npz", "resume")])
def test_fit_names_the_path_keyword_of_the_wrong_type(keyword, value, named, tmp_path, monkeypatch):
    """The documented keyword (the flag's name), never an internal one: fit(save=123) names save."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=rf"^{named} \(--[a-z-]+\): paths must be strings"):
        xpnet.fit(dataset="synthetic:50", backend="numpy", log=None, **{keyword: value})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def epoch_inputs(tiny_dataset):
    backend = resolve("numpy", "cpu")
    data = DeviceSplit(images_to_device(tiny_dataset.train_images, backend, "float32", True),
                       labels_to_device(tiny_dataset.train_labels, backend)).with_one_hot(10)
    params = init_params([data.X.shape[1], 8, 10], np.random.default_rng(0))
    return params, data


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("change, error, words", [
    (dict(step=SGD(0.1)), TypeError, r"^step must be an xpnet.training.step.Step, got <xpnet.nn.optim.SGD"),
    (dict(params=None), TypeError, r"^params must be a list of \(W, b\) pairs"),
    (dict(params=[1, 2]), TypeError, r"^params must be a list of \(W, b\) pairs"),
    (dict(data="train"), TypeError, r"^data must be an xpnet.training.device_data.DeviceSplit, got 'train'"),
    (dict(batch_size=0), ValueError, r"^batch_size must be a whole number, 1 or more"),
    (dict(batch_size=-5), ValueError, r"^batch_size must be a whole number, 1 or more"),
    (dict(batch_size="32"), TypeError, r"^batch_size must be a whole number"),
    (dict(plan=np.arange(4)), TypeError, r"^plan must be an xpnet.training.epoch.EpochPlan or None"),
    (dict(plan=EpochPlan(np.arange(3))), ValueError, r"^plan.order must be a permutation of the data's \d+ rows"),
    (dict(plan=EpochPlan([0, 1])), ValueError, r"^plan.order must be a permutation"),
    (dict(hooks=lambda: False), TypeError, r"^hooks must be an xpnet.training.epoch.EpochHooks or None"),
])
def test_an_epoch_names_the_argument_it_cannot_take(epoch_inputs, compiled, change, error, words):
    if compiled:
        pytest.importorskip("jax")
    epoch_function = CompiledEpochs(resolve("jax", "cpu")) if compiled else train_epoch
    params, data = epoch_inputs
    arguments = dict(step=Step(SGD(0.1)), params=params, data=data, batch_size=16, plan=None, hooks=EpochHooks())
    arguments.update(change)
    with pytest.raises(error, match=words):
        epoch_function(*arguments.values())


@pytest.mark.parametrize("fields, words", [
    (dict(optimizer="sgd"), r"^Step's optimizer must be an optimiser of xpnet.nn.optim .*, got 'sgd'"),
    (dict(optimizer=None), r"^Step's optimizer must be"),
    (dict(optimizer=SGD(0.1), network="mlp"), r"^Step's network must be an xpnet.nn.architecture.Architecture or None"),
    (dict(optimizer=SGD(0.1), dropout=0.5),
     r"^Step's dropout must be an xpnet.nn.dropout.EpochDropout or None, got 0.5"),
    (dict(optimizer=SGD(0.1), shifts=2), r"^Step's shifts must be an xpnet.nn.augment.EpochShifts or None, got 2"),
])
def test_a_step_names_the_field_it_cannot_use(fields, words):
    with pytest.raises(TypeError, match=words):
        Step(**fields)


@pytest.mark.parametrize("fields, words", [(dict(lr_at=0.1), r"^EpochPlan's lr_at must be a function"),
                                           (dict(totals=3), r"^EpochPlan's totals must be the EpochTotals")])
def test_an_epoch_plan_names_the_field_it_cannot_use(fields, words):
    with pytest.raises(TypeError, match=words):
        EpochPlan(**fields)


def test_fit_batch_size_full_is_answered_with_the_keywords_value_for_it(tmp_path, monkeypatch):
    """fit(batch_size='full') once said "(--batch-size, or 'full') must be a whole number": 'full'
    offered and refused in one line; in Python the full batch is None."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as error:
        xpnet.fit(dataset="synthetic:50", backend="numpy", log=None, batch_size="full")
    message = str(error.value)
    assert message.startswith("batch_size (--batch-size; None for the full batch) must be a whole number"), message
    assert "or 'full'" not in message and message.endswith("got 'full'"), message


@pytest.mark.parametrize("keyword, meant", [("dev-size", "dev_size"), ("epoch", "epochs"), ("log-interval", "log_interval"),
                                            ("learning_rate", None)])
def test_an_unknown_keyword_suggests_the_one_meant(keyword, meant, tmp_path, monkeypatch):
    """fit(**{'dev-size': 5}) said only 'unknown setting(s): dev-size'; the flag's spelling, or a
    near miss, now gets the keyword's name."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as error:
        xpnet.fit(dataset="synthetic:50", backend="numpy", log=None, **{keyword: 5})
    message = str(error.value)
    assert message.startswith(f"unknown setting(s): {keyword}") and "\n" not in message, message
    if meant is None:
        assert "did you mean" not in message, message
    else:
        assert message.endswith(f"; did you mean {meant}=?"), message
