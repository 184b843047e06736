"""``python -m xpnet.bench``: xpnet's training speed on every backend, side by side with its peers.

For each model and batch size, the implementations take turns, round-robin, in one process:
xpnet on each backend (``--backends numpy,cupy@cuda:1``: NAME or NAME@DEVICE), the plain
NumPy loop, hand-written PyTorch eager (with the torch backend on the CPU) and the
matrix-products-only floor (:mod:`xpnet.bench.references`). A turn is one
warm-up epoch then one timed epoch, from the seed's initial weights and permutations.
An entry ``NAME+compile`` (or ``+eager``) trains with the step compiled (or not); JAX compiles by
default. Each xpnet row also gives its host dispatches per epoch: for a compiled run the calls
into the compiled code (JAX: one per epoch), for an eager run the operations one epoch of the
same lines dispatches, counted once per case by PyTorch's dispatcher (:mod:`.dispatches`).
For xpnet a turn is ``fit(epochs=2)``, keeping the second epoch's ``seconds``: ``fit`` runs its
epochs back to back, so one call per turn is what lets the peers run between xpnet's epochs,
and it times exactly what users run. Ratios pair the turns of one round, so load that comes
and goes hits both sides of a ratio alike.

What runs is a plan (:mod:`.plan`): by default 784-128-10 at batch 128 and the CNN on 512 images,
a few minutes on two CPU cores; ``--full`` every model, the CNN on 2,560 images and torch+compile;
``--quick`` tiny sizes. Flags that name cases or sizes override the plan. The run starts with a
line giving its estimated duration, and shows a progress bar on a terminal (a line per case otherwise).

The convolutional case (``--cnn ARCH``, xpnet's ``--arch`` syntax; by default
conv32k5,pool,conv64k5,pool,fc256 at batch 128) times xpnet's CNN on each
backend against ``torch-conv2d``: the same network written the usual PyTorch way
(:func:`~xpnet.bench.references.torch_conv2d_epoch`), from xpnet's initial weights, on the same
batches. It has no NumPy loop and no GEMM floor: neither exists for convolutions here.
``--models`` alone times MLPs only, ``--cnn`` alone CNNs only; with neither, both run.

``--recipes`` races whole recipes to the end instead (:mod:`.recipes`): xpnet's ``cnn`` preset
and the same kind of CNN written the usual PyTorch way, trained on ``--dataset`` seed by seed,
each row its training seconds and test accuracy.

Exit status: 0 on success, 2 on bad usage, 1 on any other expected error (one line); stopped by
Ctrl-C, SIGTERM or SIGHUP before its next turn, writing nothing, 128 + the signal's number
(130, 143, 129; :mod:`.stop`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from . import references as refs
from .dispatches import eager_dispatches_per_epoch
from ..arguments import MAX_LAYERS, MAX_SEED, MAX_WIDTH, shown, whole_number
from ..backend import (BACKENDS, Backend, available_backends, host_available_bytes, limit_threads, memory_pool_bytes,
                       release_memory_pool)
from .plan import DEFAULT_BATCH, DEFAULT_CNN_BATCH, FULL, QUICK, SHORT, Progress, cases, estimate_line
from .recipes import PRESET, TORCH_RECIPE, race, render_race, summary as race_summary
from .references import CONV_PEER, FLOOR
from .stop import BenchStop, stopping_between_turns
from .report import (environment, load_average, looks_busy, peak_rss_bytes, render, usable_cores,
                           write_plot)
from ..data import load_dataset, make_synthetic
from ..cli import (CommandParser, add_shared, backend_entries, entry_compile, positive_int, positive_ints,
                   resolve_entries, run_command, split_entry)
from ..errors import UsageError
from ..files import check_output_file, write_output
from ..nn.architecture import EXAMPLE as DEFAULT_CNN, Architecture
from ..nn.network import sizes_text
from ..training.config import Config
from ..training.memory import check_fits, run_bytes
from ..training.run import fit

LR = 0.05
SEED = 0
INPUTS, CLASSES = 784, 10
IMAGE_SHAPE = (28, 28, 1)
MLP_PEERS = {"numpy": "numpy-loop", "array-api-strict": "numpy-loop", "jax": "numpy-loop", "torch": "torch-eager"}
CONV_PEERS = {name: CONV_PEER for name in BACKENDS}


@dataclass(frozen=True)
class Target:
    """``implementation`` must take at most ``at_most`` times ``peer``'s seconds per epoch, on the MLP
    of layer ``sizes`` or, when ``arch`` is given (``--cnn`` syntax, comma-separated), on that CNN."""

    sizes: tuple[int, ...] | None
    batch_size: int
    implementation: str
    peer: str
    at_most: float
    compiled: bool = False
    arch: str | None = None

    def network_of(self, row: dict) -> bool:
        """Whether ``row`` timed this target's network."""
        if self.arch is not None:
            return row.get("arch") == self.arch
        return row.get("layer_sizes") is not None and tuple(row["layer_sizes"]) == self.sizes


