"""The GPU lane, checked on a CPU: the CuPy pins, the workflow job, ci/gpu.sh and ci/gpu_report.py.

ci/gpu_report.py takes the backend under test as a parameter, so it runs here end to end with
array-api-strict's second device standing in for the GPU; a fake runner stands in for commands
that fail, hang or find nothing.
"""

import contextlib
import errno
import importlib.util
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci_scripts import ROOT, load_script

gpu_report = load_script("gpu_report")


# --- Finding 3: the [ctk] extra exists only from CuPy 14 ---

def test_every_cupy_extra_pins_cupy_14_with_the_cuda_toolkit():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    cupy = {name: deps for name, deps in extras.items() if any(dep.startswith("cupy") for dep in deps)}
    assert set(cupy) == {"cuda12", "cuda13"}
    for name, deps in cupy.items():
        assert len(deps) == 1, deps
        match = re.fullmatch(r"cupy-cuda(\d+)x\[([\w,]+)\](.*)", deps[0].replace(" ", ""))
        assert match, deps[0]
        major, features, specifiers = match.groups()
        assert name == f"cuda{major}"
        assert "ctk" in features.split(",")
        assert sorted(specifiers.split(",")) == ["<15", ">=14"], deps[0]


# --- Finding 4: the GPU job sets up Python like the CPU job ---

def workflow_jobs() -> dict[str, str]:
    """Each job's block of .github/workflows/ci.yml, by name (the jobs sit two spaces in)."""
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    jobs_block = text.split("\njobs:\n", 1)[1]
    jobs, name = {}, None
    for line in jobs_block.splitlines():
        header = re.fullmatch(r"  ([\w-]+):\s*", line)
        if header:
            name = header.group(1)
            jobs[name] = ""
        elif name is not None and (line.startswith("    ") or not line.strip()):
            jobs[name] += line + "\n"
        elif line.strip():
            name = None
    return jobs


def test_the_gpu_job_sets_up_python_then_runs_the_gpu_lane():
    jobs = workflow_jobs()
    assert {"cpu", "gpu"} <= set(jobs)
    for name, script in (("cpu", "ci/cpu.sh"), ("gpu", "ci/gpu.sh")):
        steps = jobs[name]
        setup = re.search(r"uses: actions/setup-python@v\d+", steps)
        run = re.search(rf"run: bash {re.escape(script)}\s*$", steps, re.MULTILINE)
        assert setup and run and setup.start() < run.start(), f"{name} job:\n{steps}"
    assert re.search(r"python-version: \S+", jobs["gpu"])


def test_the_gpu_job_keeps_every_report_and_takes_its_runner_from_a_variable():
    """The old job kept gpu-report.md alone (not JAX's report, not the bench figures), and its fixed
    runs-on labels could not be pointed at a maintainer's runner."""
    gpu = workflow_jobs()["gpu"]
    upload = gpu[gpu.index("uses: actions/upload-artifact@"):]
    assert re.search(r"if: \$\{\{ always\(\) \}\}\n\s+uses: actions/upload-artifact@", gpu)
    kept = re.search(r"path: \|\n((?: {12}\S+\n)+)", upload).group(1).split()
    assert sorted(kept) == ["gpu-report-jax.bench.json", "gpu-report-jax.md", "gpu-report.bench.json",
                            "gpu-report.md", "gpu-smoke.md"]
    lane = (ROOT / "ci" / "gpu.sh").read_text()
    assert all(f":-{name}}}" in lane for name in ("gpu-report.md", "gpu-report-jax.md", "gpu-smoke.md"))
    runs_on = re.search(r"^    runs-on: (.+)$", gpu, re.MULTILINE).group(1)
    default = re.fullmatch(r"\$\{\{ fromJSON\(vars\.XPNET_GPU_RUNS_ON \|\| '(.+)'\) \}\}", runs_on)
    assert default and json.loads(default.group(1)) == ["self-hosted", "linux", "gpu"], runs_on
    testing = (ROOT / "docs" / "testing.md").read_text()
    assert "XPNET_GPU_RUNS_ON" in testing and "XPNET_GPU_RUNNER" in testing


def test_the_testing_page_gives_the_offline_commands():
    tests = (ROOT / "docs" / "testing.md").read_text()
    for command in ("bash ci/gpu.sh --prepare ", "bash ci/gpu.sh --wheelhouse ", "bash ci/gpu.sh --no-install",
                    "bash ci/gpu_smoke.sh"):
        assert command in tests, command


