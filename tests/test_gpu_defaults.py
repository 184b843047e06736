"""What xpnet sets up for a GPU run, checked on the CPU: IEEE float32 products unless a user opts in
to TF32, JAX's GPU environment (deterministic kernels, memory taken as needed), waiting for a JAX
result without polling, and CuPy's pools and constants on the device asked for."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import threading
import types

import pytest

import xpnet
from xpnet import backend as backend_module
from xpnet.backend import (IEEE_FLOAT32, Backend, float32_matmul_text, jax_gpu_environment, library_versions,
                           release_memory_pool, resolve, wait_in_python)
from xpnet.nn import ops

jax_installed = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(code: str, **env) -> str:
    """Run ``code`` in a fresh Python from the repository root; its stdout."""
    environ = {**os.environ, "PYTHONPATH": ROOT, **env}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- TF32: float32 means IEEE float32 unless a user opts in ---

@jax_installed
def test_resolving_jax_makes_its_float32_products_ieee():
    import jax

    resolve("jax", "cpu")
    seen = []  # compilations run in a worker thread: the setting is global, not the thread's
    worker = threading.Thread(target=lambda: seen.append(jax.config.jax_default_matmul_precision))
    worker.start()
    worker.join()
    assert jax.config.jax_default_matmul_precision == "highest" and seen == ["highest"]


@jax_installed
def test_a_users_jax_matmul_precision_is_kept():
    out = run_child("""
        import jax
        import xpnet
        xpnet.resolve("jax", "cpu")
        print(jax.config.jax_default_matmul_precision)
        jax.config.update("jax_default_matmul_precision", "bfloat16")
        xpnet.resolve("jax", "cpu")
        print(jax.config.jax_default_matmul_precision)
    """, JAX_DEFAULT_MATMUL_PRECISION="tensorfloat32")
    assert out.split() == ["tensorfloat32", "bfloat16"]


@pytest.mark.parametrize("library, on_gpu, environ, switch, expected", [
    ("numpy", False, {}, None, IEEE_FLOAT32),
    ("jax", False, {}, "tensorfloat32", IEEE_FLOAT32),  # XLA on the CPU has no TF32
    ("cupy", True, {}, None, IEEE_FLOAT32),
    ("cupy", True, {"CUPY_TF32": "1"}, None, "TF32 (opted in by CUPY_TF32=1)"),
    ("cupy", True, {"CUPY_TF32": "1", "NVIDIA_TF32_OVERRIDE": "0"}, None, IEEE_FLOAT32),
    ("torch", True, {}, False, IEEE_FLOAT32),
    ("torch", True, {}, True, "TF32 (opted in by torch.set_float32_matmul_precision('high'), or allow_tf32)"),
    ("jax", True, {}, "highest", IEEE_FLOAT32),
    ("jax", True, {}, "F32_F32_F32", IEEE_FLOAT32),
    ("jax", True, {}, None, "TF32 (JAX's default on a GPU)"),  # nobody opted in: "...=None" was said
    ("jax", True, {}, "tensorfloat32", "TF32 (opted in by JAX_DEFAULT_MATMUL_PRECISION=tensorfloat32)"),
    # bfloat16 passes, which were called TF32
    ("jax", True, {}, "bfloat16", "not IEEE float32 (opted in by JAX_DEFAULT_MATMUL_PRECISION=bfloat16)"),
    ("jax", True, {}, "high", "not IEEE float32 (opted in by JAX_DEFAULT_MATMUL_PRECISION=high)"),
])
def test_the_float32_matmul_precision_is_stated_for_each_case(library, on_gpu, environ, switch, expected):
    assert float32_matmul_text(library, on_gpu, environ, switch) == expected


@pytest.mark.parametrize("environ, stated", [({}, "float32 (IEEE)"),
                                             ({"CUPY_TF32": "1"}, "TF32 (opted in by CUPY_TF32=1)")])
def test_a_gpu_runs_header_states_its_float32_products_and_the_backends_notes(monkeypatch, environ, stated):
    from xpnet.training.config import Config
    from xpnet.training.extensions.terminal import report_header

    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    monkeypatch.delenv("CUPY_TF32", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    gpu = Backend("cupy", None, types.SimpleNamespace(id=1), "--backend cupy", ("note: how memory is taken",))
    arch = types.SimpleNamespace(parameter_count=lambda: 10, title=lambda: "784-10")
    splits = types.SimpleNamespace(train=types.SimpleNamespace(size=6), dev=None, test=types.SimpleNamespace(size=2))
    run = types.SimpleNamespace(config=Config(), backend=gpu, network=arch, compiled=None, data=splits, batch_size=128,
                                epochs=1,
                                dataset=types.SimpleNamespace(name="synthetic", source="memory", num_classes=10))
    lines = []
    report_header(lines.append, run)
    assert lines[0].startswith(f"xpnet {xpnet.__version__}: backend cupy on cuda:1, float32 (matmuls {stated}) (")
    assert lines[1] == "note: how memory is taken"


@pytest.mark.parametrize("name", ["numpy", "array-api-strict", "torch", "jax"])
def test_library_versions_state_the_float32_matmul_precision(name):
    pytest.importorskip(name.replace("-", "_"))
    assert library_versions(resolve(name, "cpu"))["float32_matmul"] == IEEE_FLOAT32


# --- JAX on a GPU: deterministic kernels, memory taken as needed ---

@pytest.mark.parametrize("environ, expected", [
    ({}, {"XLA_FLAGS": "--xla_gpu_deterministic_ops=true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}),
    ({"XLA_FLAGS": "--xla_dump_to=/tmp/hlo"},
     {"XLA_FLAGS": "--xla_dump_to=/tmp/hlo --xla_gpu_deterministic_ops=true",
      "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}),
    ({"XLA_FLAGS": "--xla_gpu_deterministic_ops=false", "XLA_PYTHON_CLIENT_PREALLOCATE": "true"}, {}),
    ({"XLA_FLAGS": "--xla_gpu_deterministic_ops"}, {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}),
    ({"XLA_PYTHON_CLIENT_MEM_FRACTION": ".5"}, {"XLA_FLAGS": "--xla_gpu_deterministic_ops=true"}),
    ({"XLA_CLIENT_MEM_FRACTION": ".5"}, {"XLA_FLAGS": "--xla_gpu_deterministic_ops=true"}),
    ({"XLA_PYTHON_CLIENT_ALLOCATOR": "platform"}, {"XLA_FLAGS": "--xla_gpu_deterministic_ops=true"}),
])
def test_the_jax_gpu_environment_keeps_what_a_user_set(environ, expected):
    assert jax_gpu_environment(environ) == expected


@jax_installed
@pytest.mark.parametrize("started", [False, True])
def test_resolving_jax_on_a_gpu_sets_its_environment_before_it_starts(monkeypatch, started):
    import jax
    from jax._src import xla_bridge

    for name in ("XLA_FLAGS", *backend_module._JAX_MEMORY_CHOICES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(backend_module, "_JAX_GPU_SET_UP", [])
    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: started)
    notes = backend_module._prepare_jax(jax, "cuda:1")
    if started:
        assert "XLA_FLAGS" not in os.environ and "JAX started before xpnet set it up" in notes[0]
    else:
        assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=true"
        assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert "as it needs it" in notes[0] and "CUDA_VISIBLE_DEVICES=1 with --device cuda:0" in notes[0]
    assert backend_module._prepare_jax(jax, "cpu") == ()


@jax_installed
def test_a_users_xla_flags_still_act_once_xpnet_added_its_own(tmp_path):
    """XLA reads XLA_FLAGS when JAX's backends start, after xpnet resolved a GPU: the user's dump flag
    and xpnet's flag both reach XLA (an unknown flag would end the process)."""
    dump = tmp_path / "dump"
    out = run_child("""
        import os
        import jax
        import xpnet
        try:
            xpnet.resolve("jax", "cuda:0")  # no GPU here: refused, once the environment is set
        except xpnet.XpnetError:
            pass
        print(os.environ["XLA_FLAGS"])
        xpnet.resolve("jax", "cpu")
        jax.jit(lambda x: x @ x)(jax.numpy.ones((4, 4))).block_until_ready()
    """, XLA_FLAGS=f"--xla_dump_to={dump}")
    assert out.split() == [f"--xla_dump_to={dump}", "--xla_gpu_deterministic_ops=true"]
    assert any(dump.iterdir())