TARGETS = (
    Target((784, 128, 10), 128, "xpnet/numpy", "numpy-loop", 0.75),
    Target((784, 128, 10), 128, "xpnet/torch", "torch-eager", 1.0),
    Target((784, 10), 256, "xpnet/numpy", "numpy-loop", 0.9),
    Target((784, 1024, 10), 1024, "xpnet/numpy", FLOOR, 1.25),
    Target((784, 128, 10), 128, "xpnet/jax", "numpy-loop", 0.75, compiled=True),
    Target((784, 10), 256, "xpnet/jax", "numpy-loop", 1.0, compiled=True),
    Target((784, 1024, 10), 1024, "xpnet/jax", FLOOR, 1.2, compiled=True),
    Target((784, 128, 10), 128, "xpnet/torch", "torch-eager", 1.0, compiled=True),
    # The CNN target is on the fastest CPU backend for convolutions, whichever it is: both are checked.
    Target(None, 128, "xpnet/numpy", CONV_PEER, 2.5, arch=DEFAULT_CNN),
    Target(None, 128, "xpnet/jax", CONV_PEER, 2.5, compiled=True, arch=DEFAULT_CNN),
)


@dataclass
class Runner:
    """One implementation: ``run()`` does a warm-up epoch and a timed one and returns the timed seconds.

    ``peer`` names the hand-written implementation its ratio is taken against; ``floor`` says
    whether a ratio against the (CPU) GEMM floor means anything; ``backend`` is xpnet's backend
    name (the speed targets go by it, whatever device was written), None for the references.
    """

    name: str
    run: Callable[[], float]
    peer: str | None = None
    floor: bool = True
    backend: str | None = None
    compiled: bool = False
    dispatches: dict | None = None  # xpnet's: {"per_epoch": count}, filled in by a run


@dataclass
class Case:
    """One bench case: ``network`` (an MLP's layer sizes [d, ..., k], or a CNN's :class:`Architecture`)
    at ``batch_size``, trained by xpnet on ``dataset`` and by the peers on its host arrays ``X``
    (n, d) and ``y`` (n,), in ``dtype``."""

    network: object
    batch_size: int
    dataset: object
    X: np.ndarray
    y: np.ndarray
    dtype: str

    @property
    def fit_network(self) -> dict:
        """The network as :func:`xpnet.fit` takes it: ``hidden=`` or ``arch=``."""
        if isinstance(self.network, Architecture):
            return {"arch": ",".join(self.network.tokens)}
        return {"hidden": tuple(self.network[1:-1])}


