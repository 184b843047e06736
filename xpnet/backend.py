"""Choosing an array library and a device: the only module that names one.

Everything else receives arrays and asks them for their namespace
(``array_api_compat.array_namespace``) and device (``array_api_compat.device``).
The host is always NumPy: data are read, and random numbers drawn, there, then
moved with :func:`to_device`; :func:`to_numpy` is the only way back.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from array_api_compat import (array_namespace, is_array_api_strict_namespace, is_cupy_array, is_jax_array,
                              is_numpy_array, is_torch_array)
from array_api_compat import device as device_of

from .arguments import MAX_CUDA_INDEX, MAX_THREADS, a_name, passing, shown, together, whole_number
from .errors import UsageError, XpnetError
from .nn.checks import ParameterError, whole

#: The array libraries xpnet runs on, by name.
BACKENDS = ("numpy", "cupy", "torch", "jax", "array-api-strict")
BACKEND_CHOICES = ("auto",) + BACKENDS

_INSTALL_HINT = {
    "cupy": "install it with: pip install -e '.[cuda12]' (or '.[cuda13]' for CUDA 13 drivers)",
    "torch": "install it with: pip install -e '.[torch]'",
    "jax": "install it with: pip install -e '.[jax]' (or '.[jax-cuda12]' or '.[jax-cuda13]' for NVIDIA GPUs)",
    "array-api-strict": "install it with: pip install -e '.[strict]'",
}


@dataclass(frozen=True)
class Backend:
    """An Array API namespace and the device that arrays are created on.

    ``name`` is one of :data:`BACKENDS`, ``xp`` the Array API namespace,
    ``device`` the library's own device object, ``reason`` says why it was picked.
    """

    name: str
    xp: Any = field(repr=False)  # its repr names the install path: repr(Backend) would vary by machine
    device: Any
    reason: str = ""
    notes: tuple[str, ...] = ()  # lines a run prints under its header: how the library was set up

    @property
    def device_name(self) -> str:
        """The device as a user would type it: ``cpu``, ``cuda:0``, ``device1``..."""
        return _device_name(self.name, self.device)

    def asarray(self, host_array: np.ndarray, dtype=None):
        """Move a host NumPy array onto this backend's device (one transfer)."""
        return to_device(host_array, self, dtype=dtype)

    def dtype(self, name: str):
        """The namespace's dtype called ``name`` (``float32``, ``float64``...)."""
        return getattr(self.xp, name)

    def activate(self):
        """A context manager within which this backend's device is the current one.

        Every computation on the backend's arrays runs inside it. CuPy, through
        array-api-compat, ignores ``device=`` in ``zeros``, ``zeros_like``, ``arange``,
        ``astype``... and allocates on its *current* device; only this context makes
        ``cuda:1`` mean GPU 1 for them. For JAX it is ``jax.default_device``, where arrays made
        without ``device=`` land. Elsewhere it changes nothing. Re-entrant.
        """
        return _DEVICE_SCOPES.get(self.name, _no_scope)(self.device)

    @property
    def compiles_by_default(self) -> bool:
        """Whether training compiles its step unless told otherwise: JAX only (PyTorch opts in)."""
        return self.name == "jax"

    def compiler(self) -> "Compiler":
        """How this backend compiles a training step (:class:`Compiler`); :class:`UsageError` for
        a library that runs each operation as it is called (NumPy, CuPy, array-api-strict)."""
        if self.name == "jax":
            return _jax_compiler()
        if self.name == "torch":
            return _torch_compiler()
        raise UsageError(f"compiled training (--compile, +compile, compile=True) needs the jax or torch backend; "
                         f"{self.name} runs each operation as it is called: train it without compiling")

    def available_bytes(self) -> int | None:
        """Memory free for new arrays on this backend's device (None when unknown): the GPU's
        free memory for CuPy and PyTorch on CUDA, the host's available memory elsewhere."""
        try:
            if self.name == "cupy":
                with self.device:
                    import cupy

                    return int(self.device.mem_info[0]) + int(cupy.get_default_memory_pool().free_bytes())
            if self.name == "torch" and self.device.type == "cuda":
                import torch

                return int(torch.cuda.mem_get_info(self.device)[0])
            if self.name == "jax" and self.device.platform != "cpu":
                stats = self.device.memory_stats() or {}
                if "bytes_limit" not in stats:
                    return None
                return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
        except Exception:  # a driver that cannot say: no estimate rather than a failure
            return None
        return host_available_bytes()