@jax_installed
def test_a_second_jax_gpu_run_in_the_process_is_not_told_jax_started_before_xpnet(monkeypatch):
    import jax
    from jax._src import xla_bridge

    for name in ("XLA_FLAGS", *backend_module._JAX_MEMORY_CHOICES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(backend_module, "_JAX_GPU_SET_UP", [])
    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: False)
    first = backend_module._prepare_jax(jax, "cuda:0")
    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: True)  # the first run started it
    assert backend_module._prepare_jax(jax, "cuda:0") == first and "as it needs it" in first[0]
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=true"


HASHED_RUN = """
    import hashlib, sys
    import numpy as np
    import xpnet

    def digest(result):
        return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes()
                                       for layer in result.host_params() for a in layer)).hexdigest()

    settings = dict(dataset="synthetic:600", backend="jax", compile=True, hidden=(16,), batch_size=128,
                    dropout=0.2, shift=1, seed=5, log=None, progress=False)
    print(digest(xpnet.fit(epochs=2, **settings)))
    if sys.argv[1] == "save":
        xpnet.fit(epochs=1, save_path=sys.argv[2], **settings)
    else:
        print(digest(xpnet.fit(epochs=2, resume=sys.argv[2], **settings)))
"""


@jax_installed
def test_a_jax_run_hashes_the_same_in_two_processes_and_resumed(tmp_path):
    """Two processes train the same compiled run (dropout, shifts); the second also resumes the first's
    one-epoch checkpoint for a second epoch: the three final parameters are equal to the bit."""
    saved = str(tmp_path / "one-epoch.npz")
    first = subprocess.run([sys.executable, "-c", textwrap.dedent(HASHED_RUN), "save", saved], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=180)
    second = subprocess.run([sys.executable, "-c", textwrap.dedent(HASHED_RUN), "resume", saved], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    straight, = first.stdout.split()
    assert second.stdout.split() == [straight, straight]


# --- Waiting for a JAX result: blocked on, not polled, and still answering signals ---

class BlockedArray:
    """A JAX array stand-in whose result is ready once ``ready`` is set; polling it fails the test."""

    def __init__(self):
        self.ready = threading.Event()
        self.blocks = 0

    def block_until_ready(self):
        self.blocks += 1
        self.ready.wait()
        return self

    def is_ready(self):
        raise AssertionError("wait polled is_ready")


def test_waiting_for_a_jax_result_blocks_on_it_without_polling(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: pytest.fail("wait slept"))
    array = BlockedArray()
    returned = threading.Event()
    waiter = threading.Thread(target=lambda: (wait_in_python(array), returned.set()))
    waiter.start()
    assert not returned.wait(0.2)  # the result is not ready: wait has not returned
    array.ready.set()
    waiter.join(10)
    assert returned.is_set() and array.blocks == 1


def test_jax_compiler_waits_with_wait_in_python():
    pytest.importorskip("jax")
    assert resolve("jax", "cpu").compiler().wait is wait_in_python


def test_an_error_while_waiting_is_raised_in_the_waiting_thread():
    class Failing:
        def block_until_ready(self):
            raise RuntimeError("XLA runtime error")

    with pytest.raises(RuntimeError, match="XLA runtime error"):
        wait_in_python(Failing())


class Answered(Exception):
    """What the test's signal handler raises."""


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
def test_a_signal_during_the_wait_reaches_its_handler_while_the_result_is_still_blocked(monkeypatch):
    """The handler runs while the result is blocked; the exception it raises leaves the wait, and the
    process is set to end at exit unless the helper thread got out of JAX by then."""
    from xpnet.training import interrupt

    guarded = []
    monkeypatch.setattr(interrupt, "end_at_exit_unless", lambda finished: guarded.append(finished.is_set()))
    array = BlockedArray()
    seen = []

    def handler(signum, frame):
        seen.append(array.ready.is_set())
        raise Answered

    before = signal.signal(signal.SIGUSR1, handler)
    main = threading.get_ident()
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(Answered):
            wait_in_python(array)
    finally:
        timer.cancel()
        array.ready.set()  # lets the waiting helper thread end
        signal.signal(signal.SIGUSR1, before)
    assert seen == [False] and array.blocks == 1 and guarded == [False]


# --- CuPy: each GPU's pool freed on that GPU; constants filed under the device asked for ---

class FakeCupy(types.ModuleType):
    """A ``cupy`` module recording the current device each time the default pool frees its blocks."""

    def __init__(self):
        super().__init__("cupy")
        self.current = 0
        self.freed_on = []
        pool = types.SimpleNamespace(free_all_blocks=lambda: self.freed_on.append(self.current))
        self.get_default_memory_pool = lambda: pool

    def device(self, index):
        cupy = self

        class Device:
            id = index

            def __enter__(self):
                self.before, cupy.current = cupy.current, index
                return self

            def __exit__(self, *exc):
                cupy.current = self.before

        return Device()


def test_release_memory_pool_frees_each_gpus_pool_in_its_context(monkeypatch):
    cupy = FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    backends = [Backend("cupy", None, cupy.device(1)), Backend("numpy", None, "cpu"),
                Backend("cupy", None, cupy.device(2))]
    release_memory_pool(backends)
    assert cupy.freed_on == [1, 2] and cupy.current == 0


def test_a_device_constant_made_outside_the_device_context_is_filed_under_the_asked_device(cupy_like, monkeypatch):
    xp = cupy_like.strict
    device1 = xp.Device("device1")
    monkeypatch.setattr(ops, "_CONSTANTS", [])
    made = [ops.device_constant(xp, device1, ("zero", xp.float32),
                                lambda where: xp.zeros((), dtype=xp.float32, device=where)) for _ in range(5)]
    assert all(constant.device == device1 for constant in made)
    assert len(ops._CONSTANTS) == 1 and all(constant is made[0] for constant in made)
    assert cupy_like.created_on[str(xp.Device("CPU_DEVICE"))] == 1  # made once, then moved: never again


def test_the_gpu_report_states_the_float32_matmul_precision(tmp_path, monkeypatch):
    import json

    from ci_scripts import load_script
    from test_ci_gpu_lane import FakeRunner, fake_report

    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    found = load_script("gpu_report").probe("numpy", "cpu")
    assert found["float32_matmul"] == IEEE_FLOAT32
    probed = {"backend": "cupy", "device": "cuda:0", "gpus": ["NVIDIA H200"], "float32_matmul": IEEE_FLOAT32}
    status, report = fake_report(tmp_path, FakeRunner({"--probe": (0, json.dumps(probed) + "\n")}))
    assert "| float32 matrix products of the backend under test | float32 (IEEE) |" in report
