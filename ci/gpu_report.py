"""The GPU verdict as one Markdown report: devices and versions, the gpu tests, parity, presets, bench.

    python ci/gpu_report.py                  # CuPy on cuda beside NumPy; writes gpu-report.md
    python ci/gpu_report.py --backend array-api-strict --device device1 --quick --skip gpu-tests   # on a CPU

`bash ci/gpu.sh` makes the venv and runs this. Checks, each in a child process with a time
limit (a hung GPU fails its check instead of hanging the lane):

- device: the backend resolves on the device and multiplies correctly; records GPUs and versions
  (a package that is not installed is one line);
- gpu-tests: `python -m pytest -m gpu` (nothing collected, or everything skipped, is a SKIP; no pytest, a FAIL);
- parity-float64, parity-float32: `ci/parity.py` with numpy and the backend, an MLP;
- parity-cnn-float64, parity-cnn-float32: the same with the cnn preset's network and random shifts
  (float64: every parameter element; float32: loss and accuracy);
- preset-seed000, preset-seed001: each preset on NumPy and on the backend, test accuracy within
  0.3 points (real MNIST: SKIP unless XPNET_DATA_DIR is set);
- bench: `python -m xpnet.bench --backends numpy,BACKEND@DEVICE --full --batch-sizes 128,1024,8192`.

The verdict is PASS when no check failed and at least one passed; FAIL, or NOTHING CHECKED when
every check was skipped, exit 1; bad usage exits 2, and so does an output path (the report,
its .partial, the bench's JSON) that exists and is not a regular file, which renaming over it
would replace. Relative paths, XPNET_DATA_DIR included, are taken from the current folder.
The report is rewritten after every check. Ctrl-C, SIGTERM and SIGHUP kill the running check's
process group, mark the report interrupted, and exit 128 + the signal's number (130, 143, 129).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ("device", "gpu-tests", "parity-float64", "parity-float32", "parity-cnn-float64", "parity-cnn-float32",
          "preset-seed000", "preset-seed001", "bench")
GROUPS = {"parity": ("parity-float64", "parity-float32", "parity-cnn-float64", "parity-cnn-float32"),
          "presets": ("preset-seed000", "preset-seed001")}
# The cnn preset's network, trained on images shifted by up to CNN_SHIFT pixels (more than the
# preset's 1, so that shifts past the border are exercised too).
CNN_ARCH = "conv16k5,pool,conv32k5v,pool,fc128"
CNN_SHIFT = 2
# Float32 CNN runs are compared where SGD has not yet left the loss plateau of its first epoch:
# leaving it amplifies rounding, and two correct backends then differ by 12 of 666 test examples
# (synthetic:4000, 2 epochs; figures in ci/parity.py). Float64 runs agree elementwise throughout.
CNN_PARITY_RUNS = {"float64": ("synthetic:10000", "2"), "float32": ("synthetic:2000", "1")}
PRESET_POINTS = 0.3
BENCH_BATCH_SIZES = "128,1024,8192"
# Seconds each command may take unless --timeout says otherwise.
TIMEOUTS = {"device": 300, "gpu-tests": 1800, "parity": 1800, "preset": 1800, "bench": 3600, "tool": 60}
# The float32 parity tolerances assume IEEE float32 matrix products: CUPY_TF32=0 keeps CuPy's
# matmuls off TF32, and NVIDIA_TF32_OVERRIDE=0 turns TF32 off in cuBLAS and cuDNN for every
# library in the process, a CUDA build of PyTorch included.
TF32_OFF = {"CUPY_TF32": "0", "NVIDIA_TF32_OVERRIDE": "0"}
OUTPUT_LINES = 150
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(BaseException):
    """A signal (Ctrl-C, SIGTERM, SIGHUP) that ends the lane, raised wherever the main thread is.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


@dataclass
class Ran:
    """A finished command: exit status (None when killed at its time limit), output, seconds."""

    command: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timeout: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def status(self) -> str:
        if self.timed_out:
            return f"timed out after {self.timeout:g} s"
        return f"exit status {self.returncode}"

    def last_line(self) -> str:
        """The most telling line: after a success the last of stdout, else the last of stderr (an ``error:``)."""
        for text in (self.stdout, self.stderr) if self.returncode == 0 else (self.stderr, self.stdout):
            lines = [line for line in text.splitlines() if line.strip() and not line.startswith("training ")]
            if lines:
                return lines[-1].strip()
        return ""


