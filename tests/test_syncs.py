"""No host synchronisation inside the training step.

On array-api-strict's ``Device("device1")`` every way an array can reach the host
(``__float__``, ``__bool__``, ``__int__``, ``__index__``, ``__complex__``, ``__array__``,
``__dlpack__``, ``__iter__``, ``to_device`` to the CPU) is counted. A training epoch must
make none inside its steps, and a whole ``fit`` a small constant number per epoch,
whatever the number of steps.
"""

import collections

import numpy as np
import pytest

array_api_strict = pytest.importorskip("array_api_strict")

import xpnet  # noqa: E402
from xpnet.backend import resolve  # noqa: E402
from xpnet.nn.init import init_params  # noqa: E402
from xpnet.nn.optim import SGD  # noqa: E402
from xpnet.training.device_data import DeviceSplit, images_to_device, labels_to_device  # noqa: E402
from xpnet.training.epoch import EpochPlan, train_epoch  # noqa: E402
from xpnet.training.step import Step  # noqa: E402

HOST_CONVERSIONS = ("__float__", "__bool__", "__int__", "__index__", "__complex__", "__array__", "__dlpack__",
                    "__iter__")


@pytest.fixture
def host_conversions(monkeypatch):
    """A Counter of host conversions of array-api-strict arrays off the CPU device while the test runs."""
    counts = collections.Counter()
    array_type = type(array_api_strict.asarray(0.0))
    cpu = array_api_strict.Device("CPU_DEVICE")

    def counted(name, original):
        def wrapper(self, *args, **kwargs):
            if self.device != cpu:
                counts[name] += 1
            return original(self, *args, **kwargs)
        return wrapper

    for name in HOST_CONVERSIONS:
        monkeypatch.setattr(array_type, name, counted(name, getattr(array_type, name)))
    original_to_device = array_type.to_device

    def to_device(self, device, /, *, stream=None):
        if device == cpu and self.device != cpu:
            counts["to_device(cpu)"] += 1
        return original_to_device(self, device, stream=stream)

    monkeypatch.setattr(array_type, "to_device", to_device)
    return counts


def _device1_split(dataset):
    backend = resolve("array-api-strict", "device1")
    data = DeviceSplit(images_to_device(dataset.train_images, backend, "float32", True),
                       labels_to_device(dataset.train_labels, backend)).with_one_hot(10)
    return backend, data


@pytest.mark.parametrize("hidden", [(), (32,), (32, 16)])
def test_a_training_epoch_never_reaches_the_host(tiny_dataset, host_conversions, hidden):
    backend, data = _device1_split(tiny_dataset)
    rng = np.random.default_rng(0)
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in init_params([784, *hidden, 10], rng)]
    order = backend.asarray(rng.permutation(data.size))
    host_conversions.clear()
    params, totals, finished = train_epoch(Step(SGD(0.1)), params, data, 16, EpochPlan(order))
    assert finished and totals.seen == data.size
    assert sum(host_conversions.values()) == 0, dict(host_conversions)
    assert totals.loss_sum.device == backend.device and params[0][0].device == backend.device


def test_dropout_and_adam_make_no_host_conversion_either(tiny_dataset, host_conversions):
    from xpnet.nn.dropout import EpochDropout
    from xpnet.nn.optim import Adam

    backend, data = _device1_split(tiny_dataset)
    rng = np.random.default_rng(0)
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in init_params([784, 32, 10], rng)]
    order = backend.asarray(rng.permutation(data.size))
    dropout = EpochDropout(rng, data.size, (32,), 0.3, backend.asarray)
    host_conversions.clear()
    _, totals, finished = train_epoch(Step(Adam(0.001), dropout=dropout), params, data, 16,
                                      EpochPlan(order, lambda step: 0.001 / (1 + step)))
    assert finished and sum(host_conversions.values()) == 0, dict(host_conversions)