def xpnet_runner(case: Case, entry: str, backend: Backend, gpu: dict, peers: dict = MLP_PEERS,
                 floor: bool = True) -> Runner:
    """``xpnet.fit`` of ``case`` for two epochs on the NAME[@DEVICE][+MODE] ``entry`` (resolved as
    ``backend``); records CuPy's pool peak into ``gpu``. ``peers`` maps a backend name to the
    reference its ratio is taken against; ``floor``: whether a GEMM floor runs."""
    name, device = split_entry(entry)
    compiled = entry_compile(entry)
    compiled = backend.compiles_by_default if compiled is None else compiled
    dispatches: dict = {}

    def run() -> float:
        result = fit(dataset=case.dataset, backend=name, device=device, compile=compiled, **case.fit_network,
                     batch_size=case.batch_size, epochs=2, lr=LR, dtype=case.dtype, seed=SEED, log=None,
                     progress=False)
        held = memory_pool_bytes(result.params[0][0])
        if held is not None:
            gpu["pool_peak_bytes"] = max(gpu.get("pool_peak_bytes", 0), held)
        if compiled:
            dispatches["per_epoch"] = result.summary["compiled"]["calls"] / 2
        return result.history[1]["seconds"]

    # For an MLP, array-api-strict wraps NumPy, so its ratio to the NumPy loop is the price of the strict wrapper.
    # The peers and the floor run on the CPU: against a GPU run their ratios would mean nothing.
    host = not backend.device_name.startswith("cuda")
    peer = peers.get(backend.name) if host else None
    mode = " compiled" if compiled else " eager" if backend.compiles_by_default else ""
    label = entry.partition("+")[0] + mode
    return Runner(f"xpnet/{label}", run, peer=peer, floor=host and floor, backend=backend.name, compiled=compiled,
                  dispatches=dispatches)


def reference_runner(name: str, epoch, convert, case: Case) -> Runner:
    """``epoch(params, X, y, order, batch_size, lr)`` of ``case`` on what ``convert(params, X, y, *orders)`` returns."""
    def run() -> float:
        params, orders = refs.fit_draws(case.network, case.X.shape[0], SEED, case.dtype, epochs=2)
        params, Xc, yc, first, second = convert(params, case.X, case.y, *orders)
        epoch(params, Xc, yc, first, case.batch_size, LR)
        started = time.perf_counter()
        epoch(params, Xc, yc, second, case.batch_size, LR)
        return time.perf_counter() - started

    return Runner(name, run)


def floor_runner(X, sizes, batch_size: int) -> Runner:
    """The GEMM floor, its buffers allocated once outside the timings."""
    floor = refs.GemmFloor(list(sizes), batch_size, X)

    def run() -> float:
        floor.epoch()
        started = time.perf_counter()
        floor.epoch()
        return time.perf_counter() - started

    return Runner(FLOOR, run, floor=False)


def measure(runners: list[Runner], rounds: int, between_turns: Callable[[], None] = lambda: None
            ) -> dict[str, list[float]]:
    """Seconds per timed epoch of each runner, one per round; the starting runner rotates per round.
    ``between_turns()`` is called before each turn (the bench's answer to a signal)."""
    times: dict[str, list[float]] = {runner.name: [] for runner in runners}
    for round_ in range(rounds):
        shift = round_ % len(runners)
        for runner in runners[shift:] + runners[:shift]:
            between_turns()
            times[runner.name].append(runner.run())
    return times


def paired_ratio(seconds: list[float], peer_seconds: list[float]) -> dict:
    """Median over rounds of this/peer within a round, and the ratio of the two minima."""
    return {"median_paired": statistics.median(a / b for a, b in zip(seconds, peer_seconds)),
            "of_min": min(seconds) / min(peer_seconds)}


def bench_case(case: Case, backends: dict[str, Backend], rounds: int,
               between_turns: Callable[[], None] = lambda: None) -> dict:
    """Rows (one per implementation) and memory figures for the MLP ``case`` (its layer sizes);
    ``backends`` maps each NAME[@DEVICE] entry to its resolved backend; ``between_turns`` as :func:`measure`."""
    gpu: dict = {}
    sizes, batch_size, X, y, dtype = case.network, case.batch_size, case.X, case.y, case.dtype
    release_memory_pool(backends.values())
    runners = [xpnet_runner(case, entry, backend, gpu) for entry, backend in backends.items()]
    runners.append(reference_runner("numpy-loop", refs.numpy_loop_epoch, _unchanged, case))
    if any(runner.peer == "torch-eager" for runner in runners):
        runners.append(reference_runner("torch-eager", refs.torch_eager_epoch, refs.to_torch, case))
    runners.append(floor_runner(X, sizes, batch_size))
    times = measure(runners, rounds, between_turns)
    between_turns()  # counting the dispatches is one more eager epoch
    eager = eager_dispatches_per_epoch(list(sizes), batch_size, X, y, LR) if any(
        runner.backend is not None and not runner.compiled for runner in runners) else None

    network = {"model": sizes_text(sizes), "layer_sizes": list(sizes), "arch": None, "batch_size": batch_size}
    rows = case_rows(runners, times, network, X.shape[0], refs.gemm_flops(list(sizes), X.shape[0]), eager)
    params_values = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    return {"rows": rows, "memory": case_memory(network, X, params_values, dtype, gpu)}