Runner = Callable[[list[str], float, dict], Ran]
# A check's command runs in a session of its own, so that a time limit can kill its whole group; no
# signal of the lane's then reaches it, and a lane killed by SIGKILL (no handler runs) left it running
# on the GPU. On Linux this first asks the kernel (prctl PR_SET_PDEATHSIG) to kill it when the lane
# (argv[1]) ends, then becomes the command. (A preexec_fn would fork a process that may have threads.)
END_WITH_THE_LANE = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)  # the lane ended before the request was made
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as error:  # as run_command says when the shell cannot start it
    print(f"{sys.argv[2]}: {error.strerror}", file=sys.stderr)
    sys.exit(127)
"""


def ending_with_the_lane(command: list[str]) -> list[str]:
    """``command``, made to end when this process does (on Linux; elsewhere as it is)."""
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-I", "-c", END_WITH_THE_LANE, str(os.getpid()), *command]


def run_command(command: list[str], timeout: float, env: dict) -> Ran:
    """Run ``command`` in ROOT in a process group of its own; kill the group at ``timeout`` seconds."""
    started = time.monotonic()
    try:
        process = subprocess.Popen(ending_with_the_lane(command), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                   start_new_session=True)
    except OSError as error:
        return Ran(command, 127, "", f"{command[0]}: {error.strerror}\n", 0.0, timeout)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        returncode = None
    except BaseException:
        # Stopped or Ctrl-C: the child's group is in a session of its own, so no signal reaches it
        # unless sent here, and it would hold the GPU after the lane is gone.
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    if returncode is None:
        # The group: pytest or the bench may have children of their own holding the GPU.
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    return Ran(command, returncode, stdout, stderr, time.monotonic() - started, timeout)


@dataclass
class Result:
    """One check's verdict (PASS, FAIL or SKIP), a one-line detail, and its section of the report."""

    name: str
    verdict: str
    detail: str
    seconds: float = 0.0
    section: list[str] = field(default_factory=list)


@dataclass
class Lane:
    """What every check needs: the options, the children's environment, and how to run a command."""

    args: argparse.Namespace
    env: dict
    runner: Runner
    workdir: Path | None
    environment: dict = field(default_factory=dict)

    def run(self, command: list[str], kind: str) -> Ran:
        return self.runner(command, self.args.timeout or TIMEOUTS[kind], self.env)

    @property
    def target(self) -> str:
        """The accelerated backend as ci/parity.py names it."""
        return f"{self.args.backend}@{self.args.device}"


def command_block(ran: Ran, lines: int = OUTPUT_LINES) -> list[str]:
    """The command, its status and the tail of its output, as Markdown."""
    output = ran.output.rstrip().splitlines()
    left_out = len(output) - lines
    shown = ([f"[{left_out} earlier line(s) left out]"] if left_out > 0 else []) + output[-lines:]
    return [f"`{' '.join(ran.command)}`: {ran.status()}, {ran.seconds:.1f} s", "", "```", *shown, "```"]


