"""The GPU smoke check: what a borrowed GPU can show in five minutes, as one Markdown report.

    python ci/gpu_smoke.py                   # CuPy and JAX on cuda; writes gpu-smoke.md
    python ci/gpu_smoke.py --dry-run         # the same checks on the CPU, at small sizes

`bash ci/gpu_smoke.sh [--wheelhouse DIR]` installs what is missing and runs this. Each check runs
in child processes with time limits inside --timeout for the whole (default 300 s), so a hung
GPU fails its check and the smoke still ends in time. No package registry is needed.

- device-cupy, device-jax: the backend resolves on the GPU and multiplies like NumPy; versions;
- parity-cupy-mlp, parity-cupy-cnn, parity-jax-mlp, parity-jax-cnn: `ci/parity.py`, NumPy against
  the backend in float64 (every parameter element) then float32 (loss and accuracy), for an MLP
  and for the cnn preset's network on randomly shifted images (JAX compiled);
- resume-cupy: one epoch, then the same command with --epochs 2 in a second process (it resumes
  from the checkpoint folder), against two straight epochs: the final parameters' hashes equal;
- repeat-jax: the same compiled JAX run of the CNN in two processes: the hashes equal (when not,
  XLA chose other kernels in the second compile: the report says by how much they differ);
- memory-cupy, memory-jax: GPU memory after one step of the cnn preset (CuPy: its memory pool's
  bytes; JAX: the device's peak_bytes_in_use);
- speed: `python -m xpnet.bench`: seconds per epoch of MLP 784-128-10 at batch 128, 1024 and
  8192, and of the cnn network, eager CuPy and compiled JAX beside NumPy on the host.

Without a GPU (or with --dry-run) it is a DRY RUN, said in the report's header: array-api-strict's
device1 stands in for CuPy and JAX on the CPU for JAX on CUDA, at small sizes. Exit status 0 when
every check passed, 1 otherwise, 2 on bad usage; the report is always written (atomically,
again after every check). Ctrl-C, SIGTERM and SIGHUP stop the running check and exit 128 + the
signal's number, the report saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent):  # gpu_report.py beside this file; xpnet from this checkout
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import gpu_report  # noqa: E402
from gpu_report import CNN_ARCH, ROOT, TF32_OFF, Ran, Result, Stopped, command_block, overall, write  # noqa: E402

TOTAL_SECONDS = 300.0
# Each command's own limit, within what is left of the whole: a hung GPU costs one check.
LIMITS = {"device": 60, "parity": 120, "train": 90, "memory": 90, "bench": 150}
# JAX computes float32 products in TF32 on NVIDIA GPUs unless told otherwise; the float32
# parity tolerances and the timings are for IEEE float32.
JAX_FULL_FLOAT32 = {"JAX_DEFAULT_MATMUL_PRECISION": "highest"}


@dataclass(frozen=True)
class Sizes:
    """What each check trains: datasets, networks, the repeated run's flags and the bench's."""

    mlp_dataset: str
    hidden: str
    cnn_dataset: str
    cnn_arch: str
    repeat: tuple[str, ...]
    bench: tuple[str, ...]


GPU_SIZES = Sizes("synthetic:10000", "128", "synthetic:2000", CNN_ARCH,
                  ("--dataset", "synthetic:2000", "--arch", CNN_ARCH, "--shift", "1"),
                  ("--models", "784-128-10", "--batch-sizes", "128,1024,8192", "--n-train", "16384", "--cnn",
                   CNN_ARCH, "--cnn-images", "2560", "--epochs", "1"))
# The dry run repeats an MLP: XLA on the CPU does not autotune, and a CNN compiles 2.5 s longer.
DRY_SIZES = Sizes("synthetic:1000", "32", "synthetic:300", "conv4k3,pool,fc16",
                  ("--dataset", "synthetic:1000", "--hidden", "32", "--shift", "1"),
                  ("--models", "784-128-10", "--batch-sizes", "128,1024,8192", "--n-train", "4096", "--cnn",
                   "conv4k3,pool,fc16", "--cnn-images", "256", "--epochs", "1"))


@dataclass(frozen=True)
class Role:
    """A library the smoke checks ("cupy", "jax") and the NAME@DEVICE that plays it."""

    name: str
    entry: str

    @property
    def backend(self) -> str:
        return self.entry.partition("@")[0]

    @property
    def device(self) -> str:
        return self.entry.partition("@")[2]


GPU_ROLES = {"cupy": Role("cupy", "cupy@cuda"), "jax": Role("jax", "jax@cuda")}
DRY_ROLES = {"cupy": Role("cupy", "array-api-strict@device1"), "jax": Role("jax", "jax@cpu")}
CHECKS = ("device-cupy", "device-jax", "parity-cupy-mlp", "parity-cupy-cnn", "parity-jax-mlp", "parity-jax-cnn",
          "resume-cupy", "repeat-jax", "memory-cupy", "memory-jax", "speed")


@dataclass
class Smoke:
    """What every check needs: options, roles, sizes, the children's environment, a runner, a deadline."""

    args: argparse.Namespace
    dry_reason: str | None
    env: dict
    runner: gpu_report.Runner
    deadline: float
    workdir: Path
    roles: dict = field(default_factory=dict)
    sizes: Sizes = GPU_SIZES
    found: dict = field(default_factory=dict)

    def run(self, command: list[str], kind: str) -> Ran:
        """``command`` under its kind's limit, or what is left of --timeout when less."""
        left = self.deadline - time.monotonic()
        if left < 1:
            return Ran(command, None, "", f"not started: the smoke's {self.args.timeout:g} s were spent\n", 0.0, 0.0)
        return self.runner(command, min(LIMITS[kind], left), self.env)


