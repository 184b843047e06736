"""Learning-rate schedules against ``torch.optim.lr_scheduler`` and against numbers worked by hand."""

import importlib.util
import math
from itertools import pairwise

import pytest

from xpnet.nn.schedules import SCHEDULES, make_schedule

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")


def _every_lr(schedule):
    """The learning rate of each step of the run, in order."""
    return [schedule.lr_at(epoch, step) for epoch in range(schedule.epochs)
            for step in range(schedule.steps_per_epoch)]


def _torch_lrs(base_lr, steps, make_scheduler):
    """The learning rate PyTorch uses at each of ``steps`` batches, ``scheduler.step()`` after each."""
    import torch

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def _warmup_then(warmup_steps, make_main):
    """``LinearLR`` from ``1 / warmup_steps`` to 1 over the warmup's batches, then ``make_main``."""
    def make(lr_scheduler, optimizer):
        warmup = lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps, end_factor=1.0,
                                       total_iters=warmup_steps - 1)
        return lr_scheduler.SequentialLR(optimizer, [warmup, make_main(lr_scheduler, optimizer)],
                                         milestones=[warmup_steps])
    return make


@needs_torch
@pytest.mark.parametrize("step_size, gamma", [(None, 0.5), (4, 0.1)])
def test_step_matches_steplr_stepped_per_epoch(step_size, gamma):
    epochs, steps_per_epoch = 10, 3
    schedule = make_schedule("step", 0.2, epochs, steps_per_epoch, step_size=step_size, gamma=gamma)
    per_epoch = _torch_lrs(0.2, epochs, lambda s, o: s.StepLR(o, step_size=step_size or epochs // 3, gamma=gamma))
    expected = [lr for lr in per_epoch for _ in range(steps_per_epoch)]
    assert _every_lr(schedule) == pytest.approx(expected, rel=1e-12)


@needs_torch
def test_cosine_matches_cosineannealinglr_stepped_per_batch():
    schedule = make_schedule("cosine", 0.3, 4, 5)
    expected = _torch_lrs(0.3, 20, lambda s, o: s.CosineAnnealingLR(o, T_max=20))
    assert _every_lr(schedule) == pytest.approx(expected, rel=1e-12)


@needs_torch
@pytest.mark.parametrize("name", SCHEDULES)
def test_warmup_matches_linearlr_then_the_schedule(name):
    epochs, steps_per_epoch, warmup_epochs = 7, 4, 2
    warmup_steps, after = warmup_epochs * steps_per_epoch, (epochs - warmup_epochs) * steps_per_epoch
    main = {
        "constant": lambda s, o: s.ConstantLR(o, factor=1.0, total_iters=0),
        # The step schedule changes at epoch boundaries: StepLR stepped per batch, every 5 // 3 = 1 epoch.
        "step": lambda s, o: s.StepLR(o, step_size=1 * steps_per_epoch, gamma=0.5),
        "cosine": lambda s, o: s.CosineAnnealingLR(o, T_max=after),
    }[name]
    schedule = make_schedule(name, 0.3, epochs, steps_per_epoch, warmup_epochs=warmup_epochs, gamma=0.5)
    expected = _torch_lrs(0.3, epochs * steps_per_epoch, _warmup_then(warmup_steps, main))
    assert _every_lr(schedule) == pytest.approx(expected, rel=1e-12)


def test_values_worked_by_hand():
    assert set(_every_lr(make_schedule("constant", 0.1, 3, 4))) == {0.1}
    step = make_schedule("step", 0.1, 9, 2)
    assert [step.lr_at(epoch, 1) for epoch in range(9)] == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.001] * 3)
    cosine = make_schedule("cosine", 1.0, 2, 2)
    assert _every_lr(cosine) == pytest.approx([1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2])
    warm = make_schedule("constant", 0.2, 3, 4, warmup_epochs=1)
    assert _every_lr(warm) == pytest.approx([0.05, 0.1, 0.15, 0.2] + [0.2] * 8)
    # After a 1-epoch warmup, 6 epochs remain: the default step size is 2 of them.
    warm_step = make_schedule("step", 1.0, 7, 1, warmup_epochs=1, gamma=0.1)
    assert _every_lr(warm_step) == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    warm_cosine = make_schedule("cosine", 1.0, 3, 2, warmup_epochs=1)
    assert _every_lr(warm_cosine) == pytest.approx([0.5, 1.0, 1.0, (1 + math.sqrt(0.5)) / 2, 0.5,
                                                    (1 - math.sqrt(0.5)) / 2])


@pytest.mark.parametrize("name", SCHEDULES)
def test_warmup_rises_steadily_to_the_base_rate(name):
    schedule = make_schedule(name, 0.5, 10, 7, warmup_epochs=3)
    warmup = _every_lr(schedule)[:21]
    assert 0 < warmup[0] <= 0.5 / 21 * (1 + 1e-12)
    assert all(a < b for a, b in pairwise(warmup))
    assert warmup[-1] == pytest.approx(0.5, rel=1e-15) and schedule.lr_at(3, 0) == 0.5
    assert max(_every_lr(schedule)) <= 0.5


@pytest.mark.parametrize("name", SCHEDULES)
def test_learning_rates_are_python_floats_that_never_rise_after_warmup(name):
    schedule = make_schedule(name, 0.1, 6, 3)
    lrs = _every_lr(schedule)
    assert all(type(lr) is float for lr in lrs)
    assert all(a >= b for a, b in pairwise(lrs))
    assert all(lr > 0 for lr in lrs)


def test_cosine_stays_at_zero_past_the_end():
    schedule = make_schedule("cosine", 0.1, 2, 3)
    assert schedule.lr_at(2, 0) == 0.0 and schedule.lr_at(5, 2) == 0.0


@pytest.mark.parametrize("args, kwargs, words", [
    (("linear", 0.1, 5, 10), {}, "unknown schedule 'linear'; choose one of constant, step, cosine"),
    (("cosine", -0.1, 5, 10), {}, "learning rate"),
    (("cosine", 0.1, 0, 10), {}, "epochs"),
    (("cosine", 0.1, 5, 0), {}, "steps per epoch"),
    (("cosine", 0.1, 5, 10), {"warmup_epochs": 5}, "warmup_epochs"),
    (("cosine", 0.1, 5, 10), {"warmup_epochs": -1}, "warmup_epochs"),
    (("cosine", 0.1, 5, 10), {"warmup_epochs": 0.5}, "warmup_epochs"),
    (("step", 0.1, 5, 10), {"step_size": 0}, "step size"),
    (("step", 0.1, 5, 10), {"gamma": 0.0}, "gamma"),
])
def test_bad_values_are_refused(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        make_schedule(*args, **kwargs)


def test_a_keyword_the_step_schedule_does_not_take_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'decay'"):
        make_schedule("step", 0.1, 5, 10, decay=0.5)


def test_a_step_outside_the_epoch_is_refused():
    schedule = make_schedule("constant", 0.1, 2, 3)
    for epoch, step in [(-1, 0), (0, 3), (0, -1)]:
        with pytest.raises(ValueError, match="step"):
            schedule.lr_at(epoch, step)