def last_json(ran: Ran) -> dict | None:
    """The JSON object a child printed as its last line of stdout (a probe's findings); None if there is none."""
    try:
        found = json.loads(ran.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def check_device(lane: Lane) -> Result:
    ran = lane.run([sys.executable, str(Path(__file__)), "--probe", "--backend", lane.args.backend,
                    "--device", lane.args.device], "device")
    section = command_block(ran, 30)
    if ran.returncode != 0:
        return Result("device", "FAIL", f"{lane.args.backend} on {lane.args.device}: {ran.status()}: "
                                        f"{ran.last_line()}", ran.seconds, section)
    found = last_json(ran)
    if found is None:
        return Result("device", "FAIL", f"the probe printed no JSON: {ran.last_line()}", ran.seconds, section)
    lane.environment.update(found)
    gpus = ", ".join(found.get("gpus", [])) or "no GPU listed"
    return Result("device", "PASS", f"{found['backend']} on {found['device']} ({gpus}); a float64 matmul "
                                    "matches NumPy", ran.seconds, section)


def pytest_verdict(ran: Ran) -> tuple[str, str]:
    """PASS, FAIL or SKIP for a ``pytest -m gpu`` run: exit 5 (nothing collected) and all-skipped are SKIPs."""
    if ran.timed_out:
        return "FAIL", ran.status()
    summary = next((line.strip(" =") for line in reversed(ran.stdout.splitlines())
                    if re.search(r"\bin [\d.]+s\b", line)), "")
    counts = {word: int(number) for number, word in
              re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)", summary)}
    if ran.returncode == 5:
        return "SKIP", f"no gpu tests collected (pytest exit status 5){': ' + summary if summary else ''}"
    if ran.returncode == 0 and not counts.get("passed"):
        reason = next((line.split(": ", 1)[-1] for line in ran.stdout.splitlines() if line.startswith("SKIPPED")), "")
        return "SKIP", f"all {counts.get('skipped', 0)} gpu tests skipped{': ' + reason if reason else ''}"
    if ran.returncode == 0:
        return "PASS", summary
    return "FAIL", f"{ran.status()}: {summary or ran.last_line()}"


def check_gpu_tests(lane: Lane) -> Result:
    if importlib.util.find_spec("pytest") is None:
        return Result("gpu-tests", "FAIL", f"pytest is not installed for {sys.executable}: the gpu tests need "
                                           "xpnet's test extra (pip install -e '.[test]', or bash ci/gpu.sh, which "
                                           "installs it)")
    ran = lane.run([sys.executable, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider"], "gpu-tests")
    verdict, detail = pytest_verdict(ran)
    return Result("gpu-tests", verdict, detail, ran.seconds, command_block(ran))


def check_parity(lane: Lane, dtype: str, cnn: bool = False) -> Result:
    """ci/parity.py in ``dtype``: an MLP, or (``cnn``) the cnn preset's network on shifted images."""
    if cnn:  # NumPy trains a CNN some 20x slower than an MLP: fewer examples
        dataset, epochs = ("synthetic:1000", "1") if lane.args.quick else CNN_PARITY_RUNS[dtype]
        network = ["--arch", CNN_ARCH, "--shift", str(CNN_SHIFT)]
    else:
        dataset, epochs = ("synthetic:3000", "1") if lane.args.quick else ("synthetic:60000", "2")
        network = []
    ran = lane.run([sys.executable, "ci/parity.py", "--backends", f"numpy,{lane.target}", "--dtype", dtype,
                    "--dataset", dataset, "--epochs", epochs, *network], "parity")
    verdict = "PASS" if ran.returncode == 0 else "FAIL"
    detail = ran.last_line() if ran.returncode == 0 else f"{ran.status()}: {ran.last_line()}"
    first_miss = next((line for line in ran.stdout.splitlines() if line.startswith("FAIL ")), None)
    if first_miss:
        detail += f"; first: {first_miss.removeprefix('FAIL ')}"
    return Result(f"parity-{'cnn-' if cnn else ''}{dtype}", verdict, detail, ran.seconds, command_block(ran))


def preset_accuracy(ran: Ran, metrics: Path) -> tuple[float, float] | str:
    """The run's (test accuracy, training seconds) from its metrics file, or why there are none."""
    if ran.returncode != 0:
        return f"{ran.status()}: {ran.last_line()}"
    try:
        lines = metrics.read_text().splitlines()
        summary = json.loads(lines[-1])
        return float(summary["test_accuracy"]), float(summary.get("train_seconds", float("nan")))
    except (OSError, IndexError, KeyError, TypeError, ValueError) as error:
        return f"no summary in {metrics}: {error}"


def check_preset(lane: Lane, preset: str) -> Result:
    name = f"preset-{preset}"
    if not lane.env.get("XPNET_DATA_DIR"):
        return Result(name, "SKIP", "XPNET_DATA_DIR is unset: the presets train on the real MNIST; point it at "
                                    "a folder holding mnist/")
    rows, figures, seconds, section = [], {}, 0.0, []
    for backend, device in (("numpy", "cpu"), (lane.args.backend, lane.args.device)):
        metrics = lane.workdir / f"{preset}-{backend}-{device.replace(':', '')}.jsonl"
        command = [sys.executable, "-m", "xpnet.train", "--preset", preset, "--backend", backend, "--device", device,
                   "--metrics", str(metrics), "--quiet", "--no-download"] + (["--epochs", "1"] if lane.args.quick
                                                                             else [])
        ran = lane.run(command, "preset")
        seconds += ran.seconds
        found = preset_accuracy(ran, metrics)
        label = f"{backend} on {device}"
        if isinstance(found, str):
            section += command_block(ran, 30) + [""]
            return Result(name, "FAIL", f"{label}: {found}", seconds, section)
        figures[label] = found[0]
        rows.append(f"| {label} | {100 * found[0]:.2f}% | {found[1]:.1f} |")
        section.append(f"`{' '.join(command)}`: {ran.status()}, {ran.seconds:.1f} s")
    (reference, accuracy), (other, other_accuracy) = figures.items()
    gap = 100 * abs(other_accuracy - accuracy)
    verdict = "PASS" if gap <= PRESET_POINTS else "FAIL"
    section += ["", "| backend | test accuracy | training seconds |", "| --- | ---: | ---: |", *rows]
    return Result(name, verdict, f"{other} {100 * other_accuracy:.2f}% vs {reference} {100 * accuracy:.2f}%: "
                                 f"{gap:.2f} points apart (allowed {PRESET_POINTS})", seconds, section)


def check_bench(lane: Lane) -> Result:
    command = [sys.executable, "-m", "xpnet.bench", "--backends", f"numpy,{lane.target}", "--json",
               str(lane.args.bench_json)]
    command += ["--quick"] if lane.args.quick else ["--full", "--batch-sizes", BENCH_BATCH_SIZES]
    ran = lane.run(command, "bench")
    if ran.returncode != 0:
        return Result("bench", "FAIL", f"{ran.status()}: {ran.last_line()}", ran.seconds, command_block(ran))
    rows = sum(1 for line in ran.stdout.splitlines() if re.match(r"\| [\w-]+ \| \d+ \| xpnet/", line))
    section = [f"`{' '.join(command)}`: {ran.status()}, {ran.seconds:.1f} s; every figure in "
               f"`{lane.args.bench_json}`. NumPy runs on the CPU, {lane.args.backend} on {lane.args.device}.", "",
               *(f"##{line}" if line.startswith("# ") else line for line in ran.stdout.strip().splitlines())]
    return Result("bench", "PASS", f"{rows} xpnet run(s) timed; the tables are below", ran.seconds, section)


def tools_environment(lane: Lane) -> None:
    """nvidia-smi's view and the repository's commit, each under a time limit; absent tools are noted."""
    found = lane.environment
    if shutil.which("nvidia-smi"):
        query = lane.run(["nvidia-smi", "--query-gpu=index,name,driver_version,memory.total",
                          "--format=csv,noheader"], "tool")
        found["nvidia_smi_gpus"] = query.stdout.strip() if query.returncode == 0 else query.status()
        banner = lane.run(["nvidia-smi"], "tool")
        found["nvidia_smi"] = banner.output.rstrip() if banner.returncode == 0 else banner.status()
    else:
        found["nvidia_smi_gpus"] = "nvidia-smi not found"
    if shutil.which("git"):
        commit = lane.run(["git", "rev-parse", "--short", "HEAD"], "tool")
        changes = lane.run(["git", "status", "--porcelain", "--untracked-files=no"], "tool")
        if commit.returncode == 0 and commit.stdout.strip():
            found["commit"] = commit.stdout.strip() + (" with local changes" if changes.stdout.strip() else "")


def overall(results: list[Result]) -> str:
    """FAIL if any check failed, NOTHING CHECKED if none passed, else PASS."""
    if any(r.verdict == "FAIL" for r in results):
        return "FAIL"
    return "PASS" if any(r.verdict == "PASS" for r in results) else "NOTHING CHECKED"


def standing(results: list[Result], pending: list[str], stopped: str | None) -> tuple[str, str, list[str]]:
    """Where a run of checks stands: its verdict (INTERRUPTED, INCOMPLETE, or :func:`overall`'s), the
    tally of verdicts, and the names of the failed checks."""
    counts = {verdict: sum(r.verdict == verdict for r in results) for verdict in ("PASS", "FAIL", "SKIP")}
    failed = [r.name for r in results if r.verdict == "FAIL"]
    if stopped:
        verdict = f"INTERRUPTED by {stopped} " + (f"during {pending[0]}" if pending else "after the last check")
    elif pending:
        verdict = f"INCOMPLETE: {', '.join(pending)} still to run"
    else:
        verdict = overall(results)
    return verdict, f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP", failed


def render(lane: Lane, results: list[Result], started: datetime.datetime, pending: list[str],
           stopped: str | None = None) -> str:
    """The whole report as Markdown; ``pending`` names the checks still to run (the first was running
    when ``stopped``, a signal's name, ended the lane)."""
    args, found = lane.args, lane.environment
    verdict, tally, failed = standing(results, pending, stopped)
    lines = [
        "# xpnet GPU report", "",
        f"Verdict: **{verdict}** ({tally}{'; failed: ' + ', '.join(failed) if failed else ''})", "",
        f"- command: `python ci/gpu_report.py {' '.join(args.argv)}`".rstrip(),
        f"- started {started.isoformat(timespec='seconds')}, "
        f"{(datetime.datetime.now(datetime.timezone.utc) - started).total_seconds():.0f} s"
        + (" so far" if pending and not stopped else ""),
        *([f"- not run: {', '.join(pending)}"] if stopped and pending else []),
        f"- xpnet commit: {found.get('commit', 'unknown')}",
        f"- backend under test: {args.backend} on {args.device}, beside NumPy on the CPU"
        + (" (--quick: small settings, not a verdict on the GPU)" if args.quick else ""),
        "", "## Checks", "", "| check | verdict | seconds | detail |", "| --- | --- | ---: | --- |",
    ]
    lines += [f"| {r.name} | {r.verdict} | {r.seconds:.1f} | {r.detail.replace('|', '/')} |" for r in results]
    lines += ["", "## Environment", "", "| item | value |", "| --- | --- |"]
    items = [
        ("GPUs (CuPy or PyTorch)", ", ".join(found.get("gpus", [])) or "none found"),
        ("nvidia-smi: index, name, driver, memory", found.get("nvidia_smi_gpus", "not run")),
        ("CUDA version the driver supports", found.get("cuda_driver", "n/a")),
        ("CUDA runtime", found.get("cuda_runtime", "n/a")),
        ("CuPy", found.get("cupy", "not used")),
        ("PyTorch (its CUDA)", f"{found['torch']} ({found.get('torch_cuda')})" if "torch" in found else "not used"),
        ("PyTorch allows TF32 in matmuls", found.get("torch_allow_tf32", "n/a")),
        ("float32 matrix products of the backend under test", found.get("float32_matmul", "n/a")),
        ("backend library versions", found.get("libraries", "n/a")),
        ("NumPy", found.get("numpy", "?")),
        ("Python", found.get("python", platform.python_version())),
        ("xpnet", found.get("xpnet", "?")),
        *[(name, lane.env[name] + ("" if lane.env[name] == "0" else " (TF32 may be on: the float32 parity "
                                                                  "tolerances assume it off)")) for name in TF32_OFF],
        ("XPNET_DATA_DIR", lane.env.get("XPNET_DATA_DIR") or "unset"),
    ]
    lines += [f"| {name} | {str(value).replace('|', '/')} |" for name, value in items]
    if found.get("nvidia_smi"):
        lines += ["", "<details><summary>nvidia-smi</summary>", "", "```", found["nvidia_smi"], "```", "",
                  "</details>"]
    lines += [*result_sections(results), "", f"verdict: {verdict} ({tally})", ""]
    return "\n".join(lines)


def result_sections(results: list[Result]) -> list[str]:
    """Each check's section of a report, as Markdown lines: a heading with its verdict, the detail, the rest."""
    lines = []
    for result in results:
        lines += ["", f"## {result.name}: {result.verdict}", "", result.detail]
        if result.section:
            lines += ["", *result.section]
    return lines


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def write(path: Path, text: str) -> None:
    """Replace the report in one step, so a reader never sees half of it; on failure (a full disk)
    the old report stays and no partial file is left."""
    partial = partial_path(path)
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


FILE_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
              (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def not_a_file(path: Path) -> str | None:
    """What stands at ``path`` when it is something other than a regular file, else None.

    Writing there means renaming a new file over it, which would replace a FIFO, a link or a
    device with a plain file. A path that cannot be looked at is left to the write to report.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in FILE_KINDS if test(mode)), "not a regular file")


def file_path(text: str) -> Path:
    """An output file's path, absolute: the children run in the repository, not in the caller's folder."""
    if os.path.basename(text) in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"expected the path of a file, such as gpu-report.md, got {text!r}")
    return Path(text).absolute()


# A child's time limit reaches poll() in milliseconds as a C int (24.8 days at most): beyond, it overflows.
MAX_SECONDS = 1_000_000


def seconds(text: str) -> float:
    """A positive number of seconds up to MAX_SECONDS (inf or 1e300 would overflow the child's time limit)."""
    try:  # ASCII digits only, as xpnet.arguments reads numbers (float() also takes '１２' and '1_0')
        value = float(text) if text.isascii() and "_" not in text else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(f"expected a finite positive number of seconds in the digits 0-9, at most "
                                         f"{MAX_SECONDS}, got {text!r}")
    return value


def probe(backend: str, device: str) -> dict:
    """Resolve the backend, multiply on its device against NumPy, and gather versions (runs in a child)."""
    import numpy as np

    import xpnet
    from xpnet.backend import library_versions

    chosen = xpnet.resolve(backend, device)
    versions = library_versions(chosen)
    found = {"backend": chosen.name, "device": chosen.device_name, "xpnet": xpnet.__version__,
             "numpy": np.__version__, "python": platform.python_version(),
             "libraries": ", ".join(f"{key} {value}" for key, value in versions.items()), **versions}
    if "gpu" in found:
        found["gpus"] = [found.pop("gpu")]
    A = np.random.default_rng(0).standard_normal((64, 64))
    with chosen.activate():
        product = xpnet.to_numpy(chosen.asarray(A) @ chosen.asarray(A))
    if not np.allclose(product, A @ A, rtol=1e-12, atol=1e-12):
        raise xpnet.XpnetError(f"a float64 matmul on {chosen.device_name} differs from NumPy's by "
                               f"{np.max(np.abs(product - A @ A)):.3g}")
    return found


def run_probe(backend: str, device: str) -> int:
    """The --probe child: the probe's JSON on stdout, or one ``error:`` line on stderr and exit 1."""
    try:
        from xpnet.errors import XpnetError

        try:
            print(json.dumps(probe(backend, device)))
        except XpnetError as error:  # among them a backend that is not installed
            print(f"error: {error}", file=sys.stderr)
            return 1
    except ModuleNotFoundError as error:  # xpnet's own dependencies (numpy, array-api-compat), or xpnet
        print(f"error: {error.name} is not installed for {sys.executable}; install xpnet with its dependencies "
              "(pip install -e .), or run bash ci/gpu.sh, which does", file=sys.stderr)
        return 1
    except ImportError as error:  # installed, and broken (a library it loads is missing)
        print(f"error: cannot import: {error}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ci/gpu_report.py", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy", help="the backend under test, beside NumPy (default: cupy)")
    parser.add_argument("--device", default="cuda", help="its device (default: cuda)")
    parser.add_argument("--out", type=file_path, default="gpu-report.md", help="the report (default: gpu-report.md)")
    parser.add_argument("--bench-json", type=file_path, default=None,
                        help="the bench's figures as JSON (default: beside the report, *.bench.json)")
    parser.add_argument("--quick", action="store_true",
                        help="small settings for a smoke test: parity on synthetic:3000 (the CNN: 1000) for 1 epoch, "
                             "presets for 1 epoch, bench --quick (default: off)")
    parser.add_argument("--skip", default="", metavar="CHECK[,CHECK...]",
                        help=f"checks to skip, from {', '.join(CHECKS)}, or {', '.join(GROUPS)} (default: none)")
    parser.add_argument("--timeout", type=seconds, default=None, metavar="SECONDS",
                        help="time limit of every command (default: " + ", ".join(
                            f"{kind} {seconds} s" for kind, seconds in TIMEOUTS.items()) + ")")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, runner: Runner = run_command) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.probe:
        return run_probe(args.backend, args.device)
    skipped = set()
    for name in filter(None, (part.strip() for part in args.skip.split(","))):
        if name not in CHECKS and name not in GROUPS:
            parser.error(f"unknown check {name!r} in --skip; choose from {', '.join(CHECKS + tuple(GROUPS))}")
        skipped.update(GROUPS.get(name, (name,)))
    args.bench_json = args.bench_json or args.out.with_name(args.out.stem + ".bench.json")
    for path, flag in ((args.out, "--out"), (partial_path(args.out), "--out"), (args.bench_json, "--bench-json")):
        kind = not_a_file(path)
        if kind:
            print(f"error: {path} is {kind}, which writing there would replace with a plain file; choose another "
                  f"{flag}", file=sys.stderr)
            return 2
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name, value in TF32_OFF.items():
        env.setdefault(name, value)
    if env.get("XPNET_DATA_DIR"):
        env["XPNET_DATA_DIR"] = os.path.abspath(env["XPNET_DATA_DIR"])
    lane = Lane(args, env, runner, workdir=None)
    handlers = catch_stop_signals()
    try:
        return run_checks(lane, skipped, handlers)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def catch_stop_signals() -> dict:
    """Make Ctrl-C, SIGTERM and SIGHUP raise :class:`Stopped`; the handlers they replace, by signal."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # signals are caught in the main thread only

    def stop(signum, frame):
        # The first stops the lane; the next must not cut its report short. Ctrl-C at a terminal
        # reaches the report twice: from the terminal and from ci/gpu.sh, which passes it on.
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        raise Stopped(signum)

    handlers = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    stop_when_gpu_sh_dies()
    return handlers


def stop_when_gpu_sh_dies() -> None:
    """Run by ci/gpu.sh (its pid in XPNET_GPU_SH_PID), ask Linux for SIGTERM when gpu.sh dies, even of
    SIGKILL, which it cannot pass on: the report is then marked interrupted instead of running on alone."""
    shell = os.environ.get("XPNET_GPU_SH_PID")
    if sys.platform.startswith("linux") and shell is not None and str(os.getppid()) == shell:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
        if str(os.getppid()) != shell:  # gpu.sh died before the request was made
            os.kill(os.getpid(), signal.SIGTERM)


def run_checks(lane: Lane, skipped: set[str], handlers: dict) -> int:
    """Write the report, run every check not skipped, rewrite the report after each; the exit status."""
    args = lane.args
    started = datetime.datetime.now(datetime.timezone.utc)
    plan = {
        "device": check_device,
        "gpu-tests": check_gpu_tests,
        "parity-float64": lambda lane: check_parity(lane, "float64"),
        "parity-float32": lambda lane: check_parity(lane, "float32"),
        "parity-cnn-float64": lambda lane: check_parity(lane, "float64", cnn=True),
        "parity-cnn-float32": lambda lane: check_parity(lane, "float32", cnn=True),
        "preset-seed000": lambda lane: check_preset(lane, "seed000"),
        "preset-seed001": lambda lane: check_preset(lane, "seed001"),
        "bench": check_bench,
    }
    results: list[Result] = []
    try:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            write(args.out, render(lane, [], started, list(CHECKS)))
            # A folder of its own for the presets' metrics, so removing it can remove nothing else.
            lane.workdir = Path(tempfile.mkdtemp(prefix=f"{args.out.stem}.", suffix=".work", dir=args.out.parent))
        except OSError as error:
            print(f"error: cannot write the report {args.out}: {error.strerror}; choose a writable --out",
                  file=sys.stderr)
            return 2
        tools_environment(lane)
        for position, name in enumerate(CHECKS):
            if name in skipped:
                result = Result(name, "SKIP", "--skip asked for it")
            elif name not in ("device", "gpu-tests") and results[0].verdict == "FAIL":
                result = Result(name, "SKIP", "the device check failed")
            else:
                print(f"{name}...", file=sys.stderr, flush=True)
                result = plan[name](lane)
            results.append(result)
            print(f"{name}: {result.verdict} ({result.seconds:.1f} s) {result.detail}", flush=True)
            try:
                write(args.out, render(lane, results, started, list(CHECKS[position + 1:])))
            except OSError as error:
                print(f"error: cannot write the report {args.out}: {error.strerror or error}; make room or choose "
                      "another --out, and run again", file=sys.stderr)
                return 1
    except (Stopped, KeyboardInterrupt) as interruption:
        stopped = interruption if isinstance(interruption, Stopped) else Stopped(signal.SIGINT)
        for signum in handlers:
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the report short
        # After SIGHUP the terminal may be gone, and writing to it fail.
        with contextlib.suppress(OSError):
            write(args.out, render(lane, results, started, list(CHECKS[len(results):]), stopped.name))
            print(f"interrupted by {stopped.name}; the checks run so far are in {args.out}", file=sys.stderr)
        return 128 + stopped.signum
    finally:
        if lane.workdir is not None:
            shutil.rmtree(lane.workdir, ignore_errors=True)
    verdict = overall(results)
    failed = [r.name for r in results if r.verdict == "FAIL"]
    print(f"report: {args.out}")
    print(f"verdict: {verdict}" + (f" ({', '.join(failed)})" if failed else ""))
    return 0 if verdict == "PASS" else 1

if __name__ == "__main__":
    sys.exit(main())
