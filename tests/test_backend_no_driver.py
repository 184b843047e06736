"""--device cuda without an NVIDIA driver says so, instead of recommending a 3 GB CuPy install."""

import builtins

import pytest

import xpnet.backend as backend_module
from xpnet.arguments import on_the_command_line
from xpnet.backend import resolve
from xpnet.errors import XpnetError


@pytest.fixture
def fresh_probe(monkeypatch):
    monkeypatch.setattr(backend_module, "_CUPY_PROBES", {})


def _without_cupy(monkeypatch):
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)


def test_no_driver_says_use_cpu_and_not_install(fresh_probe, monkeypatch):
    monkeypatch.setattr(backend_module, "_nvidia_driver_present", lambda: False)
    _without_cupy(monkeypatch)
    problem = backend_module.cuda_problem()
    assert problem == "no NVIDIA GPU found (no NVIDIA driver); use --device cpu"
    with pytest.raises(XpnetError) as caught:
        resolve("auto", "cuda")
    assert "no NVIDIA GPU found" in str(caught.value) and "pip install" not in str(caught.value)


def test_with_a_driver_a_missing_cupy_is_still_named(fresh_probe, monkeypatch):
    monkeypatch.setattr(backend_module, "_nvidia_driver_present", lambda: True)
    _without_cupy(monkeypatch)
    assert "CuPy is not installed" in backend_module.cuda_problem()


def test_the_answer_is_cached(fresh_probe, monkeypatch):
    calls = []
    monkeypatch.setattr(backend_module, "_nvidia_driver_present", lambda: calls.append(1) or False)
    assert backend_module.cuda_problem() == backend_module.cuda_problem()
    assert len(calls) == 1


def test_the_driver_probe_is_a_plain_bool():
    assert isinstance(backend_module._nvidia_driver_present(), bool)


@pytest.mark.parametrize("device", ["auto", "cuda", "cuda:0"])
def test_cupy_asked_by_name_without_a_gpu_points_to_numpy_not_in_a_circle(fresh_probe, monkeypatch, device):
    """--backend cupy said 'use --device cpu', and --backend cupy --device cpu says CuPy has no CPU."""
    monkeypatch.setattr(backend_module, "_nvidia_driver_present", lambda: False)
    _without_cupy(monkeypatch)
    with pytest.raises(XpnetError) as caught, on_the_command_line():
        resolve("cupy", device)
    assert str(caught.value).endswith("use --backend numpy --device cpu"), str(caught.value)
    with pytest.raises(XpnetError) as caught:  # from Python, the keywords
        resolve("cupy", device)
    assert str(caught.value).endswith("use backend='numpy', device='cpu'"), str(caught.value)