# --- Finding 5 and the one command: ci/gpu.sh ---

def source_gpu_sh(tmp_path, script: str, smi: str | None, timeout: float = 60, **env) -> subprocess.CompletedProcess:
    """Run ``script`` in bash after sourcing ci/gpu.sh, with a fake nvidia-smi printing ``smi``
    (None: failing; ``HANG``: sleeping, in a child of its own, as a stuck driver call would)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nvidia-smi"
    body = ("echo 'NVIDIA-SMI has failed: no driver' >&2; exit 9\n" if smi is None else
            "sleep 30; echo 'CUDA Version: 12.4'\n" if smi is HANG else f"cat <<'END'\n{smi}\nEND\n")
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["bash", "-c", f"source ci/gpu.sh && {script}"], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=timeout)


HANG = object()


BANNER = ("+-----------------------------------------------------------------------------+\n"
          "| NVIDIA-SMI 575.57.08   Driver Version: 575.57.08   CUDA Version: {cuda}     |\n"
          "|-------------------------------+----------------------+----------------------+")


@pytest.mark.parametrize("cuda, extra", [("12.4", "cuda12"), ("12.9", "cuda12"), ("13.0", "cuda13"),
                                         ("14.1", "cuda13")])
def test_gpu_sh_picks_the_cupy_extra_from_the_driver(tmp_path, cuda, extra):
    done = source_gpu_sh(tmp_path, "cuda_extra", BANNER.format(cuda=cuda))
    assert (done.returncode, done.stdout.strip()) == (0, extra), done.stderr


@pytest.mark.parametrize("smi, fragment", [(None, "nvidia-smi failed"), ("no version here", "no 'CUDA Version'"),
                                           (BANNER.format(cuda="11.8"), "CUDA 12 or newer")])
def test_gpu_sh_without_a_usable_driver_says_why(tmp_path, smi, fragment):
    done = source_gpu_sh(tmp_path, "cuda_extra", smi)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.startswith("error: ") and fragment in done.stderr and len(done.stderr.splitlines()) == 1


def test_gpu_sh_gives_up_on_a_hung_nvidia_smi(tmp_path):
    """The old script waited for nvidia-smi forever."""
    started = time.monotonic()
    done = source_gpu_sh(tmp_path, "cuda_extra", HANG, timeout=20, XPNET_NVIDIA_SMI_TIMEOUT="1")
    assert time.monotonic() - started < 15
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.startswith("error: nvidia-smi did not answer within 1 s") and len(done.stderr.splitlines()) == 1


def test_gpu_sh_turns_tf32_off_and_rejects_an_unknown_extra(tmp_path):
    done = source_gpu_sh(tmp_path, 'echo "$CUPY_TF32 $NVIDIA_TF32_OVERRIDE"', None)
    assert done.stdout.strip() == "0 0"
    venv = tmp_path / "venv"
    done = subprocess.run(["bash", "ci/gpu.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "XPNET_CUDA_EXTRA": "cuda11", "XPNET_GPU_VENV": str(venv)})
    assert done.returncode == 2 and "must be cuda12 or cuda13" in done.stderr
    assert not venv.exists()


# --- ci/gpu_report.py, for real on a CPU stand-in ---

def sections(report: str) -> dict[str, str]:
    """The verdict of each row of the report's Checks table."""
    return dict(re.findall(r"^\| ([\w-]+) \| (PASS|FAIL|SKIP) \|", report, re.MULTILINE))


