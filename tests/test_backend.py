"""Choosing backends and devices, and the one-line errors when a choice cannot be met."""

import numpy as np
import pytest

from xpnet import backend as backend_module
from xpnet.backend import available_backends, cuda_problem, resolve, to_numpy
from xpnet.errors import UsageError, XpnetError


def test_auto_picks_numpy_and_says_why_without_cuda():
    if cuda_problem() is None:
        pytest.skip("a CUDA GPU is usable here, so auto picks CuPy")
    chosen = resolve("auto", "auto")
    assert chosen.name == "numpy" and chosen.device_name == "cpu"
    assert chosen.reason == "auto: " + cuda_problem().split(";")[0]


def test_device_cuda_without_cuda_is_one_clear_line():
    problem = cuda_problem()
    if problem is None:
        pytest.skip("a CUDA GPU is usable here")
    with pytest.raises(XpnetError) as caught:
        resolve("auto", "cuda")
    message = str(caught.value)
    assert "\n" not in message and "cuda" in message and ("install" in message or "driver" in message)


def test_cupy_probe_reports_an_import_failure(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("libcudart.so.12: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    monkeypatch.setattr(backend_module, "_CUPY_PROBES", {})
    monkeypatch.setattr(backend_module, "_nvidia_driver_present", lambda: True)  # a driver, but no CuPy
    problem = backend_module.cuda_problem()
    assert problem is not None and "CuPy is not installed" in problem and "cuda12" in problem
    with pytest.raises(XpnetError, match="not usable"):
        resolve("cupy", "cuda")


@pytest.mark.parametrize("backend_name, device", [("numpy", "cuda"), ("numpy", "tpu"), ("auto", "cuda:x"),
                                                  ("array-api-strict", "device9"), ("nonsense", "cpu")])
def test_bad_combinations_are_usage_errors(backend_name, device):
    with pytest.raises(UsageError):
        resolve(backend_name, device)


def test_numpy_is_always_available():
    assert "numpy" in available_backends()


def test_round_trip_to_device_and_back(backend):
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    on_device = backend.asarray(host)
    assert on_device.dtype == backend.dtype("float32")
    back = to_numpy(on_device)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, host)
    assert backend.asarray(host, dtype="float64").dtype == backend.dtype("float64")


def test_limit_threads_pins_and_restores_the_pools():
    from threadpoolctl import threadpool_info

    from xpnet.backend import limit_threads

    before = [pool["num_threads"] for pool in threadpool_info()]
    with limit_threads(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert [pool["num_threads"] for pool in threadpool_info()] == before
    with limit_threads(None):
        assert [pool["num_threads"] for pool in threadpool_info()] == before


def test_cupy_on_the_cpu_is_refused_as_such():
    with pytest.raises(UsageError, match="CuPy runs on CUDA devices only, not 'cpu'"):
        resolve("cupy", "cpu")


@pytest.mark.parametrize("gpu", [False, True])
def test_cupy_on_the_cpu_offers_a_gpu_only_where_one_works(gpu, monkeypatch):
    """Without a GPU, 'use --device cuda' only led to 'cuda:0 is not usable': offer the CPU backend alone."""
    from xpnet import backend as backend_module
    from xpnet.arguments import on_the_command_line

    monkeypatch.setattr(backend_module, "_cupy_problem", lambda index: None if gpu else "no NVIDIA GPU found")
    with on_the_command_line(), pytest.raises(UsageError) as error:
        resolve("cupy", "cpu")
    if gpu:
        assert str(error.value).endswith("; use --device cuda or --backend numpy"), error.value
    else:
        assert str(error.value) == ("CuPy runs on CUDA devices only, not 'cpu', and none is usable here "
                                    "(no NVIDIA GPU found); use --backend numpy"), error.value


def test_a_thread_limit_also_pins_a_pytorch_imported_inside_it():
    """evaluate, predict and plot import PyTorch inside --threads: it must follow the limit too."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    own = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                         capture_output=True, text=True, timeout=120, check=True)
    code = ("import sys\n"
            "from xpnet.backend import limit_threads, resolve\n"
            "assert 'torch' not in sys.modules\n"
            "with limit_threads(1):\n"
            "    resolve('torch')\n"
            "    inside = sys.modules['torch'].get_num_threads()\n"
            "print(inside, sys.modules['torch'].get_num_threads())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    inside, after = map(int, done.stdout.split())
    assert inside == 1 and after == int(own.stdout)


def test_array_api_compat_tells_which_library_an_array_belongs_to(backend):
    from xpnet.backend import backend_of, library_of

    array = backend.asarray(np.zeros(3, dtype=np.float32))
    assert library_of(array) == backend.name == backend_of(array).name
    assert library_of([0.0]) is None


def test_a_usage_error_is_a_value_error_for_python_callers():
    with pytest.raises(ValueError, match="unknown backend"):
        resolve("nonsense")
