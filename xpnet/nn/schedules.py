"""Learning-rate schedules: the learning rate of every step of a run, as a Python float.

A schedule answers ``lr_at(epoch_index, step_in_epoch)``, both 0-based, with
``step_in_epoch < steps_per_epoch``; the caller sets ``optimizer.lr`` to it before
computing that step's gradients. The conventions, as PyTorch users know them:

- ``constant``: ``base_lr`` throughout.
- ``step``: ``base_lr * gamma ** (epoch // step_size)``, changing at epoch boundaries
  (``torch.optim.lr_scheduler.StepLR`` stepped once per epoch). ``step_size`` defaults to
  a third of the epochs after warmup (at least 1), so a run decays twice.
- ``cosine``: ``base_lr * (1 + cos(pi * t / T)) / 2`` at step ``t`` of the ``T`` steps after
  warmup, changing every batch, from ``base_lr`` at the first step towards 0 at the end
  (``CosineAnnealingLR(T_max=T, eta_min=0)`` stepped once per batch); 0 past the end.
- ``warmup_epochs=W``: the first ``W * steps_per_epoch`` steps rise linearly, per batch,
  as ``base_lr * (s + 1) / warmup_steps`` at step ``s``: from ``base_lr / warmup_steps``
  to ``base_lr`` at the last warmup step (``LinearLR`` then ``SequentialLR``). The
  schedule then starts, counting its epochs and steps from the end of the warmup.

Everything is plain Python arithmetic: no arrays, no device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..arguments import shown
from .checks import ParameterError, positive, whole

#: The learning-rate schedules :func:`make_schedule` builds, by name.
SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class Schedule:
    """The learning rate of each step of a run of ``epochs`` epochs of ``steps_per_epoch`` steps."""

    name: str
    base_lr: float
    epochs: int
    steps_per_epoch: int
    warmup_epochs: int = 0
    step_size: int = 1
    gamma: float = 0.1

    def lr_at(self, epoch_index: int, step_in_epoch: int) -> float:
        """The learning rate of step ``step_in_epoch`` of epoch ``epoch_index`` (both from 0)."""
        if epoch_index < 0 or not 0 <= step_in_epoch < self.steps_per_epoch:
            raise ValueError(f"no step {step_in_epoch} of epoch {epoch_index} in a schedule of "
                             f"{self.steps_per_epoch} step(s) per epoch")
        step = epoch_index * self.steps_per_epoch + step_in_epoch
        warmup_steps = self.warmup_epochs * self.steps_per_epoch
        if step < warmup_steps:
            return self.base_lr * (step + 1) / warmup_steps
        if self.name == "constant":
            return self.base_lr
        if self.name == "step":
            return self.base_lr * self.gamma ** ((epoch_index - self.warmup_epochs) // self.step_size)
        total = (self.epochs - self.warmup_epochs) * self.steps_per_epoch
        t = min(step - warmup_steps, total)
        return self.base_lr * (1.0 + math.cos(math.pi * t / total)) / 2.0


def make_schedule(name: str, base_lr: float, epochs: int, steps_per_epoch: int, warmup_epochs: int = 0,
                  **step_decay) -> Schedule:
    """The schedule called ``name`` (one of :data:`SCHEDULES`) for a run of ``epochs`` epochs.

    ``step_decay`` holds the ``step`` schedule's ``step_size`` (left out or None: a third of the
    epochs after warmup, at least 1) and ``gamma`` (default 0.1). Raises
    :class:`~xpnet.nn.checks.ParameterError` (a ``ValueError``) for an unknown name or an impossible
    value, ``TypeError`` for another keyword.
    """
    unknown = sorted(set(step_decay) - {"step_size", "gamma"})
    if unknown:
        raise TypeError(f"make_schedule() got an unexpected keyword argument {unknown[0]!r}; the step schedule "
                        "takes step_size and gamma")
    step_size, gamma = step_decay.get("step_size"), step_decay.get("gamma", 0.1)
    key = str(name).lower()
    if key not in SCHEDULES:
        raise ParameterError("name", lambda _: f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    base_lr = positive("base_lr", base_lr, label="the learning rate")
    whole("epochs", epochs, 1)
    whole("steps_per_epoch", steps_per_epoch, 1, label="the steps per epoch")
    if not _is_int(warmup_epochs) or not 0 <= warmup_epochs < epochs:
        raise ParameterError("warmup_epochs", lambda name: f"{name} must be a whole number from 0 to {epochs - 1} "
                             f"(fewer than the {epochs} epoch(s)), got {shown(warmup_epochs)}")
    if step_size is None:
        step_size = max(1, (epochs - warmup_epochs) // 3)
    whole("step_size", step_size, 1, label="the step size (epochs)")
    gamma = positive("gamma", gamma)
    return Schedule(key, base_lr, int(epochs), int(steps_per_epoch), int(warmup_epochs), int(step_size), gamma)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