@pytest.mark.skipif(importlib.util.find_spec("array_api_strict") is None, reason="array-api-strict is not installed")
def test_report_on_a_cpu_stand_in_passes_with_every_section(tmp_path, monkeypatch, capsys):
    """Run from outside the repository with a relative --out (the children run in the repository:
    the old script's bench wrote its JSON there)."""
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    monkeypatch.delenv("CUPY_TF32", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "nested" / "stand-in-report.md"
    status = gpu_report.main(["--backend", "array-api-strict", "--device", "device1", "--quick",
                              "--skip", "gpu-tests", "--out", "nested/stand-in-report.md"])
    printed = capsys.readouterr().out
    report = out.read_text()
    assert status == 0, report
    assert printed.rstrip().endswith("verdict: PASS")
    assert sections(report) == {"device": "PASS", "gpu-tests": "SKIP", "parity-float64": "PASS",
                                "parity-float32": "PASS", "parity-cnn-float64": "PASS", "parity-cnn-float32": "PASS",
                                "preset-seed000": "SKIP", "preset-seed001": "SKIP", "bench": "PASS"}
    for heading in ("# xpnet GPU report", "## Checks", "## Environment", "## device: PASS",
                    "## parity-float64: PASS", "## parity-float32: PASS", "## bench: PASS"):
        assert f"\n{heading}\n" in f"\n{report}", heading
    assert "| CUPY_TF32 | 0 |" in report and "| NVIDIA_TF32_OVERRIDE |" in report
    assert "XPNET_DATA_DIR is unset" in report
    assert "parity: PASS (array-api-strict@device1 agrees with numpy in float32)" in report
    assert "| 784-32-10 | 64 | xpnet/array-api-strict@device1 |" in report
    assert json.loads(out.with_name("stand-in-report.bench.json").read_text())["settings"]["backends"] == [
        "numpy", "array-api-strict@device1"]
    assert report.rstrip().endswith("verdict: PASS (6 PASS, 0 FAIL, 3 SKIP)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["stand-in-report.bench.json", "stand-in-report.md"]
    assert not [path for path in ROOT.iterdir() if path.name.startswith(("stand-in-report", "nested"))]


def test_without_the_backend_the_device_fails_and_the_rest_skips(tmp_path):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    out = tmp_path / "r.md"
    status = gpu_report.main(["--out", str(out), "--skip", "gpu-tests"])
    report = out.read_text()
    assert status == 1
    assert sections(report) == {"device": "FAIL", "gpu-tests": "SKIP", "parity-float64": "SKIP",
                                "parity-float32": "SKIP", "parity-cnn-float64": "SKIP", "parity-cnn-float32": "SKIP",
                                "preset-seed000": "SKIP", "preset-seed001": "SKIP", "bench": "SKIP"}
    assert "CuPy is not installed" in report or "no NVIDIA GPU found" in report
    assert report.rstrip().endswith("verdict: FAIL (0 PASS, 1 FAIL, 8 SKIP)")


# --- ci/gpu_report.py with a fake runner: failures, hangs, nothing collected, the presets ---

class FakeRunner:
    """Answers each command as the real tool would, at once; ``answers`` maps a command fragment
    to (exit status or None for a hang, stdout) and wins over the defaults."""

    def __init__(self, answers=None, accuracies=None):
        self.answers = answers or {}
        self.accuracies = accuracies or {"numpy": 0.9631, "cupy": 0.9632}
        self.commands = []
        self.envs = []

    def __call__(self, command, timeout, env):
        self.commands.append(command)
        self.envs.append(env)
        text = " ".join(command)
        for fragment, (status, stdout) in self.answers.items():
            if fragment in text:
                return gpu_report.Ran(command, status, stdout, "", 0.5, timeout)
        if "--probe" in command:
            found = {"backend": "cupy", "device": "cuda:0", "gpus": ["NVIDIA H200"], "cupy": "14.0.1",
                     "cuda_driver": "12.9", "cuda_runtime": "12.9", "xpnet": "0.1.0", "numpy": "2.4.6"}
            return gpu_report.Ran(command, 0, json.dumps(found) + "\n", "", 0.5, timeout)
        if command[1:3] == ["-m", "pytest"]:
            return gpu_report.Ran(command, 0, "57 passed, 549 deselected in 12.1s\n", "", 0.5, timeout)
        if command[1:3] == ["-m", "xpnet.train"]:
            metrics = Path(command[command.index("--metrics") + 1])
            backend = command[command.index("--backend") + 1]
            metrics.write_text(json.dumps({"epoch": 1}) + "\n" + json.dumps(
                {"test_accuracy": self.accuracies[backend], "train_seconds": 3.0}) + "\n")
            return gpu_report.Ran(command, 0, "", "", 0.5, timeout)
        if command[1:3] == ["-m", "xpnet.bench"]:
            return gpu_report.Ran(command, 0, "# xpnet bench\n\n| 784-128-10 | 8192 | xpnet/cupy | 0.01 |\n"
                                  "| conv32k5-pool-conv64k5-pool-fc256 | 128 | xpnet/cupy | 0.2 |\n"
                                  "| conv32k5-pool-conv64k5-pool-fc256 | 128 | torch-conv2d | 0.1 |\n", "", 0.5,
                                  timeout)
        if command[1] == "ci/parity.py":
            return gpu_report.Ran(command, 0, "parity: PASS (cupy@cuda agrees with numpy)\n", "", 0.5, timeout)
        return gpu_report.Ran(command, 0, "", "", 0.0, timeout)


def fake_report(tmp_path, runner, *extra):
    out = tmp_path / "gpu-report.md"
    status = gpu_report.main(["--out", str(out), *extra], runner=runner)
    return status, out.read_text()


def test_a_failing_check_fails_the_report(tmp_path, monkeypatch):
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    runner = FakeRunner({"--dtype float32": (1, "FAIL float32 cupy@cuda: W1 norm gap: 0.01 (allowed 0.002)\n"
                                                "parity: FAIL (1 check(s) missed)\n")})
    status, report = fake_report(tmp_path, runner)
    assert status == 1
    assert sections(report) == {"device": "PASS", "gpu-tests": "PASS", "parity-float64": "PASS",
                                "parity-float32": "FAIL", "parity-cnn-float64": "PASS", "parity-cnn-float32": "FAIL",
                                "preset-seed000": "SKIP", "preset-seed001": "SKIP", "bench": "PASS"}
    assert "exit status 1: parity: FAIL (1 check(s) missed)" in report
    assert "| GPUs (CuPy or PyTorch) | NVIDIA H200 |" in report and "| CuPy | 14.0.1 |" in report
    assert "Verdict: **FAIL** (5 PASS, 2 FAIL, 2 SKIP; failed: parity-float32, parity-cnn-float32)" in report
    assert "2 xpnet run(s) timed" in report  # the MLP's row and the CNN's; not the reference's
    bench = runner.commands[-1]
    assert ["--batch-sizes", "128,1024,8192"] == bench[-2:]
    assert bench[bench.index("--backends") + 1] == "numpy,cupy@cuda"  # the device under test, not cuda:0


def test_a_hung_check_fails_and_nothing_collected_skips(tmp_path, monkeypatch):
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    runner = FakeRunner({"xpnet.bench": (None, "[1/9] 784-128-10, batch 128\n"),
                         "-m pytest": (5, "no tests ran in 0.31s\n")})
    status, report = fake_report(tmp_path, runner, "--timeout", "7")
    assert status == 1
    assert sections(report)["bench"] == "FAIL" and "timed out after 7 s" in report
    assert sections(report)["gpu-tests"] == "SKIP" and "no gpu tests collected (pytest exit status 5)" in report


@pytest.mark.parametrize("cupy_accuracy, verdict", [(0.9628, "PASS"), (0.9600, "FAIL")])
def test_presets_agree_with_numpy_within_0_3_points(tmp_path, monkeypatch, cupy_accuracy, verdict):
    monkeypatch.setenv("XPNET_DATA_DIR", str(tmp_path))
    runner = FakeRunner(accuracies={"numpy": 0.9631, "cupy": cupy_accuracy})
    status, report = fake_report(tmp_path, runner, "--skip", "gpu-tests,parity,bench")
    assert sections(report)["preset-seed000"] == verdict and sections(report)["preset-seed001"] == verdict
    assert status == (0 if verdict == "PASS" else 1)
    trained = [c for c in runner.commands if c[1:3] == ["-m", "xpnet.train"]]
    assert [(c[c.index("--preset") + 1], c[c.index("--backend") + 1], c[c.index("--device") + 1]) for c in trained] \
        == [("seed000", "numpy", "cpu"), ("seed000", "cupy", "cuda"), ("seed001", "numpy", "cpu"),
            ("seed001", "cupy", "cuda")]
    assert all("--no-download" in c and "--epochs" not in c for c in trained)
    assert f"{abs(cupy_accuracy - 0.9631) * 100:.2f} points apart (allowed 0.3)" in report


@pytest.mark.parametrize("ran, verdict, fragment", [
    ((0, "3 passed, 1 skipped, 600 deselected in 2.0s\n"), "PASS", "3 passed"),
    ((0, "SKIPPED [5] tests/x.py:1: no usable CUDA GPU\n== 57 skipped, 549 deselected in 3.49s ==\n"), "SKIP",
     "all 57 gpu tests skipped: no usable CUDA GPU"),
    ((5, "no tests ran in 0.1s\n"), "SKIP", "exit status 5"),
    ((1, "== 1 failed, 56 passed in 9.0s ==\n"), "FAIL", "exit status 1: 1 failed, 56 passed"),
    ((None, ""), "FAIL", "timed out"),
])
def test_pytest_verdicts(ran, verdict, fragment):
    status, stdout = ran
    found = gpu_report.pytest_verdict(gpu_report.Ran(["pytest"], status, stdout, "", 1.0, 60))
    assert found[0] == verdict and fragment in found[1], found


def test_run_command_kills_a_hung_command_and_its_children():
    started = time.monotonic()
    ran = gpu_report.run_command([sys.executable, "-c", "import subprocess, sys, time; print('started', flush=True); "
                                  "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                                  "time.sleep(60)"], 1.0, dict(os.environ))
    assert ran.timed_out and ran.status() == "timed out after 1 s" and "started" in ran.stdout
    assert time.monotonic() - started < 20


def test_after_the_first_stop_signal_the_next_ones_are_ignored():
    """A second one (Ctrl-C reaches a report run by gpu.sh twice) could land before the report was
    marked interrupted and end the lane in a traceback."""
    handlers = gpu_report.catch_stop_signals()
    try:
        with pytest.raises(gpu_report.Stopped):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal arrives at once; this only bounds the wait
        assert {signal.getsignal(signum) for signum in gpu_report.STOP_SIGNALS} == {signal.SIG_IGN}
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie that nobody reaps does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_check_s_command_ends_when_the_lane_is_killed(tmp_path):
    """A lane killed by SIGKILL left its running check (in a session of its own) holding the GPU."""
    pid_file = tmp_path / "child.pid"
    child = (f"import os, time; open({str(pid_file) + '.partial'!r}, 'w').write(str(os.getpid())); "
             f"os.replace({str(pid_file) + '.partial'!r}, {str(pid_file)!r}); time.sleep(60)")
    lane = subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'ci')!r}); "
                             f"import gpu_report, os; gpu_report.run_command([sys.executable, '-c', {child!r}], 60, "
                             "dict(os.environ))"])
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    lane.kill()
    lane.wait()
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the check's command outlived the lane")