def conv_case(case: Case, backends: dict[str, Backend], rounds: int,
              between_turns: Callable[[], None] = lambda: None) -> dict:
    """Rows and memory figures for the CNN ``case`` (its :class:`Architecture`), ``X`` (n, 784) flattened
    NHWC: xpnet on each backend and, where PyTorch is installed, :data:`CONV_PEER`; ``between_turns`` as
    :func:`measure`."""
    gpu: dict = {}
    arch, batch_size, X, y, dtype = case.network, case.batch_size, case.X, case.y, case.dtype
    release_memory_pool(backends.values())
    tokens = ",".join(arch.tokens)
    runners = [xpnet_runner(case, entry, backend, gpu, CONV_PEERS, floor=False) for entry, backend in backends.items()]
    if refs.torch_installed() and any(runner.peer == CONV_PEER for runner in runners):
        runners.append(reference_runner(CONV_PEER, refs.torch_conv2d_epoch, partial(refs.to_torch_conv, arch), case))
    times = measure(runners, rounds, between_turns)
    between_turns()  # counting the dispatches is one more eager epoch
    eager = eager_dispatches_per_epoch([X.shape[1], *arch.hidden_units, arch.classes], batch_size, X, y, LR,
                                       arch=arch) if any(
        runner.backend is not None and not runner.compiled for runner in runners) else None
    network = {"model": arch.text, "layer_sizes": None, "arch": tokens, "batch_size": batch_size}
    rows = case_rows(runners, times, network, X.shape[0], refs.network_flops(arch, X.shape[0]), eager)
    return {"rows": rows, "memory": case_memory(network, X, arch.parameter_count(), dtype, gpu)}


def case_rows(runners: list[Runner], times: dict[str, list[float]], network: dict, n: int, flops: int,
              eager: int | None) -> list[dict]:
    """One row per runner: ``network``'s fields (model, layer_sizes, arch, batch_size), its seconds per
    epoch over ``n`` examples, its rate of ``flops`` per epoch, dispatches, and paired ratios."""
    rows = []
    for runner in runners:
        seconds = times[runner.name]
        median = statistics.median(seconds)
        peers = [p for p in (runner.peer, FLOOR if runner.floor else None) if p in times]
        rows.append({
            **network,
            "implementation": runner.name, "backend": runner.backend, "compiled": runner.compiled,
            "dispatches_per_epoch": (None if runner.backend is None else runner.dispatches.get("per_epoch")
                                     if runner.compiled else eager),
            "seconds": seconds,
            "min_seconds": min(seconds),
            "median_seconds": median, "examples_per_second": n / median,
            "gflop_per_epoch": flops / 1e9, "gflop_per_second": flops / median / 1e9,
            "ratios": {peer: paired_ratio(seconds, times[peer]) for peer in peers},
        })
    return rows


def case_memory(network: dict, X, params_values: int, dtype: str, gpu: dict) -> dict:
    """The memory figures of one case: training data ``X`` (n, d) and ``params_values`` parameters."""
    itemsize = np.dtype(dtype).itemsize
    return {
        "model": network["model"], "batch_size": network["batch_size"],
        "data_bytes": X.shape[0] * X.shape[1] * itemsize,
        "params_bytes": params_values * itemsize,
        "peak_rss_bytes": peak_rss_bytes(),
        "gpu_pool_peak_bytes": gpu.get("pool_peak_bytes"),
    }


