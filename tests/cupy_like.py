"""A CuPy stand-in for machines without a GPU: array-api-strict with CuPy's *current device*.

Through array-api-compat, CuPy allocates on its current device whatever ``device=`` says in
``zeros``, ``zeros_like``, ``ones``, ``full``, ``empty``, ``arange``, ``eye``, ``linspace``
and ``astype``; only ``asarray`` honours ``device=``. Its kernels expect their arrays on the
current device, and only ``with cupy.cuda.Device(i):`` changes it. So on ``cuda:1`` every
computation must run inside that context, or it allocates on GPU 0 and fails, or silently
crosses devices. array-api-strict's fake second device ``device1`` honours ``device=``
everywhere and so cannot catch this; the ``cupy_like`` fixture makes it behave like CuPy
for one test:

- the creation functions above ignore ``device=`` and allocate on the current device;
- every other function and every operator refuses an array that is not on the current
  device (CuPy may refuse, or copy between GPUs behind the user's back; both are bugs);
- the current device is the CPU device (CuPy's GPU 0) until ``Backend.activate()`` of an
  array-api-strict backend, a context manager, makes the backend's device current;
- moving arrays (``asarray(..., device=)``, ``to_device``) and reading them on the host work
  from anywhere, as ``cupy.asarray`` under a device and ``.get()`` do; so do views (slicing).

``created_on`` counts, per device, the arrays the creation functions made.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect

import pytest

CREATION = ("arange", "empty", "empty_like", "eye", "full", "full_like", "linspace", "ones", "ones_like", "zeros",
            "zeros_like", "astype")
UNCHECKED = ("asarray", "from_dlpack", "broadcast_shapes", "can_cast", "finfo", "iinfo", "isdtype", "result_type",
             "__array_namespace_info__", "set_array_api_strict_flags", "get_array_api_strict_flags",
             "reset_array_api_strict_flags")
UNARY_OPERATORS = ("__abs__", "__neg__", "__pos__", "__invert__")


class CupyLike:
    """The stand-in's state: the current device and the devices arrays were created on."""

    def __init__(self, strict):
        self.strict = strict
        self.array_type = type(strict.asarray(0.0))
        self.current = strict.Device("CPU_DEVICE")
        self.created_on: collections.Counter = collections.Counter()

    @contextlib.contextmanager
    def use(self, device):
        """Make ``device`` current within the block, as ``with cupy.cuda.Device(i):`` does."""
        before, self.current = self.current, device
        try:
            yield
        finally:
            self.current = before

    def require_current(self, what: str, values) -> None:
        for value in values:
            for array in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(array, self.array_type) and array.device != self.current:
                    raise ValueError(f"{what}: an array on {array.device} while the current device is "
                                     f"{self.current}; CuPy computes on the current device only "
                                     "(run this inside Backend.activate())")

    def creation(self, name: str, original):
        @functools.wraps(original)
        def create(*args, **kwargs):
            if name == "astype":
                self.require_current(name, args[:1])
            kwargs["device"] = self.current
            array = original(*args, **kwargs)
            self.created_on[str(array.device)] += 1
            return array
        return create

    def checked(self, name: str, original):
        @functools.wraps(original)
        def compute(*args, **kwargs):
            self.require_current(name, (*args, *kwargs.values()))
            return original(*args, **kwargs)
        return compute

    def host_input_to_current(self, original):
        @functools.wraps(original)
        def asarray(obj, /, *, device=None, **kwargs):
            if device is None and not isinstance(obj, self.array_type):
                device = self.current
            return original(obj, device=device, **kwargs)
        return asarray


@pytest.fixture
def cupy_like(monkeypatch):
    """array-api-strict behaving like CuPy for this test; returns the :class:`CupyLike` state."""
    strict = pytest.importorskip("array_api_strict")
    from xpnet import backend as backend_module

    state = CupyLike(strict)
    for name in strict.__all__:
        original = getattr(strict, name)
        if not callable(original) or inspect.isclass(original) or name in UNCHECKED:
            continue
        wrapper = state.creation(name, original) if name in CREATION else state.checked(name, original)
        monkeypatch.setattr(strict, name, wrapper)
    monkeypatch.setattr(strict, "asarray", state.host_input_to_current(strict.asarray))

    array_type = state.array_type
    check_binary = array_type._check_type_device

    def check_type_device(self, other):
        state.require_current("operator", (self, other))
        return check_binary(self, other)

    monkeypatch.setattr(array_type, "_check_type_device", check_type_device)
    for name in UNARY_OPERATORS:
        monkeypatch.setattr(array_type, name, state.checked(name, getattr(array_type, name)))
    monkeypatch.setitem(backend_module._DEVICE_SCOPES, "array-api-strict", state.use)
    return state
