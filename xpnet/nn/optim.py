"""Optimisers: they turn parameters and gradients into new parameters.

Each is hand-written against the Array API and matches ``torch.optim`` (checked
step by step in ``tests/test_optim.py``):

- :class:`SGD`: ``W -= lr * (g + wd * W)``.
- :class:`Momentum` (heavy ball): ``v = mu * v + (g + wd * W)``; ``W -= lr * v``.
- :class:`Nesterov`: as Momentum, then ``W -= lr * (g + wd * W + mu * v)``.
- :class:`Adam`: bias-corrected moments of ``g + wd * W`` (coupled L2, as ``torch.optim.Adam``).
- :class:`AdamW`: Adam of ``g``, with decoupled decay ``W *= 1 - lr * wd`` first.
- :class:`RMSprop`: ``s = rho * s + (1 - rho) * g * g``; ``W -= lr * g / (sqrt(s) + eps)``, with
  ``g`` including ``wd * W`` (``torch.optim.RMSprop``: not centred, no momentum).
- :class:`Adagrad`: ``G += g * g``; ``W -= lr * g / (sqrt(G) + eps)``, with ``g`` including
  ``wd * W`` (``torch.optim.Adagrad``: no learning-rate decay, the sum starting at 0).

Weight decay applies to every parameter, biases included, as a single PyTorch
parameter group does. The interface every optimiser shares:

- ``lr``: a plain attribute, a Python float, which a schedule may change between steps.
  Every hyperparameter stays a Python float, so float32 is never promoted.
- One way to take a step, the same eager and compiled; step ``t`` counts from 1::

      state = optimizer.state_for(params)           # once, before the first step
      c = optimizer.coefficients(optimizer.lr, t)   # Python floats, on the host
      loss, logits, grads = loss_and_grads(params, X, Y, scale=c.get("scale", 1.0))
      params, state = optimizer.update(params, grads, state, c, xp=xp)
      optimizer.adopt(state, t)                     # once, after the last step

  ``coefficients`` computes the step's scalars on the host: the learning rate, Adam's bias
  corrections, the weight decay factor ``decay``, and SGD's ``scale`` (its ``lr``, which the
  backward pass applies to one small (n, k) array instead of to every gradient; the others
  have none, since their state must see the raw gradients). ``update`` is the arithmetic
  alone, a function of arrays: ``state`` is ``{slot: [buffer of W0, b0, W1, ...]}`` and ``c``
  may hold 0-d arrays, so a compiler traces it once for a whole epoch's coefficients. It
  writes ``W -= dW``: NumPy, CuPy and PyTorch change the arrays in place, JAX binds new ones,
  so keep the ``(params, state)`` it returns. ``state_for`` hands the state out on the
  parameters' device, in their dtype (zeros at first); ``adopt`` takes it back with the step
  count, for :meth:`state_dict` and the next epoch. A step reads nothing back from the device.
- ``state_dict() -> dict[str, numpy.ndarray]``: the state as host arrays, named
  ``{slot}.{layer}.{W|b}`` (``m.0.W``, ``v.1.b``...) plus ``step``, a 0-d int64 array.
  The slots: ``v`` (Momentum, Nesterov), ``m`` and ``v`` (Adam, AdamW), ``s`` (RMSprop's
  mean square), ``G`` (Adagrad's sum of squares, Duchi et al.'s symbol); RMSprop's and
  Adagrad's are names of their own, so their states and the others' refuse each other.
  Plain SGD has no state and returns ``{}``.
- ``eps``: one epsilon for Adam, AdamW, RMSprop and Adagrad, added outside the square root as
  PyTorch adds it. Each class defaults to PyTorch's value (1e-8, Adagrad 1e-10);
  :func:`make_optimizer` too when ``eps`` is not given, while :class:`xpnet.Config` (and
  the trainer) always pass theirs, 1e-8, to whichever optimiser is chosen: pass ``eps=1e-10``
  for exactly ``torch.optim.Adagrad``'s defaults. RMSprop's ``rho`` likewise: 0.99 in the
  class (PyTorch's ``alpha``), 0.9 in ``Config`` (Keras's and Hinton's).
- ``load_state_dict(state, to_device=None)``: restores that dict. ``to_device`` turns a
  host array into a device array (``backend.asarray``); without it ``state_for`` moves the
  arrays to the parameters' device. A state of the wrong optimiser or of
  another model raises ``ValueError`` naming what differs.

:func:`make_optimizer` builds one by name.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ..backend import backend_of, to_numpy
from .checks import ParameterError, fraction, non_negative, positive

#: The optimisers :func:`make_optimizer` builds, by name.
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")


class SGD:
    """Stochastic gradient descent, ``W <- W - lr * (dW + weight_decay * W)``.

    The learning rate is folded into the backward pass (``coefficients(...)["scale"]``), so the
    gradients arrive as ``lr * dW`` and the update is one in-place subtraction per
    parameter; weight decay, when asked for, adds one in-place multiplication.
    """

    slots: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = positive("lr", lr, label="the learning rate")
        self.weight_decay = non_negative("weight_decay", weight_decay, label="the weight decay")
        self.steps = 0

    def coefficients(self, lr: float, step: int) -> dict[str, float]:
        """``scale``, the gradients' factor (``lr``), and ``decay``, the weight decay factor ``1 - lr * wd``."""
        return {"scale": lr, "decay": 1.0 - lr * self.weight_decay}

    def update(self, params, grads, state, c, *, xp):
        """``(params, state)`` after a step by ``grads``, which already carry ``c["scale"]``."""
        stepped = []
        for (W, b), (dW, db) in zip(params, grads, strict=True):
            if self.weight_decay:
                # W - lr * (g + wd * W) = (1 - lr * wd) * W - dW, with dW = lr * g.
                W *= c["decay"]
                b *= c["decay"]
            W -= dW
            b -= db
            stepped.append((W, b))
        return stepped, state

    def state_for(self, params) -> dict:
        """The state :meth:`update` takes: none."""
        return {}

    def adopt(self, state: dict, steps: int) -> None:
        """Take back the state after ``steps`` steps in all."""
        self.steps = steps

    def state_dict(self) -> dict:
        """The optimiser's state as host arrays, for a checkpoint (plain SGD has none)."""
        return {}

    def load_state_dict(self, state: dict, to_device: Callable | None = None) -> None:
        """Restore :meth:`state_dict`'s output: nothing, so anything else is refused."""
        if state:
            raise ValueError(f"SGD keeps no state, but the state holds {', '.join(sorted(state))}; "
                             "it was saved by another optimiser")