@dataclass
class Compiler:
    """A library's compiler of pure array functions, as compiled training uses it.

    ``compile(fn, donate)`` returns ``fn`` compiled for the shapes it is called with, reusing
    its inputs' buffers at the argument positions ``donate`` where the library can (JAX).
    ``scan(body, carry, xs) -> (carry, ys)`` loops ``body`` over the leading axis of ``xs``
    inside a compiled function (``jax.lax.scan``); None where the library has none, and then a
    compiled step is called once per batch. ``compilations`` counts the traces compiled so far.
    ``wait(array)`` returns once ``array`` is computed, waiting in Python (JAX computes
    asynchronously: waiting inside the library would hold back signal handlers for an epoch).
    ``ahead(compiled, *args)`` is ``compiled`` compiled for the shapes of ``args`` without running
    it, to call with them (JAX: lowered, then compiled); None where the first call compiles.
    """

    name: str
    compile: Any
    scan: Any
    counter: list
    wait: Any = lambda array: None
    ahead: Any = None

    @property
    def compilations(self) -> int:
        return self.counter[0]


def _jax_compiler() -> Compiler:
    import jax

    counter = [0]

    def compile(fn, donate=()):
        def traced(*args):
            counter[0] += 1  # Python runs only while JAX traces: once per compilation
            return fn(*args)
        return jax.jit(traced, donate_argnums=donate)

    return Compiler("jax.jit (XLA)", compile, jax.lax.scan, counter, wait_in_python,
                    ahead=lambda compiled, *args: compiled.lower(*args).compile())


def wait_in_python(array) -> None:
    """Return once ``array`` (a JAX array) is computed, with this thread waiting in Python.

    ``block_until_ready`` holds the thread inside C++, where signal handlers cannot run; called in a
    short-lived thread while this one waits on an event, it returns the moment the result is ready
    (no polling) and a Ctrl-C still reaches its handler at once (a lock wait is interruptible on POSIX).
    """
    from .training.interrupt import end_at_exit_unless

    finished, failure = threading.Event(), []

    def block():
        try:
            array.block_until_ready()
        except BaseException as error:  # raised again in the waiting thread
            failure.append(error)
        finally:
            finished.set()

    threading.Thread(target=block, name="xpnet wait", daemon=True).start()
    try:
        finished.wait()
    except BaseException:  # a second Ctrl-C: the helper may still be inside JAX's C++ when the run exits
        end_at_exit_unless(finished)
        raise
    if failure:
        raise failure[0]