def check_targets(rows: list[dict], dtype: str) -> list[dict]:
    """The speed targets that this run measured, each with its ratio and whether it is met."""
    found = []
    for target in TARGETS:
        for row in rows:
            if (dtype == "float32" and target.network_of(row)
                    and row["batch_size"] == target.batch_size and row["backend"] is not None
                    and f"xpnet/{row['backend']}" == target.implementation and target.peer in row["ratios"]
                    and row["compiled"] == target.compiled):
                ratio = row["ratios"][target.peer]
                found.append({"model": row["model"], "batch_size": target.batch_size,
                              "implementation": row["implementation"], "peer": target.peer,
                              "at_most": target.at_most, "ratio": ratio["median_paired"],
                              "ratio_of_min": ratio["of_min"], "met": ratio["median_paired"] <= target.at_most})
    return found


def _planned_runs(settings: dict) -> tuple[list, list]:
    """``([(model text, batch, run_case), ...], conv cases)``: each case checked to fit first, then its data made."""
    dtype, n, n_conv = settings["dtype"], settings["n_train"], settings["cnn_images"]
    mlp_cases = [(sizes, batch) for sizes in settings["models"] for batch in settings["batch_sizes"][sizes]]
    conv_cases = [(arch, batch) for arch in settings["cnn"] for batch in settings["cnn_batch_sizes"]]
    for sizes, batch in mlp_cases:  # before any data are made: a model that cannot fit is refused at once
        _check_fits(list(sizes), n, batch, 10000, dtype)
    for arch, batch in conv_cases:
        _check_fits([INPUTS, *arch.hidden_units, CLASSES], n_conv, batch, Config().evaluation_batch(arch), dtype, arch)
    runs = []
    if mlp_cases:
        dataset = make_synthetic(n, _test_size(n))
        X, y = refs.host_data(dataset.train_images, dataset.train_labels, dtype)
        runs += [(sizes_text(sizes), batch, partial(bench_case, Case(sizes, batch, dataset, X, y, dtype)))
                 for sizes, batch in mlp_cases]
    if conv_cases:
        images = make_synthetic(n_conv, _test_size(n_conv))
        X_images, y_images = refs.host_data(images.train_images, images.train_labels, dtype)
        runs += [(arch.text, batch, partial(conv_case, Case(arch, batch, images, X_images, y_images, dtype)))
                 for arch, batch in conv_cases]
    return runs, conv_cases


def run_bench(settings: dict, say: Callable[[str], None], stop: BenchStop) -> dict:
    """Every configuration of ``settings``; the whole report as a JSON-ready dict. ``stop`` (from
    :func:`~xpnet.bench.stop.stopping_between_turns`) is checked before each turn and counts the cases done."""
    load_before = load_average()
    if looks_busy(load_before, usable_cores()):
        say(f"warning: 1-minute load average {load_before:.2f} before the run: the machine looks busy; "
            "absolute times will be noisy (the paired ratios less so)"
            + ("; --threads 1 keeps BLAS threads from waiting on each other" if settings["threads"] is None else ""))
    backends, dtype, n, n_conv = settings["backends"], settings["dtype"], settings["n_train"], settings["cnn_images"]
    runs, conv_cases = _planned_runs(settings)
    rows, memory = [], []
    # Resolving loads each library before limit_threads, so that its thread pools are pinned too.
    chosen = resolve_entries(backends)
    notes = []
    if conv_cases and not refs.torch_installed():  # torch_installed loads PyTorch here, for the same reason
        notes.append(f"{CONV_PEER} not run: PyTorch is not installed, so the conv rows have no ratio")
    progress = Progress(len(runs), say)
    with limit_threads(settings["threads"]):
        try:
            for model, batch, run_case in runs:
                started = time.perf_counter()
                progress.start(f"{model}, batch {batch}: {settings['epochs']} round(s)")
                case = run_case(chosen, settings["epochs"], stop.check)
                rows += case["rows"]
                memory.append(case["memory"])
                progress.done(time.perf_counter() - started)
                stop.done += 1
        finally:  # a stopped bench's line comes after the bar, not inside it
            progress.close()
        env = environment(chosen, settings["threads"], load_before)
    described = f"synthetic, {n} train, {INPUTS} features" + (
        f"; the conv case: synthetic, {n_conv} train images, {'x'.join(map(str, IMAGE_SHAPE))}" if conv_cases else "")
    return {
        "settings": {**{k: v for k, v in settings.items() if k not in ("models", "batch_sizes", "cnn")},
                     "models": [sizes_text(s) for s in settings["models"]],
                     "batch_sizes": {sizes_text(s): list(b) for s, b in settings["batch_sizes"].items()},
                     "cnn": [",".join(arch.tokens) for arch in settings["cnn"]],
                     "lr": LR, "seed": SEED, "dataset": described},
        "results": rows, "memory": memory, "targets": check_targets(rows, dtype), "notes": notes,
        "environment": env,
    }