@pytest.mark.parametrize("argv, fragment", [
    (["--skip", "bogus"], "unknown check 'bogus'"),
    (["--timeout", "0"], "finite positive number of seconds"),
    (["--timeout", "soon"], "finite positive number of seconds"),
    (["--timeout", "inf"], "finite positive number of seconds"),
    (["--timeout", "1e400"], "finite positive number of seconds"),
    (["--timeout", "nan"], "finite positive number of seconds"),
    (["--timeout", "1e300"], "at most 1000000"),  # finite, but a time limit Python's poll() overflows on
    (["--out", ""], "--out"),
    (["--out", "."], "--out"),
    (["--out", ".."], "--out"),
    (["--out", "reports/"], "--out"),
])
def test_bad_usage_exits_2_with_one_error_line(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = FakeRunner()
    with pytest.raises(SystemExit) as stop:
        gpu_report.main(argv, runner=runner)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line and fragment in line]) == 1, err
    assert runner.commands == [] and list(tmp_path.iterdir()) == []
    assert not list(tmp_path.parent.glob("*.partial"))


def test_an_unwritable_report_is_one_error_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    status = gpu_report.main(["--out", str(blocker / "gpu-report.md")], runner=FakeRunner())
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: cannot write the report") and len(err.splitlines()) == 1