def python(*arguments: str) -> list[str]:
    return [sys.executable, *arguments]


def failed(name: str, ran: Ran, seconds: float, section: list[str]) -> Result:
    return Result(name, "FAIL", f"{ran.status()}: {ran.last_line()}", seconds, section)


def findings(name: str, ran: Ran, section: list[str], what: str) -> tuple[dict | None, Result | None]:
    """The JSON a child (``what``) printed last, or None and the failed check ``name`` saying why there is none."""
    if ran.returncode != 0:
        return None, failed(name, ran, ran.seconds, section)
    found = gpu_report.last_json(ran)
    if found is None:
        return None, Result(name, "FAIL", f"{what} printed no JSON: {ran.last_line()}", ran.seconds, section)
    return found, None


def check_device(smoke: Smoke, role: Role) -> Result:
    """gpu_report.py's probe: the backend resolves, multiplies like NumPy, and tells its versions."""
    name = f"device-{role.name}"
    ran = smoke.run(python("ci/gpu_report.py", "--probe", "--backend", role.backend, "--device", role.device),
                    "device")
    section = command_block(ran, 30)
    found, failure = findings(name, ran, section, "the probe")
    if failure is not None:
        return failure
    smoke.found[role.name] = found
    return Result(name, "PASS", f"{found['backend']} on {found['device']}: {found.get('libraries', '')}; "
                                f"GPU: {', '.join(found.get('gpus', [])) or 'none'}", ran.seconds, section)


def check_parity(smoke: Smoke, role: Role, network: str) -> Result:
    """ci/parity.py, NumPy against the role's backend, float64 then float32, one epoch."""
    sizes = smoke.sizes
    if network == "cnn":
        flags = ["--dataset", sizes.cnn_dataset, "--arch", sizes.cnn_arch, "--shift", "2"]
    else:
        flags = ["--dataset", sizes.mlp_dataset, "--hidden", sizes.hidden]
    ran = smoke.run(python("ci/parity.py", "--backends", f"numpy,{role.entry}", "--epochs", "1", *flags), "parity")
    name = f"parity-{role.name}-{network}"
    if ran.returncode != 0:
        first_miss = next((line for line in ran.stdout.splitlines() if line.startswith("FAIL ")), "")
        result = failed(name, ran, ran.seconds, command_block(ran))
        result.detail += f"; first: {first_miss.removeprefix('FAIL ')}" if first_miss else ""
        return result
    return Result(name, "PASS", ran.last_line(), ran.seconds, command_block(ran, 60))


def train_command(smoke: Smoke, role: Role, epochs: int, save: Path, *flags: str) -> list[str]:
    """``python -m xpnet.train`` on the role's backend, saving the final model to ``save``."""
    return python("-m", "xpnet.train", "--backend", role.backend, "--device", role.device, "--epochs", str(epochs),
                  "--save", str(save), "--no-download", *flags)