def test_fit_reads_the_device_a_constant_number_of_times_per_epoch(tiny_dataset, host_conversions):
    def conversions(batch_size, epochs):
        host_conversions.clear()
        xpnet.fit(dataset=tiny_dataset, backend="array-api-strict", device="device1", hidden=(16,),
                  batch_size=batch_size, epochs=epochs, dev_size=100, log=None)
        return sum(host_conversions.values())

    few_steps, many_steps = conversions(250, 2), conversions(10, 2)
    assert few_steps == many_steps, (few_steps, many_steps)
    # One read of the epoch's loss, accuracy and divergence check, one of the dev metrics.
    per_epoch = conversions(10, 3) - many_steps
    assert per_epoch == 2, per_epoch


def test_a_conv_net_with_shifts_and_dropout_makes_no_host_conversion(tiny_dataset, host_conversions):
    from xpnet.nn.architecture import Architecture
    from xpnet.nn.augment import EpochShifts
    from xpnet.nn.dropout import EpochDropout
    from xpnet.nn.init import init_shaped
    from xpnet.nn.optim import AdamW

    backend, data = _device1_split(tiny_dataset)
    arch = Architecture.of("conv4k3,pool,conv6k3v,pool,fc16", (28, 28, 1), 10)
    rng = np.random.default_rng(0)
    params = [(backend.asarray(W), backend.asarray(b))
              for W, b in init_shaped(arch.fans(), arch.param_shapes(), rng, "he", "zeros", "float32")]
    order = backend.asarray(rng.permutation(data.size))
    dropout = EpochDropout(rng, data.size, arch.hidden_units, 0.3, backend.asarray)
    shifts = EpochShifts(rng, data.size, 2, arch.image_shape, backend.asarray)
    host_conversions.clear()
    params, totals, finished = train_epoch(Step(AdamW(0.001, weight_decay=0.01), arch, dropout, shifts), params,
                                           data, 64, EpochPlan(order))
    assert finished and totals.steps == 10
    assert sum(host_conversions.values()) == 0, dict(host_conversions)
    assert params[0][0].device == backend.device


def test_fit_of_a_conv_net_reads_the_device_a_constant_number_of_times_per_epoch(tiny_dataset, host_conversions):
    def conversions(batch_size, epochs):
        host_conversions.clear()
        xpnet.fit(dataset=tiny_dataset, backend="array-api-strict", device="device1",
                  arch="conv4k3,pool,fc16", shift=1, dropout=0.1, batch_size=batch_size, epochs=epochs,
                  dev_size=100, log=None)
        return sum(host_conversions.values())

    few_steps, many_steps = conversions(250, 1), conversions(25, 1)
    assert few_steps == many_steps, (few_steps, many_steps)
    assert conversions(25, 2) - many_steps == 2


def test_a_printing_run_reads_the_device_per_epoch_and_once_per_batch_line_only(tiny_dataset, host_conversions):
    """--log-interval's batch lines read the epoch's totals at their steps alone; without it, or
    in a quiet run, a run that prints reads no more than a quiet one, however many its steps."""
    def conversions(batch_size, log_interval=None, log=print):
        host_conversions.clear()
        lines = []
        xpnet.fit(dataset=tiny_dataset, backend="array-api-strict", device="device1", hidden=(16,),
                  batch_size=batch_size, epochs=2, log=None if log is None else lines.append, progress=False,
                  log_interval=log_interval)
        return sum(host_conversions.values()), sum("%)]" in line for line in lines)

    few_steps, many_steps = conversions(250), conversions(10)
    assert few_steps == many_steps and many_steps[1] == 0, (few_steps, many_steps)
    assert conversions(10, log_interval=1, log=None)[0] == conversions(10, log=None)[0]
    reads, batch_lines = conversions(10, log_interval=7)
    assert batch_lines > 2 and reads == many_steps[0] + batch_lines, (reads, batch_lines, many_steps)