def _test_size(n: int) -> int:
    """Test images beside ``n`` training ones: a sixth of them, at most 10,000."""
    return max(1, min(10000, n // 6))


def _check_fits(layer_sizes: list[int], n: int, batch: int, eval_batch: int, dtype: str, arch=None) -> None:
    """UsageError when a case on ``n`` training examples cannot fit in this machine's memory."""
    parts = run_bytes(arch or Architecture.mlp(layer_sizes[1:-1], IMAGE_SHAPE, CLASSES), examples=n + _test_size(n),
                      batch=batch, eval_batch=eval_batch, itemsize=np.dtype(dtype).itemsize, optimizer_slots=0)
    # Twice: the NumPy and PyTorch references hold copies of their own beside xpnet's.
    check_fits({part: 2 * size for part, size in parts.items()}, host_available_bytes(), "this machine")


def _check_apart(json_path: str | None, plot_path: str | None) -> None:
    """UsageError when --json and --plot name one file, which the plot would overwrite."""
    if json_path and plot_path and os.path.realpath(json_path) == os.path.realpath(plot_path):
        raise UsageError(f"--json {json_path} and --plot {plot_path} name the same file, and the plot would "
                         "overwrite the figures; give each its own")


def _unchanged(params, *arrays):
    return (params, *arrays)


def _models(text: str) -> tuple[tuple[int, ...], ...]:
    models = []
    for part in text.split(","):
        try:
            sizes = tuple(whole_number(size, "a layer size", MAX_WIDTH, 1) for size in part.split("-"))
        except UsageError:
            sizes = ()
        if not 2 <= len(sizes) <= MAX_LAYERS + 2:
            raise argparse.ArgumentTypeError(f"expected models such as 784-128-10,784-10, at most {MAX_LAYERS} hidden "
                                             f"layers of 1 to {MAX_WIDTH:,} units (the digits 0-9), got {shown(part)}")
        if sizes[0] != INPUTS or sizes[-1] != CLASSES:
            raise argparse.ArgumentTypeError(
                f"model {part!r} must map {INPUTS} inputs to {CLASSES} classes (the MNIST shapes)")
        models.append(sizes)
    return tuple(models)


def _cnn(text: str) -> Architecture:
    """``--cnn`` text -> the CNN it describes on 28x28x1 images and 10 classes (ArgumentTypeError if bad)."""
    try:
        arch = Architecture.of(text, IMAGE_SHAPE, CLASSES)
    except ValueError as error:  # a ParameterError: argparse names the flag
        raise argparse.ArgumentTypeError(str(error)) from None
    if not arch.is_convolutional:
        raise argparse.ArgumentTypeError(f"{text!r} has no conv layer; time an MLP with --models")
    try:
        refs.torch_steps(arch)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    return arch


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m xpnet.bench",
        description="Time xpnet's training epochs on every backend beside a plain NumPy loop, hand-written "
                    "PyTorch and the matrix-products-only floor, round-robin in one run, on synthetic MNIST-shaped "
                    "data; and a convolutional network beside the same network in PyTorch (--cnn).")
    parser.add_argument("--backends", type=backend_entries, metavar="NAME[@DEVICE],...",
                        help=f"comma-separated, from {', '.join(BACKENDS)}, each on its default device or on "
                             "@DEVICE (e.g. numpy,cupy@cuda:1 or torch@cuda), eager or compiled with +eager or "
                             "+compile (jax compiles by default: jax+eager; torch+compile); a row reads xpnet/NAME, "
                             "xpnet/NAME@DEVICE when a device is given, and 'compiled' after it when compiled "
                             "(default: every installed one; with --full also torch+compile when torch is installed)")
    parser.add_argument("--models", type=_models, help="MLP layer sizes, e.g. 784-128-10,784-10 "
                        "(default: 784-128-10; with --full 784-128-10,784-10,784-1024-10; none when only --cnn "
                        "is given)")
    parser.add_argument("--cnn", type=_cnn, action="append", metavar="ARCH",
                        help=f"a convolutional network in --arch syntax, timed beside the same network in PyTorch "
                             f"({CONV_PEER}); repeat for several (default: {DEFAULT_CNN}, or none when only --models "
                             f"is given)")
    parser.add_argument("--cnn-batch-sizes", type=positive_ints, metavar="N[,N...]",
                        help=f"batch sizes to sweep for every --cnn network (default: {DEFAULT_CNN_BATCH})")
    parser.add_argument("--cnn-images", type=positive_int, metavar="N",
                        help=f"training images of a --cnn epoch (default: {SHORT['cnn_images']:,}; with --full "
                             f"{FULL['cnn_images']:,})")
    parser.add_argument("--batch-sizes", type=positive_ints, metavar="N[,N...]",
                        help="batch sizes to sweep for every model (default: 128 for 784-128-10, 256 for "
                             "784-10, 1024 for 784-1024-10, else 128)")
    parser.add_argument("--epochs", type=positive_int, help="timed epochs (rounds) per implementation, each "
                                                             "after a warm-up epoch (default: 3)")
    add_shared(parser, "--threads")
    parser.add_argument("--n-train", type=positive_int, metavar="N",
                        help="training examples of an MLP epoch (default: 60000)")
    add_shared(parser, "--dtype", "float32")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON (default: none)")
    parser.add_argument("--plot", metavar="PATH", help="PNG of seconds per epoch against batch size, when "
                                                       "matplotlib is installed (default: none)")
    recipes = parser.add_argument_group(
        "recipes raced to the end (--recipes)",
        f"xpnet's --preset {PRESET} beside the same kind of CNN written the usual PyTorch way ({TORCH_RECIPE}: "
        "torch.nn layers, AdamW under a one-cycle schedule, batch 128, 5 epochs), each trained whole on the "
        "same data, seed by seed, reporting its training seconds and test accuracy; --backends names xpnet's "
        "backends (default: numpy)")
    recipes.add_argument("--recipes", action="store_true", help="race the recipes instead of timing epochs "
                                                                "(default: off)")
    recipes.add_argument("--seeds", type=_seeds, metavar="S[,S...]", help="the seeds each recipe is trained from "
                                                                         "(default: 0)")
    add_shared(recipes, "--dataset", "mnist")
    add_shared(recipes, "--data-dir")
    add_shared(recipes, "--no-download")
    recipes.add_argument("--recipe-epochs", type=positive_int, metavar="N",
                         help="train each recipe for N epochs instead of its own (5 for both; for quick checks)")
    plan = parser.add_mutually_exclusive_group()
    plan.add_argument("--full", action="store_true", help="every model, the CNN on more images and torch+compile "
                                                          "(a quarter of an hour or more on 2 CPU cores; it says its "
                                                          "estimate first); explicit flags still win (default: off)")
    plan.add_argument("--quick", action="store_true", help="tiny sizes for tests and CI; explicit flags "
                                                           "still win (default: off)")
    return parser


def _seeds(text: str) -> tuple[int, ...]:
    """``'0,1,2'`` -> (0, 1, 2): seeds as the trainer takes them."""
    try:
        return tuple(whole_number(part.strip(), "a seed", MAX_SEED) for part in text.split(","))
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run_recipes(args: argparse.Namespace, say: Callable[[str], None], stop: BenchStop) -> dict:
    """The recipes raced on ``args.dataset`` (:mod:`.recipes`); the report as a JSON-ready dict."""
    entries = args.backends or ["numpy"]
    chosen = resolve_entries(entries)
    if not refs.torch_installed():
        raise UsageError(f"--recipes races xpnet against {TORCH_RECIPE}, which needs PyTorch: "
                         "pip install -e '.[torch]'")
    dataset = load_dataset(args.dataset, args.data_dir, download=args.download is not False)
    if dataset.image_shape != IMAGE_SHAPE[:2] or dataset.num_classes != CLASSES:
        raise UsageError(f"--recipes trains networks for 28x28 images of 10 classes, and {dataset.name} has "
                         f"{'x'.join(map(str, dataset.image_shape))} images of {dataset.num_classes} classes")
    seeds = args.seeds or (0,)
    described = (f"{dataset.name} ({dataset.train_images.shape[0]:,} train, {dataset.test_images.shape[0]:,} test), "
                 f"{args.threads or 'default'} thread(s), seeds {','.join(map(str, seeds))}")
    say(f"racing {len(entries) + 1} recipe(s) x {len(seeds)} seed(s) on {described}")
    stop.cases = len(seeds) * (len(entries) + 1)
    with limit_threads(args.threads):
        rows = race(dataset, seeds, list(chosen), args.recipe_epochs, stop.check)
        env = environment(chosen, args.threads, load_average())
    return {"recipes": rows, "summary": race_summary(rows), "described": described, "environment": env}


def settings_from(args: argparse.Namespace) -> dict:
    """Resolved settings: the plan (default, --full or --quick) with the flags given over it; checks
    up front that each backend can run here (XpnetError if not)."""
    plan = QUICK if args.quick else FULL if args.full else SHORT
    default = available_backends()
    # torch.compile takes tens of seconds per shape on a cold cache: only in the full plan.
    compiled_torch = ["torch+compile"] if "torch" in default and plan["compiled_torch"] else []
    backends = list(resolve_entries(args.backends or default + compiled_torch))
    chosen = args.models is not None or args.cnn is not None  # naming one kind leaves the other out
    models = args.models or (() if chosen else plan["models"])
    cnn = tuple(args.cnn or (() if chosen else map(_cnn, plan["cnn"])))
    sweep = args.batch_sizes or plan.get("batch_sizes")
    return {
        "backends": backends, "models": models, "dtype": args.dtype, "threads": args.threads,
        "batch_sizes": {sizes: tuple(sweep or (DEFAULT_BATCH.get(sizes, 128),)) for sizes in models},
        "cnn": cnn,
        "cnn_batch_sizes": tuple(args.cnn_batch_sizes or plan["cnn_batch_sizes"]),
        "cnn_images": args.cnn_images or plan["cnn_images"],
        "epochs": args.epochs or plan["epochs"],
        "n_train": args.n_train or plan["n_train"],
    }


def plan_line(args: argparse.Namespace, settings: dict) -> str:
    """The estimate line; beside the default plan, also what --full (with the same flags) would take."""
    full = None if args.full or args.quick else cases(settings_from(argparse.Namespace(**{**vars(args), "full": True})))
    return estimate_line(cases(settings), full)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def bench(args) -> None:
        say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        if args.json is not None:  # (an empty path is refused there, not taken for no --json)
            check_output_file(args.json, "--json")
        if args.plot is not None:
            check_output_file(args.plot, "--plot", (".png",))
        _check_apart(args.json, args.plot)
        if args.recipes:
            if args.plot:
                raise UsageError("--plot draws the timed epochs, which --recipes does not time; leave one out")
            with stopping_between_turns() as stop:
                report = run_recipes(args, say, stop)
            report["command"] = ["python", "-m", "xpnet.bench", *(sys.argv[1:] if argv is None else argv)]
            print(render_race(report["recipes"], report["described"]), flush=True)
            if args.json:
                write_output(args.json, json.dumps(report, indent=2) + "\n", fix="choose a writable path for --json")
            return
        with stopping_between_turns() as stop:  # from here on a signal is answered between turns
            settings = settings_from(args)
            stop.cases = len(cases(settings))
            say(plan_line(args, settings))
            stop.check()
            report = run_bench(settings, say, stop)
        report["command"] = ["python", "-m", "xpnet.bench", *(sys.argv[1:] if argv is None else argv)]
        print(render(report), flush=True)
        if args.json:
            write_output(args.json, json.dumps(report, indent=2) + "\n", fix="choose a writable path for --json")
        if args.plot:
            say(write_plot(report["results"], args.plot))

    return run_command(parser, bench, argv)


if __name__ == "__main__":
    sys.exit(main())