# --- What the hostile tester found ---

def make_special(kind: str, path: Path) -> None:
    """A FIFO, a symbolic link to a file, or a folder at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        target = path.with_name("target.txt")
        target.write_text("keep me\n")
        path.symlink_to(target)
    else:
        path.mkdir()


def still_special(kind: str, path: Path) -> bool:
    mode = os.lstat(path).st_mode
    return {"fifo": stat.S_ISFIFO, "symlink": stat.S_ISLNK, "directory": stat.S_ISDIR}[kind](mode)


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
@pytest.mark.parametrize("which", ["r.md", "r.bench.json", "r.md.partial", "figures.json"])
def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path, capsys, kind, which):
    """The old script renamed a file over whatever stood at the report's paths: a FIFO, a link,
    a device (as root, --out /dev/null replaced /dev/null) became a plain file."""
    path = tmp_path / which
    make_special(kind, path)
    before = sorted(p.name for p in tmp_path.iterdir())
    runner = FakeRunner()
    status = gpu_report.main(["--out", str(tmp_path / "r.md"), "--skip", ",".join(gpu_report.CHECKS)]
                             + (["--bench-json", str(path)] if which == "figures.json" else []), runner=runner)
    err = capsys.readouterr().err
    assert status == 2 and runner.commands == []
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and str(path) in err, err
    assert still_special(kind, path) and sorted(p.name for p in tmp_path.iterdir()) == before


def test_relative_paths_are_taken_from_the_caller_s_folder(tmp_path, monkeypatch):
    """The children run in the repository, where the old script's relative paths led them astray."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XPNET_DATA_DIR", "data")
    runner = FakeRunner()
    status = gpu_report.main(["--out", "reports/r.md", "--bench-json", "figures.json"], runner=runner)
    assert status == 0 and (tmp_path / "reports" / "r.md").is_file()
    assert {env["XPNET_DATA_DIR"] for env in runner.envs} == {str(tmp_path / "data")}
    bench = next(command for command in runner.commands if "xpnet.bench" in command)
    assert bench[bench.index("--json") + 1] == str(tmp_path / "figures.json")
    metrics = [Path(command[command.index("--metrics") + 1]) for command in runner.commands if "--metrics" in command]
    assert len(metrics) == 4 and all(path.is_absolute() and tmp_path in path.parents for path in metrics)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]


