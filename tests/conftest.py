"""The backend fixture: every test that takes ``backend`` runs once per installed backend.

NumPy, array-api-strict on its CPU device and on its fake second device
``device1`` (which catches arrays created without ``device=``), PyTorch and JAX
on the CPU (each skipped with the reason where not installed), and CuPy (marked
``gpu``, skipped with the reason where CUDA is absent).
"""

import importlib.util

import pytest

from xpnet.backend import cuda_problem, resolve

pytest_plugins = ["datafiles", "cupy_like", "immutable_like"]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _backend_params():
    missing = {
        "array-api-strict": not _installed("array_api_strict"),
        "torch": not _installed("torch"),
        "jax": not _installed("jax"),
    }
    cases = [
        ("numpy", "cpu", "numpy", []),
        ("array-api-strict", "cpu", "strict-cpu", []),
        ("array-api-strict", "device1", "strict-device1", []),
        ("torch", "cpu", "torch-cpu", []),
        ("jax", "cpu", "jax-cpu", []),
        ("cupy", "cuda", "cupy-cuda", [pytest.mark.gpu]),
    ]
    params = []
    for name, device, ident, marks in cases:
        marks = list(marks)
        if missing.get(name):
            marks.append(pytest.mark.skip(reason=f"{name} is not installed"))
        params.append(pytest.param((name, device), id=ident, marks=marks))
    return params


BACKEND_PARAMS = _backend_params()


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """A resolved :class:`xpnet.backend.Backend` for each installed backend and device."""
    name, device = request.param
    if name == "cupy":
        problem = cuda_problem()
        if problem is not None:
            pytest.skip(f"no usable CUDA GPU: {problem}")
    return resolve(name, device)


@pytest.fixture(scope="session")
def tiny_dataset():
    """A small generated dataset (600 train, 200 test, 10 classes, 28x28)."""
    from xpnet.data import make_synthetic

    return make_synthetic(600, 200, seed=3)