class _Stateful:
    """What the optimisers with per-parameter state share: the state, its checkpoint, the loop.

    A subclass names its state ``slots`` and writes :meth:`_update` for one parameter.
    The state is ``{slot: [buffer per parameter]}``, parameters taken in the order
    W0, b0, W1, b1, ...
    """

    slots: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = positive("lr", lr, label="the learning rate")
        self.weight_decay = non_negative("weight_decay", weight_decay, label="the weight decay")
        self.steps = 0
        self._state: dict[str, list] | None = None
        self._host_state: dict[str, list[np.ndarray]] | None = None
        self._unchecked = False

    def coefficients(self, lr: float, step: int) -> dict[str, float]:
        """The learning rate; Adam adds its bias corrections."""
        return {"lr": lr}

    def update(self, params, grads, state, c, *, xp):
        """``(params, state)`` after a step by the raw ``grads``, with coefficients ``c``."""
        flat = [p for pair in params for p in pair]
        flat_grads = [g for pair in grads for g in pair]
        if len(flat_grads) != len(flat):
            raise ValueError(f"{len(grads)} gradient pairs for {len(params)} layers")
        state = {slot: list(buffers) for slot, buffers in state.items()}
        stepped = []
        for index, (p, g) in enumerate(zip(flat, flat_grads)):
            p, *buffers = self._update(p, g, *(state[slot][index] for slot in self.slots), c=c, xp=xp)
            for slot, buffer in zip(self.slots, buffers):
                state[slot][index] = buffer
            stepped.append(p)
        return list(zip(stepped[0::2], stepped[1::2])), state

    def state_for(self, params) -> dict[str, list]:
        """The state :meth:`update` takes, on the parameters' device: zeros before the first step,
        or the restored state, checked against ``params`` once after a load."""
        flat = [p for pair in params for p in pair]
        if self._state is None or self._unchecked:
            if self._state is None:
                self._state = self._fresh_state(flat)
            self._check_state(flat)
            self._unchecked = False
        return self._state

    def adopt(self, state: dict[str, list], steps: int) -> None:
        """Take back the state :meth:`update` returned, after ``steps`` steps in all."""
        self._state, self.steps = state, steps

    def _update(self, p, g, *buffers, c, xp):
        """One parameter's step: ``(p, *buffers)`` after it, one buffer per slot."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """``step`` (0-d int64) and each slot's buffer per parameter, as host NumPy arrays."""
        state = {"step": np.asarray(self.steps, dtype=np.int64)}
        if self._state is not None:
            for slot, buffers in self._state.items():
                for index, buffer in enumerate(buffers):
                    state[_name(slot, index)] = to_numpy(buffer)
        elif self._host_state is not None:
            for slot, buffers in self._host_state.items():
                for index, buffer in enumerate(buffers):
                    state[_name(slot, index)] = np.array(buffer, copy=True)
        return state

    def load_state_dict(self, state: dict, to_device: Callable | None = None) -> None:
        """Restore :meth:`state_dict`'s output; ``to_device(host_array)`` moves each buffer
        now, or, when None, :meth:`state_for` moves them to the parameters' device."""
        kind = type(self).__name__
        if "step" not in state:
            raise ValueError(f"the optimiser state has no 'step'; it does not belong to {kind} "
                             f"(names: {', '.join(sorted(state)) or 'none'})")
        step = np.asarray(state["step"])
        # Accept a 1-element array too: some writers store a 0-d count as shape (1,).
        if step.size != 1 or step.ndim > 1 or step.dtype.kind not in "iu" or int(step.item()) < 0:
            raise ValueError(f"the optimiser state's 'step' must be a 0-d count, got {step!r}")
        step = int(step.item())
        layers = _layer_count(state, self.slots, kind)
        if step > 0 and layers == 0:
            raise ValueError(f"the optimiser state counts {step} step(s) but holds no "
                             f"{'/'.join(self.slots)} buffers for {kind}")
        host = {slot: [state[_name(slot, index)] for index in range(2 * layers)] for slot in self.slots}
        self.steps = step
        if layers == 0:
            self._state, self._host_state = None, None
        elif to_device is None:
            self._state, self._host_state = None, host
        else:
            self._state = {slot: [to_device(buffer) for buffer in buffers] for slot, buffers in host.items()}
            self._host_state = None
        self._unchecked = True

    def _fresh_state(self, flat):
        if self._host_state is not None:
            if len(self._host_state[self.slots[0]]) != len(flat):
                self._mismatch(len(self._host_state[self.slots[0]]), flat)
            state = {slot: [backend_of(p).asarray(buffer) for p, buffer in zip(flat, buffers)]
                     for slot, buffers in self._host_state.items()}
            self._host_state = None
            return state
        xp = array_namespace(flat[0])
        return {slot: [xp.zeros_like(p) for p in flat] for slot in self.slots}

    def _check_state(self, flat) -> None:
        """Refuse state restored for another model before it touches the parameters; read once
        after a load, from host metadata only."""
        first = self._state[self.slots[0]]
        if len(first) != len(flat):
            self._mismatch(len(first), flat)
        for slot, buffers in self._state.items():
            for index, (p, buffer) in enumerate(zip(flat, buffers)):
                if buffer.shape != p.shape or buffer.dtype != p.dtype or device_of(buffer) != device_of(p):
                    raise ValueError(
                        f"the optimiser state {_name(slot, index)} is {tuple(buffer.shape)} {buffer.dtype} on "
                        f"{device_of(buffer)} but the parameter is {tuple(p.shape)} {p.dtype} on {device_of(p)}"
                    )

    def _mismatch(self, buffers: int, flat) -> None:
        raise ValueError(f"the optimiser state holds {buffers // 2} layer(s) but the model has {len(flat) // 2}")