def test_nothing_checked_is_no_pass(tmp_path, capsys):
    """The old script said PASS, exit 0, with every check skipped."""
    status, report = fake_report(tmp_path, FakeRunner(), "--skip", ",".join(gpu_report.CHECKS))
    assert status == 1
    assert "Verdict: **NOTHING CHECKED** (0 PASS, 0 FAIL, 9 SKIP)" in report
    assert capsys.readouterr().out.rstrip().endswith("verdict: NOTHING CHECKED")


def test_a_full_disk_is_one_line_and_leaves_no_partial_report(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    real_write_text = Path.write_text
    writes = []

    def filling_up(path, text, *args, **kwargs):
        writes.append(path)
        if len(writes) <= 2:  # the first report and the one after the device check
            return real_write_text(path, text, *args, **kwargs)
        real_write_text(path, text[:100], *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(gpu_report.Path, "write_text", filling_up)
    out = tmp_path / "r.md"
    status = gpu_report.main(["--out", str(out)], runner=FakeRunner())
    err = capsys.readouterr().err
    assert status == 1
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot write the report {out}: No space left on "
                                                     "device"), err
    assert err.endswith(errors[0] + "\n") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]
    assert "| device | PASS |" in out.read_text()


# A gpu_report run whose device check never finishes: the child says its pid, then sleeps.
SLOW_LANE = """
import os, sys
sys.path.insert(0, {tests!r})
from ci_scripts import load_script
gpu_report = load_script("gpu_report")
SLEEPER = ("import os, sys, time; pid = sys.argv[1]; open(pid + '.tmp', 'w').write(str(os.getpid())); "
           "os.replace(pid + '.tmp', pid); time.sleep(60)")

def runner(command, timeout, env):
    if "--probe" in command:
        return gpu_report.run_command([sys.executable, "-c", SLEEPER, {pid!r}], timeout, env)
    return gpu_report.Ran(command, 0, "", "", 0.0, timeout)

sys.exit(gpu_report.main(["--out", {out!r}], runner=runner))
"""


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` has ended (a zombie counts as ended) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as file:
                if file.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        except OSError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("signum", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_stops_the_running_check_and_says_so_in_the_report(tmp_path, signum):
    """The old script died of SIGTERM at once: its child (in a session of its own) ran on, and the
    report said only that checks were still to run."""
    signum = getattr(signal, signum)
    pid_file, out = tmp_path / "child.pid", tmp_path / "r.md"
    script = tmp_path / "lane.py"
    script.write_text(SLOW_LANE.format(tests=str(ROOT / "tests"), pid=str(pid_file), out=str(out)))
    lane = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = None
    try:
        deadline = time.monotonic() + 30
        while child is None:
            assert lane.poll() is None and time.monotonic() < deadline, lane.communicate()
            child = int(pid_file.read_text()) if pid_file.exists() else None
            time.sleep(0.05)
        lane.send_signal(signum)
        stdout, stderr = lane.communicate(timeout=30)
        assert lane.returncode == 128 + signum, stderr
        assert gone(child)
        name = signal.Signals(signum).name
        assert stderr.strip().splitlines()[-1] == f"interrupted by {name}; the checks run so far are in {out}", stderr
        assert "Traceback" not in stderr
        report = out.read_text()
        assert f"Verdict: **INTERRUPTED by {name} during device**" in report
        assert sorted(p.name for p in tmp_path.iterdir()) == ["child.pid", "lane.py", "r.md"]
    finally:
        lane.kill()
        lane.wait()
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