def _torch_compiler() -> Compiler:
    import warnings

    import torch
    from torch._dynamo.utils import counters

    # Dynamo traces through array-api-compat's cached namespace look-up and says so once per
    # call site; the look-up's answer never changes within a run, so the notes are noise.
    warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`", category=UserWarning)
    counter = [0]

    def compile(fn, donate=()):
        # One graph per input shape (no dynamic shapes): a full batch and the last, partial one.
        compiled = torch.compile(fn, dynamic=False, fullgraph=True)

        def call(*args):
            # Dynamo's count of graphs it kept: a first trace that a cold cache makes it redo counts once.
            before = counters["stats"]["unique_graphs"]
            result = compiled(*args)
            counter[0] += counters["stats"]["unique_graphs"] - before
            return result
        return call

    return Compiler("torch.compile (Inductor)", compile, None, counter)


def host_available_bytes() -> int | None:
    """The host memory a new allocation can use (MemAvailable, within any cgroup limit); None if unknown."""
    from .data.limits import available_memory

    return available_memory()


def resolve(backend: str = "auto", device: str = "auto") -> Backend:
    """Pick the backend and device a user asked for, or the best available for ``auto``.

    ``auto`` prefers CuPy on a working CUDA GPU, else NumPy on the CPU. Raises
    :class:`XpnetError` with one line naming the cause and the fix when the
    request cannot be met, :class:`UsageError` when it makes no sense.
    """
    backend = a_name("backend", backend, BACKEND_CHOICES)
    if not isinstance(device, str):
        raise UsageError(f"device (--device) must be a string: auto, cpu, cuda or cuda:N, got {shown(device)}")
    device = device.lower()
    wants_cuda = device.startswith("cuda")
    if wants_cuda:
        _parse_cuda_index(device)
    if backend == "auto":
        if device == "auto":
            problem = _cupy_problem(0)
            if problem is None:
                return _make("cupy", "cuda:0", "auto: CuPy found a working CUDA GPU")
            cause = problem.split(";")[0]
            return _make("numpy", "cpu", f"auto: {cause}")
        if wants_cuda:
            return _make("cupy", device, f"--device {device}: CuPy is the CUDA backend")
        return _make("numpy", device, f"--device {device}: NumPy is the CPU backend")
    return _make(backend, device, f"--backend {backend}")


def available_backends() -> list[str]:
    """Names of the backends whose library imports here (CuPy only with a usable GPU)."""
    found = []
    for name in BACKENDS:
        if name == "cupy":
            if _cupy_problem(0) is None:
                found.append(name)
        elif _import(name) is not None:
            found.append(name)
    return found


def cuda_problem() -> str | None:
    """Why CuPy cannot run on GPU 0 here, or None when it can."""
    return _cupy_problem(0)


def placement(backend: str, device: str) -> str:
    """``--backend jax --device cuda:1``, or ``backend='jax', device='cuda:1'`` in Python."""
    return together((passing("--backend", backend), passing("--device", device)))


def cpu_flags(backend: str) -> str:
    """The command-line flags that move a run asked for on ``backend`` onto the CPU (PyTorch and
    JAX run there themselves; CuPy cannot): ``--device cpu``, or ``device='cpu'`` in Python."""
    return placement("numpy", "cpu") if backend == "cupy" else passing("--device", "cpu")


def to_device(host_array: np.ndarray, backend: Backend, dtype=None):
    """A copy of a NumPy array on ``backend``'s device, optionally cast on the host first.

    Always a copy, also on NumPy, so updating it in place never touches the host array.
    """
    if dtype is not None:
        host_array = np.asarray(host_array, dtype=np.dtype(_dtype_name(dtype)))
    if backend.name == "jax":
        import jax

        # An explicit transfer, which jax.transfer_guard("disallow") still lets through.
        return jax.device_put(np.asarray(host_array), backend.device, may_alias=False)
    return backend.xp.asarray(host_array, device=backend.device, copy=True)


def to_numpy(array) -> np.ndarray:
    """Copy any backend's array to the host as NumPy: the one way back.

    Always a copy, never a view of ``array``'s memory (NumPy arrays and PyTorch CPU tensors
    included), so later in-place updates of ``array`` leave it as it was.
    """
    library = library_of(array)
    if library == "cupy":
        return array.get()
    if library == "torch":
        tensor = array.detach()
        return tensor.numpy().copy() if tensor.device.type == "cpu" else tensor.cpu().numpy()
    if library == "array-api-strict":
        array = array.to_device(array_namespace(array).Device("CPU_DEVICE"))
    # JAX: np.array copies a device buffer to the host (never a view, since copy=True).
    return np.array(array, copy=True)


def library_of(array) -> str | None:
    """Which of :data:`BACKENDS` ``array`` belongs to (None for anything else), asked of array-api-compat."""
    if is_numpy_array(array):
        return "numpy"
    if is_cupy_array(array):
        return "cupy"
    if is_torch_array(array):
        return "torch"
    if is_jax_array(array):
        return "jax"
    if hasattr(array, "__array_namespace__") and is_array_api_strict_namespace(array_namespace(array)):
        return "array-api-strict"
    return None


def synchronize(array) -> None:
    """Wait until the device has finished the work that produced ``array`` (for timing)."""
    library = library_of(array)
    if library == "cupy":
        array.device.synchronize()
    elif library == "torch" and array.device.type == "cuda":
        import torch

        torch.cuda.synchronize(array.device)
    elif library == "jax":
        array.block_until_ready()


@contextlib.contextmanager
def limit_threads(threads: int | None):
    """Within the block, BLAS/OpenMP pools and PyTorch use ``threads`` threads (as found when None).

    At these sizes a second BLAS thread buys little, and on a shared machine threads that
    spin while waiting for a busy core can make an epoch ten times slower. PyTorch imported
    inside the block (by :func:`resolve`) is pinned too, and every count is restored after.
    """
    if threads is None:
        yield
        return
    try:
        threads = whole("threads", threads, 1, MAX_THREADS)
    except ParameterError as error:
        raise UsageError(error.naming("threads (--threads)")) from None
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    torch_before = None if torch is None else torch.get_num_threads()
    _THREAD_LIMITS.append(threads)
    # torch's OpenMP runtime keeps its own count unless told before the limit applies.
    _pin_torch_threads()
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        _THREAD_LIMITS.pop()
        torch = sys.modules.get("torch")
        if torch is not None and (torch_before is not None or _TORCH_OWN_THREADS):
            torch.set_num_threads(torch_before if torch_before is not None else _TORCH_OWN_THREADS[0])


# The limits of the open limit_threads blocks, innermost last, and PyTorch's own thread count
# from before any of them pinned it.
_THREAD_LIMITS: list[int] = []
_TORCH_OWN_THREADS: list[int] = []


def _pin_torch_threads() -> None:
    torch = sys.modules.get("torch")
    if torch is None or not _THREAD_LIMITS:
        return
    if not _TORCH_OWN_THREADS:
        _TORCH_OWN_THREADS.append(torch.get_num_threads())
    torch.set_num_threads(_THREAD_LIMITS[-1])


def memory_pool_bytes(array) -> int | None:
    """Bytes CuPy's memory pool holds once ``array``'s work is done; None off CuPy."""
    if library_of(array) != "cupy":
        return None
    import cupy

    synchronize(array)
    with array.device:  # the pool of the array's GPU, not of the current one
        return int(cupy.get_default_memory_pool().total_bytes())


def release_memory_pool(backends) -> None:
    """Give CuPy's cached blocks back on the GPU of each CuPy backend in ``backends``, so a later
    peak is its own. CuPy's pool frees the *current* device's blocks: each is freed in its device's context."""
    for backend in backends:
        if backend.name == "cupy":
            import cupy

            with backend.activate():
                cupy.get_default_memory_pool().free_all_blocks()


def backend_of(array) -> Backend:
    """The :class:`Backend` an existing array lives on."""
    return Backend(library_of(array), array_namespace(array), device_of(array), "from an existing array")


def library_versions(backend: Backend) -> dict[str, str]:
    """Version strings worth printing next to a result: the library's, how it computes float32
    matrix products (:func:`float32_matmul`), and on a GPU the CUDA versions and the GPU's name."""
    module = _import(backend.name)
    versions = {backend.name: getattr(module, "__version__", "?"), "float32_matmul": float32_matmul(backend)}
    if backend.name == "cupy":
        runtime = module.cuda.runtime
        versions["cuda_runtime"] = _cuda_version(runtime.runtimeGetVersion())
        versions["cuda_driver"] = _cuda_version(runtime.driverGetVersion())
        versions["gpu"] = runtime.getDeviceProperties(backend.device.id)["name"].decode()
    elif backend.name == "torch" and backend.device.type == "cuda":
        versions["torch_cuda"] = str(module.version.cuda)
        versions["torch_allow_tf32"] = str(module.backends.cuda.matmul.allow_tf32)
        versions["gpu"] = module.cuda.get_device_name(backend.device)
    elif backend.name == "jax":
        import jaxlib

        versions["jaxlib"] = getattr(jaxlib, "__version__", "?")
        versions["jax_enable_x64"] = str(bool(module.config.jax_enable_x64))
        if backend.device.platform != "cpu":
            versions["gpu"] = str(backend.device.device_kind)
    return versions


IEEE_FLOAT32 = "float32 (IEEE)"
# JAX's settings of jax_default_matmul_precision that compute float32 products in float32.
_JAX_FLOAT32_PRECISIONS = ("highest", "float32", "F32_F32_F32")
# Those that compute them in TF32; the others (bfloat16, high, BF16_BF16_F32...) in bfloat16 passes.
_JAX_TF32_PRECISIONS = ("default", "tensorfloat32", "TF32_TF32_F32")


def float32_matmul(backend: Backend) -> str:
    """How ``backend`` multiplies float32 matrices: ``float32 (IEEE)``, ``TF32 (opted in by ...)``, or for a
    JAX precision of bfloat16 passes ``not IEEE float32 (opted in by ...)``."""
    switch = None
    if backend.name == "torch":
        switch = bool(_import("torch").backends.cuda.matmul.allow_tf32)
    elif backend.name == "jax":
        switch = _import("jax").config.jax_default_matmul_precision
    return float32_matmul_text(backend.name, backend.device_name.startswith("cuda"), os.environ, switch)


def float32_matmul_text(library: str, on_gpu: bool, environ: Mapping[str, str], switch) -> str:
    """:func:`float32_matmul` from the facts: the library, whether it runs on a GPU, the environment,
    and ``switch``, the library's own TF32 switch (PyTorch's ``allow_tf32``, JAX's default matmul precision)."""
    if not on_gpu or environ.get("NVIDIA_TF32_OVERRIDE") == "0":  # the override binds cuBLAS for every library
        return IEEE_FLOAT32
    if library == "cupy" and environ.get("CUPY_TF32") == "1":
        return "TF32 (opted in by CUPY_TF32=1)"
    if library == "torch" and switch:
        return "TF32 (opted in by torch.set_float32_matmul_precision('high'), or allow_tf32)"
    if library == "jax" and switch is None:
        return "TF32 (JAX's default on a GPU)"
    if library == "jax" and switch not in _JAX_FLOAT32_PRECISIONS:
        kind = "TF32" if switch in _JAX_TF32_PRECISIONS else "not IEEE float32"
        return f"{kind} (opted in by JAX_DEFAULT_MATMUL_PRECISION={switch})"
    return IEEE_FLOAT32


def _cuda_version(number: int) -> str:
    """CUDA's integer versions: 12040 -> '12.4'."""
    return f"{number // 1000}.{number % 1000 // 10}"


def _make(name: str, device: str, reason: str) -> Backend:
    if name == "cupy":
        if device != "auto" and not device.startswith("cuda"):
            no_gpu = _cupy_problem(0)  # then only the CPU backend helps: --device cuda would be refused next
            if no_gpu is not None:
                raise UsageError(f"CuPy runs on CUDA devices only, not {device!r}, and none is usable here "
                                 f"({no_gpu.split('; ')[0]}); use {passing('--backend', 'numpy')}")
            raise UsageError(f"CuPy runs on CUDA devices only, not {device!r}; use {passing('--device', 'cuda')} "
                             f"or {passing('--backend', 'numpy')}")
        index = _parse_cuda_index(device)
        problem = _cupy_problem(index)
        if problem is not None:
            # CuPy asked for by name: the CPU is another backend, not a device
            to_the_cpu = cpu_flags("cupy") if reason.startswith("--backend") else passing("--device", "cpu")
            problem = problem.replace(USE_THE_CPU, f"use {to_the_cpu}")
            raise XpnetError(f"{passing('--device', f'cuda:{index}')} is not usable: {problem}")
        import array_api_compat.cupy as xp
        import cupy

        return Backend(name, xp, cupy.cuda.Device(index), reason)
    module = _import(name)
    if module is None:
        raise XpnetError(f"backend {name!r} is not installed; {_INSTALL_HINT.get(name, 'install it')}")
    if name == "numpy":
        if device not in ("auto", "cpu"):
            raise _cpu_only(name, device)
        import array_api_compat.numpy as xp

        return Backend(name, xp, "cpu", reason)
    if name == "torch":
        import array_api_compat.torch as xp
        import torch

        _pin_torch_threads()  # imported just now, inside a --threads block
        if device in ("auto", "cpu"):
            return Backend(name, xp, torch.device("cpu"), reason)
        if device.startswith("cuda"):
            index = _parse_cuda_index(device)
            if not torch.cuda.is_available():
                raise XpnetError(
                    f"{placement('torch', device)} is not usable: this PyTorch build sees no CUDA GPU; "
                    f"use {passing('--device', 'cpu')}, or install a CUDA build of PyTorch on a machine with an "
                    "NVIDIA driver"
                )
            return Backend(name, xp, torch.device("cuda", index), reason)
        raise _cpu_only(name, device)
    if name == "jax":
        notes = _prepare_jax(module, device)
        return Backend(name, _jax_namespace(module), _jax_device(module, device), reason, notes)
    if name == "array-api-strict":
        xp = module
        if device in ("auto", "cpu"):
            return Backend(name, xp, xp.Device("CPU_DEVICE"), reason)
        known = {_strict_device_label(d) for d in xp.__array_namespace_info__().devices()}
        if device in known:
            return Backend(name, xp, xp.Device(device), reason)
        raise UsageError(
            f"array-api-strict has no device {device!r}; use {passing('--device', 'cpu')} "
            "(or its fake second device, device1)"
        )
    raise UsageError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_CHOICES)}")


def _no_scope(device) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def _torch_scope(device) -> contextlib.AbstractContextManager:
    if device.type != "cuda":
        return contextlib.nullcontext()
    import torch

    return torch.cuda.device(device)


def _jax_scope(device) -> contextlib.AbstractContextManager:
    import jax

    return jax.default_device(device)


# The libraries with a "current device" that creation functions fall back on; a
# cupy.cuda.Device is itself the context manager that makes it current.
_DEVICE_SCOPES = {"cupy": lambda device: device, "torch": _torch_scope, "jax": _jax_scope}


# The environment variables by which a user chooses how JAX takes GPU memory: theirs wins.
_JAX_MEMORY_CHOICES = ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION",
                       "XLA_PYTHON_CLIENT_ALLOCATOR")
_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops"
_JAX_GPU_SET_UP: list[str] = []  # the devices xpnet set JAX's GPU environment up for (it then starts)


def jax_gpu_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment variables to set, given ``environ``, before JAX starts its GPU backend.

    ``XLA_FLAGS`` gains ``--xla_gpu_deterministic_ops=true`` (which also turns autotuning off), so
    that the same compiled step gives the same bits in every process and a resumed run equals an
    uninterrupted one; ``XLA_PYTHON_CLIENT_PREALLOCATE=false``, so that JAX takes memory as it needs
    it, not 75% of every visible GPU. A user's own setting of either is kept.
    """
    changes = {}
    flags = environ.get("XLA_FLAGS", "")
    if not any(flag.split("=")[0] == _DETERMINISTIC_FLAG for flag in flags.split()):
        changes["XLA_FLAGS"] = f"{flags} {_DETERMINISTIC_FLAG}=true".strip()
    if not any(name in environ for name in _JAX_MEMORY_CHOICES):
        changes["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return changes


def _prepare_jax(jax, device: str) -> tuple[str, ...]:
    """Make float32 products IEEE float32 unless the user opted in to TF32, and before a CUDA device's
    backend starts set :func:`jax_gpu_environment`; the notes a run prints about it."""
    if jax.config.jax_default_matmul_precision is None:  # JAX_DEFAULT_MATMUL_PRECISION sets it at import
        jax.config.update("jax_default_matmul_precision", "highest")  # global: compiler threads see it too
    if not device.startswith("cuda"):
        return ()
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized() and not _JAX_GPU_SET_UP:
        return ("note: JAX started before xpnet set it up, so XLA_FLAGS and XLA_PYTHON_CLIENT_PREALLOCATE are as "
                "found: it may preallocate 75% of every visible GPU, and a resumed run may differ from an "
                "uninterrupted one in the last bits",)
    os.environ.update(jax_gpu_environment(os.environ))
    _JAX_GPU_SET_UP.append(device)
    taken = ("as it needs it (XLA_PYTHON_CLIENT_PREALLOCATE=false)"
             if os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE") == "false" else "as your XLA_PYTHON_CLIENT_* say")
    return (f"note: JAX takes GPU memory {taken}, and a CUDA context on every visible GPU; "
            f"CUDA_VISIBLE_DEVICES={_parse_cuda_index(device)} with --device cuda:0 keeps the others entirely free",)


def _jax_namespace(jax):
    """``jax.numpy``, the Array API namespace array-api-compat hands out for JAX arrays, with 64-bit
    types switched on.

    JAX makes float64 arrays only with ``jax_enable_x64``; without it a float64 request silently
    becomes float32 and the float64 finite-difference checks mean nothing. The switch is
    process-wide and has one side effect: JAX's *default* dtypes become 64-bit (``jnp.zeros(3)``
    is float64, Python scalars and ``arange`` int64). xpnet never relies on a default dtype: it
    moves host arrays of a stated dtype and passes ``dtype=`` wherever it creates one, so float32
    runs stay float32 (tested by the parity and dtype tests on the jax fixture).
    """
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return array_namespace(jnp.zeros((), dtype=jnp.float32))


def _jax_device(jax, device: str):
    """The ``jax.Device`` for ``cpu``/``auto`` or ``cuda[:N]``, with one-line reasons when absent."""
    if device in ("auto", "cpu"):
        return jax.devices("cpu")[0]
    if not device.startswith("cuda"):
        raise UsageError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
    index = _parse_cuda_index(device)
    try:
        gpus = jax.devices("cuda")
    except RuntimeError:
        raise XpnetError(
            f"{placement('jax', device)} is not usable: this JAX install sees no CUDA GPU; "
            f"use {passing('--device', 'cpu')}, "
            "or install it with pip install -e '.[jax-cuda12]' (CUDA 12 driver) or '.[jax-cuda13]' (CUDA 13) on a "
            "machine with an NVIDIA driver"
        ) from None
    if index >= len(gpus):
        raise XpnetError(f"{placement('jax', device)} is not usable: only {len(gpus)} CUDA device(s) found; "
                         f"use {passing('--device', f'cuda:0..cuda:{len(gpus) - 1}')}")
    return gpus[index]


def _cpu_only(name: str, device: str) -> Exception:
    if device.startswith("cuda"):
        return UsageError(f"{passing('--backend', name)} runs on the CPU only; use {passing('--backend', 'cupy')} "
                          f"(or auto) with {passing('--device', device)}")
    return UsageError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")


def _parse_cuda_index(device: str) -> int:
    if device in ("cuda", "auto"):
        return 0
    prefix, _, index = device.partition(":")
    if prefix != "cuda":
        raise UsageError(f"unknown device {shown(device)}; choose auto, cpu, cuda or cuda:N")
    try:
        return whole_number(index, "N", MAX_CUDA_INDEX)
    except UsageError:
        raise UsageError(f"unknown device {shown(device)}; choose auto, cpu, cuda or cuda:N, N from 0 to "
                         f"{MAX_CUDA_INDEX} in the digits 0-9") from None


def _import(name: str):
    module_name = {"array-api-strict": "array_api_strict"}.get(name, name)
    try:
        return importlib.import_module(module_name)
    except Exception:
        return None


_CUPY_PROBES: dict[int, str | None] = {}
USE_THE_CPU = "use --device cpu"  # a probe's advice, cached; _make puts the flags (or keywords) that apply


def _nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver, without importing or initialising anything."""
    import os
    import shutil

    # Linux (containers included) shows the kernel module in /proc; WSL has the library only.
    return (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/usr/lib/wsl/lib/libcuda.so.1")
            or shutil.which("nvidia-smi") is not None)


def _cupy_problem(index: int) -> str | None:
    """Probe CuPy on GPU ``index`` once: driver, import, then a real matmul."""
    if index in _CUPY_PROBES:
        return _CUPY_PROBES[index]
    # Without a driver no CuPy install can help, so say that before suggesting a 3 GB one.
    if not _nvidia_driver_present():
        problem = f"no NVIDIA GPU found (no NVIDIA driver); {USE_THE_CPU}"
        _CUPY_PROBES[index] = problem
        return problem
    try:
        import cupy
    except Exception:
        problem = "CuPy is not installed; install it with: pip install -e '.[cuda12]' (or '.[cuda13]')"
        _CUPY_PROBES[index] = problem
        return problem
    problem = None
    try:
        if not cupy.cuda.is_available():
            problem = f"CuPy sees no CUDA GPU or NVIDIA driver (check nvidia-smi); {USE_THE_CPU}"
        else:
            count = cupy.cuda.runtime.getDeviceCount()
            if index >= count:
                problem = f"only {count} CUDA device(s) found; use --device cuda:0..cuda:{count - 1}"
            else:
                with cupy.cuda.Device(index):
                    a = cupy.ones((8, 8), dtype=cupy.float32)
                    float((a @ a).sum())
    except Exception as error:
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        problem = (
            f"CuPy could not run on the GPU ({first_line}); the CUDA libraries may be missing: "
            "pip install -e '.[cuda12]' installs them, and the driver must match (nvidia-smi)"
        )
    _CUPY_PROBES[index] = problem
    return problem


def _device_name(name: str, device: Any) -> str:
    if name == "numpy":
        return "cpu"
    if name == "cupy":
        return f"cuda:{device.id}"
    if name == "torch":
        return str(device)
    if name == "jax":
        return "cpu" if device.platform == "cpu" else f"cuda:{device.id}"
    if name == "array-api-strict":
        label = _strict_device_label(device)
        return "cpu" if label == "CPU_DEVICE" else label
    return str(device)


def _strict_device_label(device) -> str:
    """``array_api_strict.Device('device1')`` -> ``'device1'``."""
    match = re.search(r"\('(.*)'\)", repr(device))
    return match.group(1) if match else repr(device)


def _dtype_name(dtype) -> str:
    """``float32`` for any library's float32 dtype object or string."""
    if isinstance(dtype, str):
        return dtype
    text = str(dtype)
    for name in ("float64", "float32", "float16", "int64", "int32", "uint8", "bool"):
        if name in text:
            return name
    raise UsageError(f"unsupported dtype {dtype!r}")