class Momentum(_Stateful):
    """Heavy-ball momentum as ``torch.optim.SGD(momentum=mu)``: ``v = mu * v + g``; ``W -= lr * v``.

    ``g`` includes the coupled L2 term ``weight_decay * W``; the first step's ``v`` is ``g``.
    """

    slots = ("v",)

    def __init__(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum = fraction("momentum", momentum)

    def _update(self, p, g, v, *, c, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p
        v *= self.momentum
        v += g
        p -= c["lr"] * v
        return p, v


class Nesterov(Momentum):
    """Nesterov momentum as ``torch.optim.SGD(momentum=mu, nesterov=True)``:
    ``v = mu * v + g``; ``W -= lr * (g + mu * v)``."""

    def _update(self, p, g, v, *, c, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p
        v *= self.momentum
        v += g
        # lr * (g + mu * v), in one temporary.
        direction = self.momentum * v
        direction += g
        direction *= c["lr"]
        p -= direction
        return p, v


class Adam(_Stateful):
    """Adam as ``torch.optim.Adam``: ``m``, ``v`` moving averages of ``g`` and ``g * g``;
    ``W -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.

    ``g`` includes the coupled L2 term ``weight_decay * W``.
    """

    slots = ("m", "v")
    decoupled = False

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = fraction("beta1", beta1)
        self.beta2 = fraction("beta2", beta2)
        self.eps = positive("eps", eps, label="the epsilon")

    def coefficients(self, lr: float, step: int) -> dict[str, float]:
        """``lr_corrected`` = lr / (1 - beta1**t), ``bias2_root`` = sqrt(1 - beta2**t), and
        ``decay`` = 1 - lr * wd (AdamW's)."""
        return {"lr_corrected": lr / (1.0 - self.beta1 ** step), "bias2_root": math.sqrt(1.0 - self.beta2 ** step),
                "decay": 1.0 - lr * self.weight_decay}

    def _update(self, p, g, m, v, *, c, xp):
        if self.weight_decay:
            if self.decoupled:
                p *= c["decay"]
            else:
                g = g + self.weight_decay * p
        # In place wherever the standard allows: four temporaries per parameter instead of seven.
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        g_squared = g * g
        g_squared *= 1.0 - self.beta2
        v *= self.beta2
        v += g_squared
        update = xp.sqrt(v)
        update /= c["bias2_root"]
        update += self.eps
        update = m / update
        update *= c["lr_corrected"]
        p -= update
        return p, m, v


class AdamW(Adam):
    """AdamW as ``torch.optim.AdamW``: ``W *= 1 - lr * weight_decay``, then Adam of the raw ``g``."""

    decoupled = True


class RMSprop(_Stateful):
    """RMSprop as ``torch.optim.RMSprop`` (``alpha`` = ``rho``; not centred, no momentum):
    ``s = rho * s + (1 - rho) * g * g``; ``W -= lr * g / (sqrt(s) + eps)``.

    ``g`` includes the coupled L2 term ``weight_decay * W``; ``s`` starts at 0 and is not
    bias-corrected, so the first steps are larger than Adam's. ``eps`` is added outside the
    square root, as PyTorch and the original Keras add it (Keras 3 adds it inside).
    """

    slots = ("s",)

    def __init__(self, lr: float, rho: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.rho = fraction("rho", rho)
        self.eps = positive("eps", eps, label="the epsilon")

    def _update(self, p, g, s, *, c, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p
        g_squared = g * g
        g_squared *= 1.0 - self.rho
        s *= self.rho
        s += g_squared
        update = xp.sqrt(s)
        update += self.eps
        update = g / update
        update *= c["lr"]
        p -= update
        return p, s


class Adagrad(_Stateful):
    """Adagrad as ``torch.optim.Adagrad`` (``lr_decay`` 0, ``initial_accumulator_value`` 0):
    ``G += g * g``; ``W -= lr * g / (sqrt(G) + eps)``.

    ``g`` includes the coupled L2 term ``weight_decay * W``. ``eps`` defaults to PyTorch's 1e-10.
    """

    slots = ("G",)

    def __init__(self, lr: float, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.eps = positive("eps", eps, label="the epsilon")

    def _update(self, p, g, G, *, c, xp):
        if self.weight_decay:
            g = g + self.weight_decay * p
        G += g * g
        update = xp.sqrt(G)
        update += self.eps
        update = g / update
        update *= c["lr"]
        p -= update
        return p, G


#: Each optimiser class, by its name in :data:`OPTIMIZERS`.
CLASSES = dict(zip(OPTIMIZERS, (SGD, Momentum, Nesterov, Adam, AdamW, RMSprop, Adagrad)))
#: The hyperparameters :func:`make_optimizer` takes besides ``lr``; each optimiser uses some of them.
HYPERPARAMETERS = ("momentum", "beta1", "beta2", "eps", "weight_decay", "rho")


def make_optimizer(name: str, lr: float, **hyperparameters):
    """The optimiser called ``name`` (one of :data:`OPTIMIZERS`) with learning rate ``lr``.

    ``hyperparameters`` are any of :data:`HYPERPARAMETERS`: ``momentum``, ``beta1``, ``beta2``,
    ``eps``, ``weight_decay`` and ``rho`` (RMSprop's decay of the mean square, PyTorch's ``alpha``).
    The optimiser takes those it uses and ignores the others, so one set of settings builds any
    of them; one left out takes the optimiser's own default, PyTorch's (``eps`` and ``rho`` also
    when None): eps 1e-8 (Adagrad 1e-10), rho 0.99. :class:`xpnet.Config` always passes its own:
    eps 1e-8, rho 0.9 (Keras's and Hinton's). Raises :class:`~xpnet.nn.checks.ParameterError` (a
    ``ValueError``) for an unknown name or an impossible value, ``TypeError`` for a keyword that is
    no hyperparameter.
    """
    unknown = sorted(set(hyperparameters) - set(HYPERPARAMETERS))
    if unknown:
        raise TypeError(f"make_optimizer() got an unexpected keyword argument {unknown[0]!r}; the hyperparameters "
                        f"are {', '.join(HYPERPARAMETERS)}")
    kind = CLASSES.get(str(name).lower())
    if kind is None:
        raise ParameterError("name", lambda _: f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    used = inspect.signature(kind).parameters
    return kind(lr, **{key: value for key, value in hyperparameters.items()
                       if key in used and not (value is None and key in ("eps", "rho"))})


def _name(slot: str, index: int) -> str:
    """State name of parameter ``index`` in the order W0, b0, W1, b1...: ``m.0.W``, ``m.0.b``..."""
    return f"{slot}.{index // 2}.{'Wb'[index % 2]}"


def _layer_count(state: dict, slots: tuple[str, ...], kind: str) -> int:
    """Layers the state's buffers cover; ``ValueError`` unless they are exactly ``slots`` x layers x (W, b)."""
    pattern = re.compile(r"([A-Za-z_]+)\.(\d+)\.([Wb])")
    layers, unexpected = 0, []
    for key in state:
        if key == "step":
            continue
        match = pattern.fullmatch(key)
        if match is None or match.group(1) not in slots:
            unexpected.append(key)
        else:
            layers = max(layers, int(match.group(2)) + 1)
    expected = {_name(slot, index) for slot in slots for index in range(2 * layers)}
    missing = sorted(expected - set(state))
    if unexpected or missing:
        parts = ([f"unexpected {', '.join(sorted(unexpected))}"] if unexpected else []) + (
            [f"missing {', '.join(missing)}"] if missing else [])
        raise ValueError(f"the optimiser state does not match {kind} (keeps {', '.join(slots)} per parameter): "
                         f"{'; '.join(parts)}; was it saved by another optimiser or model?")
    return layers