def parameter_hash(path: Path) -> tuple[str, dict]:
    """SHA-256 of a saved model's parameters (dtype, shape, bytes, in order) and the arrays themselves."""
    import numpy as np

    with np.load(path) as saved:
        params = {key: saved[key] for key in sorted(saved.files, key=_natural) if key.startswith("params.")}
    digest = hashlib.sha256()
    for key, array in params.items():
        digest.update(f"{key} {array.dtype.str} {array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest(), params


def _natural(key: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def largest_difference(first: dict, second: dict) -> float:
    """The largest |difference| between two saved models' matching parameters (inf when shapes differ)."""
    import numpy as np

    if first.keys() != second.keys() or any(first[k].shape != second[k].shape for k in first):
        return float("inf")
    return max((float(np.max(np.abs(first[k].astype(np.float64) - second[k]), initial=0.0)) for k in first),
               default=0.0)


def run_all(smoke: Smoke, commands: list[list[str]], kind: str) -> tuple[list[Ran], float, list[str]]:
    """Run ``commands`` in turn until one fails; the runs, their seconds, and their report lines."""
    runs, section = [], []
    for command in commands:
        ran = smoke.run(command, kind)
        runs.append(ran)
        section += command_block(ran, 20) + [""]
        if ran.returncode != 0:
            break
    return runs, sum(ran.seconds for ran in runs), section


def saved_hashes(name: str, runs: list[Ran], seconds: float, section: list[str],
                 paths: list[Path]) -> tuple[list[tuple[str, dict]], Result | None]:
    """The hashes of the saved models, or the failing Result (a command failed, a model is unreadable)."""
    if runs[-1].returncode != 0:
        return [], failed(name, runs[-1], seconds, section)
    try:
        return [parameter_hash(path) for path in paths], None
    except (OSError, ValueError, KeyError) as error:
        return [], Result(name, "FAIL", f"a saved model could not be read: {error}", seconds, section)


def check_resume(smoke: Smoke, role: Role) -> Result:
    """1 epoch, then 2 in a second process from the checkpoint folder, against 2 straight: bit for bit."""
    name = f"resume-{role.name}"
    folder = smoke.workdir / name
    folder.mkdir()
    run = ["--dataset", smoke.sizes.mlp_dataset, "--hidden", smoke.sizes.hidden, "--optimizer", "adamw", "--lr",
           "0.001", "--dropout", "0.1", "--shift", "1"]
    held = ["--checkpoint-dir", str(folder / "checkpoints")]
    paths = [folder / "resumed.npz", folder / "straight.npz"]
    commands = [train_command(smoke, role, 1, folder / "first.npz", *run, *held, "--quiet"),
                train_command(smoke, role, 2, paths[0], *run, *held),
                train_command(smoke, role, 2, paths[1], *run, "--quiet")]
    runs, seconds, section = run_all(smoke, commands, "train")
    hashes, failure = saved_hashes(name, runs, seconds, section, paths)
    if failure:
        return failure
    if "resuming from" not in runs[1].output:
        return Result(name, "FAIL", "the second process did not resume from the first one's checkpoint", seconds,
                      section)
    (resumed, resumed_params), (straight, straight_params) = hashes
    section += [f"- 1 epoch + resume: `{resumed}`", f"- 2 straight epochs: `{straight}`"]
    if resumed != straight:
        return Result(name, "FAIL", f"the resumed run's parameters differ from the straight run's by up to "
                                    f"{largest_difference(resumed_params, straight_params):.3g}", seconds, section)
    return Result(name, "PASS", f"1 epoch + resume = 2 straight epochs, bit for bit (sha256 {resumed[:16]})",
                  seconds, section)


def check_repeat(smoke: Smoke, role: Role) -> Result:
    """The same compiled run (of the CNN on a GPU) in two processes: the same parameters, bit for bit."""
    name = f"repeat-{role.name}"
    folder = smoke.workdir / name
    folder.mkdir()
    paths = [folder / "first.npz", folder / "second.npz"]
    commands = [train_command(smoke, role, 1, path, *smoke.sizes.repeat, "--quiet") for path in paths]
    runs, seconds, section = run_all(smoke, commands, "train")
    hashes, failure = saved_hashes(name, runs, seconds, section, paths)
    if failure:
        return failure
    (first, first_params), (second, second_params) = hashes
    section += [f"- first process: `{first}`", f"- second process: `{second}`"]
    if first != second:
        gap = largest_difference(first_params, second_params)
        return Result(name, "FAIL", f"two processes trained different parameters (up to {gap:.3g} apart): XLA "
                                    "autotuning picked other kernels in the second compile", seconds, section)
    return Result(name, "PASS", f"two processes, the same parameters bit for bit (sha256 {first[:16]})", seconds,
                  section)


def check_memory(smoke: Smoke, role: Role) -> Result:
    """One step of the cnn preset in a child (see :func:`measure_memory`); the bytes it reports."""
    name = f"memory-{role.name}"
    ran = smoke.run(python(str(Path(__file__)), "--memory", role.entry, "--dataset", smoke.sizes.cnn_dataset,
                           "--arch", smoke.sizes.cnn_arch), "memory")
    section = command_block(ran, 30)
    found, failure = findings(name, ran, section, "the step")
    if failure is not None:
        return failure
    if found["bytes"] is None:  # expected of a CPU stand-in only
        return Result(name, "PASS" if smoke.dry_reason else "FAIL", f"n/a: {found['how']}", ran.seconds, section)
    return Result(name, "PASS", f"{found['bytes'] / 2 ** 20:.1f} MiB: {found['how']}", ran.seconds, section)


def measure_memory(entry: str, dataset: str, arch: str) -> dict:
    """Take one step of the cnn preset (its network replaced by ``arch`` in a dry run) on ``entry``
    (NAME@DEVICE) and read the GPU memory it took."""
    import xpnet
    from xpnet.backend import memory_pool_bytes

    name, _, device = entry.partition("@")
    result = xpnet.fit(preset="cnn", backend=name, device=device, dataset=dataset, arch=arch, epochs=1, dry_run=True,
                       log=None)
    pool = memory_pool_bytes(result.params[0][0])
    if pool is not None:
        return {"bytes": pool, "how": f"CuPy's memory pool after one step of the cnn preset, batch 128 (it holds "
                                      f"every block the step used, and the {dataset} images)"}
    stats = getattr(result.backend.device, "memory_stats", lambda: None)()
    if stats and "peak_bytes_in_use" in stats:
        return {"bytes": int(stats["peak_bytes_in_use"]), "how": f"JAX's peak_bytes_in_use over one step of the cnn "
                                                                 f"preset, batch 128, with the {dataset} images"}
    return {"bytes": None, "how": f"one step of the cnn preset ran on {result.backend.device_name}, which reports "
                                  "no GPU memory"}


def check_speed(smoke: Smoke) -> Result:
    """The bench: NumPy on the host beside eager CuPy and compiled JAX; its tables go in the report."""
    backends = ",".join(["numpy", *(role.entry for role in smoke.roles.values())])
    ran = smoke.run(python("-m", "xpnet.bench", "--backends", backends, *smoke.sizes.bench), "bench")
    if ran.returncode != 0:
        return failed("speed", ran, ran.seconds, command_block(ran))
    bench = smoke.sizes.bench
    images = f"{bench[bench.index('--n-train') + 1]} examples an MLP epoch, {bench[bench.index('--cnn-images') + 1]} " \
             "a CNN epoch"
    section = [f"`{' '.join(ran.command)}`: {ran.status()}, {ran.seconds:.1f} s; {images}, one warm-up and one timed "
               "epoch each. NumPy runs on the host.", "",
               *(f"##{line}" if line.startswith("# ") else line for line in ran.stdout.strip().splitlines())]
    return Result("speed", "PASS", f"seconds per epoch in the tables below ({images})", ran.seconds, section)


def plan(smoke: Smoke) -> dict[str, Callable[[Smoke], Result]]:
    """Each check by name, in order; a role's checks need its device check to have passed."""
    cupy, jax = smoke.roles["cupy"], smoke.roles["jax"]
    return {
        "device-cupy": lambda s: check_device(s, cupy),
        "device-jax": lambda s: check_device(s, jax),
        "parity-cupy-mlp": lambda s: check_parity(s, cupy, "mlp"),
        "parity-cupy-cnn": lambda s: check_parity(s, cupy, "cnn"),
        "parity-jax-mlp": lambda s: check_parity(s, jax, "mlp"),
        "parity-jax-cnn": lambda s: check_parity(s, jax, "cnn"),
        "resume-cupy": lambda s: check_resume(s, cupy),
        "repeat-jax": lambda s: check_repeat(s, jax),
        "memory-cupy": lambda s: check_memory(s, cupy),
        "memory-jax": lambda s: check_memory(s, jax),
        "speed": check_speed,
    }


def header(smoke: Smoke) -> list[str]:
    """The DRY RUN warning, or which GPU ran the checks."""
    cupy, jax = smoke.roles["cupy"], smoke.roles["jax"]
    if smoke.dry_reason:
        return [f"**DRY RUN: no GPU here ({smoke.dry_reason}): array-api-strict's device1 stands in for CuPy "
                f"and JAX on the CPU for JAX on CUDA; the figures are not GPU figures.** ({cupy.entry} for CuPy, "
                f"{jax.entry} for JAX, at small sizes)"]
    gpus = sorted({gpu for found in smoke.found.values() for gpu in found.get("gpus", [])})
    return [f"CuPy as {cupy.entry}, JAX as {jax.entry} (compiled), beside NumPy on the host; GPU: "
            f"{', '.join(gpus) or 'not found yet'}"]


def render(smoke: Smoke, results: list[Result], started: datetime.datetime, pending: list[str],
           stopped: str | None = None) -> str:
    """The report as Markdown; ``pending`` names the checks still to run (the first was running when
    ``stopped``, a signal's name, ended the smoke)."""
    verdict, tally, failed_checks = gpu_report.standing(results, pending, stopped)
    elapsed = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    versions = "; ".join(f"{smoke.roles[role].entry}: {found.get('libraries', '?')}"
                         for role, found in smoke.found.items())
    lines = ["# xpnet GPU smoke check", "", *header(smoke), "",
             f"Verdict: **{verdict}** ({tally}{'; failed: ' + ', '.join(failed_checks) if failed_checks else ''})", "",
             f"- command: `python ci/gpu_smoke.py {' '.join(smoke.args.argv)}`".rstrip(),
             f"- started {started.isoformat(timespec='seconds')}, {elapsed:.0f} s"
             + (" so far" if pending and not stopped else "") + f" (limit {smoke.args.timeout:g} s)",
             f"- versions: {versions or 'not probed'}; Python {platform.python_version()}",
             "- environment: " + ", ".join(f"{name}={smoke.env.get(name, '')}"
                                            for name in (*TF32_OFF, *JAX_FULL_FLOAT32)),
             "", "## Checks", "", "| check | verdict | seconds | detail |", "| --- | --- | ---: | --- |"]
    lines += [f"| {r.name} | {r.verdict} | {r.seconds:.1f} | {r.detail.replace('|', '/')} |" for r in results]
    lines += [f"| {name} | (to run) | | |" for name in pending]
    lines += [*gpu_report.result_sections(results), "", f"verdict: {verdict} ({tally})", ""]
    return "\n".join(lines)


def no_gpu_reason() -> str | None:
    """Why this is no GPU machine (None on one): CuPy's problem when no NVIDIA driver is present.

    With a driver, a CuPy that cannot run is a failure of the CuPy checks, not a dry run; and
    this process leaves the GPU alone (CuPy's probe would hold a context on it throughout).
    """
    from xpnet.backend import _nvidia_driver_present, cuda_problem

    if _nvidia_driver_present():  # xpnet's own test, which neither imports nor initialises CUDA
        return None

    # Its first clause: the advice after it ("use --device cpu") is for a training command.
    return (cuda_problem() or "no NVIDIA driver").split(";")[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ci/gpu_smoke.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=gpu_report.file_path, default="gpu-smoke.md",
                        help="the report (default: gpu-smoke.md)")
    parser.add_argument("--dry-run", action="store_true",
                        help="run the checks on the CPU at small sizes even where a GPU is (default: only without "
                             "one)")
    parser.add_argument("--timeout", type=gpu_report.seconds, default=TOTAL_SECONDS, metavar="SECONDS",
                        help=f"time limit of the whole smoke check, each command within it (default: "
                             f"{TOTAL_SECONDS:g})")
    parser.add_argument("--memory", metavar="NAME@DEVICE", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", default=DRY_SIZES.cnn_dataset, help=argparse.SUPPRESS)
    parser.add_argument("--arch", default=CNN_ARCH, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, runner: gpu_report.Runner = gpu_report.run_command,
         gpu_problem: Callable[[], str | None] = no_gpu_reason) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.memory:
        from xpnet.errors import XpnetError

        try:
            print(json.dumps(measure_memory(args.memory, args.dataset, args.arch)))
        except XpnetError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    for path in (args.out, gpu_report.partial_path(args.out)):
        kind = gpu_report.not_a_file(path)
        if kind:
            print(f"error: {path} is {kind}, which writing there would replace with a plain file; choose another "
                  "--out", file=sys.stderr)
            return 2
    reason = gpu_problem()
    dry_reason = ("--dry-run asked for it" if args.dry_run else None) or reason
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    for name, value in {**TF32_OFF, **JAX_FULL_FLOAT32}.items():
        env.setdefault(name, value)
    smoke = Smoke(args, dry_reason, env, runner, time.monotonic() + args.timeout, workdir=Path(),
                  roles=DRY_ROLES if dry_reason else GPU_ROLES, sizes=DRY_SIZES if dry_reason else GPU_SIZES)
    handlers = gpu_report.catch_stop_signals()
    try:
        return run_checks(smoke, handlers)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def run_checks(smoke: Smoke, handlers: dict) -> int:
    """Write the report, run every check, rewrite the report after each; the exit status."""
    out = smoke.args.out
    started = datetime.datetime.now(datetime.timezone.utc)
    checks, results = plan(smoke), []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write(out, render(smoke, [], started, list(CHECKS)))
        # The saved models and checkpoints, in a folder of its own that removing can remove nothing else from.
        smoke.workdir = Path(tempfile.mkdtemp(prefix=f"{out.stem}.", suffix=".work", dir=out.parent))
    except OSError as error:
        print(f"error: cannot write the report {out}: {error.strerror}; choose a writable --out", file=sys.stderr)
        return 2
    try:
        for position, name in enumerate(CHECKS):
            result = next_result(smoke, name, checks, results)
            results.append(result)
            print(f"{name}: {result.verdict} ({result.seconds:.1f} s) {result.detail}", flush=True)
            try:
                write(out, render(smoke, results, started, list(CHECKS[position + 1:])))
            except OSError as error:
                print(f"error: cannot write the report {out}: {error.strerror or error}; make room or choose "
                      "another --out, and run again", file=sys.stderr)
                return 1
    except (Stopped, KeyboardInterrupt) as interruption:
        return interrupted(smoke, interruption, results, started, handlers)
    finally:
        shutil.rmtree(smoke.workdir, ignore_errors=True)
    failed_checks = [r.name for r in results if r.verdict == "FAIL"]
    print(f"report: {out}")
    print(f"verdict: {overall(results)}" + (f" ({', '.join(failed_checks)})" if failed_checks else ""))
    return 0 if overall(results) == "PASS" else 1


def next_result(smoke: Smoke, name: str, checks: dict, results: list[Result]) -> Result:
    """Run check ``name``, or SKIP it when its role's device check failed."""
    role = next((role for role in smoke.roles if f"-{role}" in name), None)
    device = next((r for r in results if r.name == f"device-{role}"), None)
    if device is not None and name != device.name and device.verdict == "FAIL":
        return Result(name, "SKIP", f"{device.name} failed: {device.detail}")
    print(f"{name}...", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        return checks[name](smoke)
    except Exception as error:  # a bug of this script must cost one check, not the report
        return Result(name, "FAIL", f"the check itself failed: {type(error).__name__}: {error}",
                      time.monotonic() - started)


def interrupted(smoke: Smoke, interruption: BaseException, results: list[Result], started: datetime.datetime,
                handlers: dict) -> int:
    """Mark the report interrupted by the signal; exit 128 + its number."""
    stopped = interruption if isinstance(interruption, Stopped) else Stopped(signal.SIGINT)
    for signum in handlers:
        signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the report short
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        write(smoke.args.out, render(smoke, results, started, list(CHECKS[len(results):]), stopped.name))
        print(f"interrupted by {stopped.name}; the checks run so far are in {smoke.args.out}", file=sys.stderr)
    return 128 + stopped.signum


if __name__ == "__main__":
    sys.exit(main())
