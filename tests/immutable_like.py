"""A stand-in for libraries whose arrays never change (JAX): array-api-strict without mutation.

``x -= y`` on a JAX array binds ``x`` to a new array and leaves the old one, and every other
reference to it, unchanged; item assignment is refused. The ``immutable_arrays`` fixture makes
array-api-strict's arrays behave so for one test: every in-place operator returns a new array
and ``__setitem__`` raises. Code that keeps what an update returns is right on both kinds of
library; code that updates a list's arrays and hands back the list silently trains nothing.
"""

import pytest

IN_PLACE = {"__iadd__": "__add__", "__isub__": "__sub__", "__imul__": "__mul__", "__itruediv__": "__truediv__",
            "__ifloordiv__": "__floordiv__", "__ipow__": "__pow__", "__imod__": "__mod__", "__imatmul__": "__matmul__",
            "__iand__": "__and__", "__ior__": "__or__", "__ixor__": "__xor__", "__ilshift__": "__lshift__",
            "__irshift__": "__rshift__"}


@pytest.fixture
def immutable_arrays(monkeypatch):
    """array-api-strict arrays that no operation changes, for this test."""
    strict = pytest.importorskip("array_api_strict")
    array_type = type(strict.asarray(0.0))
    for in_place, operator in IN_PLACE.items():
        monkeypatch.setattr(array_type, in_place, getattr(array_type, operator))

    def refuse(self, key, value):
        raise TypeError("this stand-in's arrays are immutable, like JAX's: use the value an update returns")

    monkeypatch.setattr(array_type, "__setitem__", refuse)
    return array_type
