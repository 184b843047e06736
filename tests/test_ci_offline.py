"""The GPU lane without a package registry: ci/gpu.sh --prepare, --wheelhouse, --no-install and --smoke.

Nothing is downloaded or installed: a fake python stands in for the venv's (and for the python
that prepares the wheelhouse), answers gpu.sh's questions (is a module there, which Python is
it) from the environment, and records every command; a fake nvidia-smi names the driver's CUDA.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci_scripts import ROOT, load_script

gpu_report = load_script("gpu_report")

FAKE_PYTHON = f"""#!{sys.executable}
import json, os, signal, sys, time
args = sys.argv[1:]


def record(**entry):
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\\n")


record(argv=args, pythonpath=os.environ.get("PYTHONPATH", ""), pid=os.getpid(),
       sigint_ignored=signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
if os.environ.get("FAKE_SCRIPT_WAITS") and args[:1] != ["-c"]:  # a report running until it is signalled
    def stop(signum, frame):
        record(stopped=signal.Signals(signum).name)
        sys.exit(128 + signum)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    record(ready=True)
    time.sleep(30)
if args[:1] == ["-c"]:  # gpu.sh asks whether a module is there (-c CODE NAME), or which Python this is
    if len(args) > 2:
        sys.exit(0 if args[2] in os.environ.get("FAKE_MODULES", "").split() else 1)
    print(os.environ.get("FAKE_PY_VERSION", "3.12"))
elif args[:2] == ["-m", "pip"]:
    sys.exit(int(os.environ.get("FAKE_PIP_STATUS", "0")))
else:
    sys.exit(int(os.environ.get("FAKE_SCRIPT_STATUS", "0")))
"""

BANNER = "| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: {cuda}     |"
DEPENDENCIES = "numpy array_api_compat tqdm threadpoolctl"


def gpu_sh(tmp_path: Path, *args: str, cuda: str | None = "12.4", script: str = "ci/gpu.sh", cwd: Path = ROOT,
           **env: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run ``bash SCRIPT ARGS`` with the fake python as the venv's and as XPNET_GPU_PYTHON, and a fake
    nvidia-smi showing CUDA ``cuda`` (None: no driver); the run and the commands the fake python got."""
    bin_dir, venv_bin = tmp_path / "bin", tmp_path / "venv" / "bin"
    for folder in (bin_dir, venv_bin):
        folder.mkdir(parents=True, exist_ok=True)
    (bin_dir / "python-fake").write_text(FAKE_PYTHON)
    (venv_bin / "python").write_text(FAKE_PYTHON)
    smi = "echo 'NVIDIA-SMI has failed' >&2; exit 9" if cuda is None else f"echo '{BANNER.format(cuda=cuda)}'"
    (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\n{smi}\n")
    for path in (bin_dir / "python-fake", venv_bin / "python", bin_dir / "nvidia-smi"):
        path.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    log.unlink(missing_ok=True)
    environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log),
               "XPNET_GPU_VENV": str(tmp_path / "venv"), "XPNET_GPU_PYTHON": str(bin_dir / "python-fake"), **env}
    for name in ("XPNET_CUDA_EXTRA", "XPNET_GPU_JAX", "XPNET_GPU_REPORT", "XPNET_GPU_JAX_REPORT", "PYTHONPATH"):
        if name not in env:
            environ.pop(name, None)
    done = subprocess.run(["bash", str(ROOT / script), *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


def commands(calls: list[dict]) -> list[list[str]]:
    """The pip runs and scripts the fake python got, leaving out gpu.sh's questions (-c)."""
    return [call["argv"] for call in calls if call["argv"][:1] != ["-c"]]


def wheelhouse(tmp_path: Path, extras: str, python: str = "3.12") -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "xpnet-wheelhouse.txt").write_text(f"# made by hand\npython: {python}\nplatforms: as the preparing "
                                                 f"machine\nextras: {extras}\nprepared: now\n")
    return folder


# --- JAX on CUDA 13 drivers ---

def test_a_cuda_13_driver_runs_the_jax_lane_with_its_own_extra(tmp_path):
    """The old lane skipped JAX on a 13.x driver ("needs a CUDA 12 driver")."""
    done, calls = gpu_sh(tmp_path, "--quick", cuda="13.0")
    assert done.returncode == 0, done.stderr
    assert commands(calls) == [
        ["-m", "pip", "install", "-e", ".[cuda13,test]"],
        ["ci/gpu_report.py", "--out", "gpu-report.md", "--quick"],
        ["-m", "pip", "install", "-e", ".[jax-cuda13]"],
        ["ci/gpu_report.py", "--backend", "jax", "--device", "cuda", "--out", "gpu-report-jax.md", "--quick"]]
    assert "skipped" not in done.stdout


def test_the_jax_cuda13_extra_exists_and_the_hints_name_it():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["jax-cuda13"] == ["jax[cuda13]>=0.7.2"]  # jax-cuda13-plugin's first release on the index
    from xpnet import backend

    assert "'.[jax-cuda13]'" in backend._INSTALL_HINT["jax"]

    class NoCudaJax:
        @staticmethod
        def devices(kind):
            raise RuntimeError("Unknown backend cuda")

    with pytest.raises(backend.XpnetError) as found:
        backend._jax_device(NoCudaJax, "cuda")
    assert "'.[jax-cuda12]'" in str(found.value) and "'.[jax-cuda13]'" in str(found.value)


# --- --prepare: the wheels, on a machine with a registry ---

def test_prepare_downloads_both_cuda_majors_for_the_target_and_writes_the_manifest(tmp_path):
    done, calls = gpu_sh(tmp_path, "--prepare", "wheels", "--python-version", "3.12", "--platform",
                         "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64", cuda=None, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "wheels"
    target = ["-m", "pip", "download", "--dest", str(folder), "--only-binary=:all:", "--python-version", "3.12",
              "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64"]
    assert commands(calls) == [target + [".[cuda12,jax-cuda12,test]", "setuptools>=64"],
                               target + [".[cuda13,jax-cuda13,test]", "setuptools>=64"]]
    assert "several GB" in done.stdout and f"bash ci/gpu.sh --wheelhouse {folder}" in done.stdout
    manifest = (folder / "xpnet-wheelhouse.txt").read_text()
    assert "\npython: 3.12\nplatforms: manylinux_2_28_x86_64 manylinux2014_x86_64\n" in manifest
    assert "\nextras: cuda12 jax-cuda12 test cuda13 jax-cuda13\n" in manifest
    assert sorted(p.name for p in folder.iterdir()) == ["xpnet-wheelhouse.txt"]


def test_prepare_adds_a_cuda_major_to_the_manifest_and_reports_a_failed_download(tmp_path):
    """Preparing CUDA 13 after CUDA 12 into one folder keeps both; a failed download is one line."""
    done, calls = gpu_sh(tmp_path, "--prepare", str(tmp_path / "wheels"), "--cuda", "cuda12", cuda=None,
                         FAKE_PY_VERSION="3.11")
    assert done.returncode == 0, done.stderr
    assert commands(calls)[0][-2:] == [".[cuda12,jax-cuda12,test]", "setuptools>=64"]
    assert "--python-version" not in commands(calls)[0]  # pip's own Python, named in the manifest
    done, calls = gpu_sh(tmp_path, "--prepare", str(tmp_path / "wheels"), "--cuda", "cuda13", cuda=None,
                         FAKE_PY_VERSION="3.11", FAKE_PIP_STATUS="1")
    assert done.returncode == 1
    assert done.stderr == (f"error: pip could not download .[cuda13,jax-cuda13,test] (its output is above); "
                           f"{tmp_path / 'wheels' / 'xpnet-wheelhouse.txt'} lists what it holds: cuda12 jax-cuda12 "
                           "test\n")
    done, calls = gpu_sh(tmp_path, "--prepare", str(tmp_path / "wheels"), "--cuda", "none", cuda=None,
                         FAKE_PY_VERSION="3.11")
    assert commands(calls)[0][-2:] == [".[test]", "setuptools>=64"]
    assert "\npython: 3.11\n" in (tmp_path / "wheels" / "xpnet-wheelhouse.txt").read_text()


def test_prepare_builds_xpnet_with_what_pyproject_asks_for():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert f'BUILD_REQUIREMENT="{requires[0]}"' in (ROOT / "ci" / "gpu.sh").read_text() and len(requires) == 1


@pytest.mark.parametrize("args, fragment", [
    (["--prepare"], "--prepare needs a value"),
    (["--wheelhouse", ""], "--wheelhouse needs a value"),
    (["--wheelhouse", "no-such-folder"], "the wheelhouse no-such-folder is not a folder; make it with ci/gpu.sh "
                                         "--prepare no-such-folder"),
    (["--wheelhouse", ".", "--no-install"], "--wheelhouse and --no-install cannot be combined"),
    (["--prepare", "w", "--wheelhouse", "."], "--prepare and --wheelhouse cannot be combined"),
    (["--cuda", "cuda12"], "--cuda goes with --prepare DIR only"),
    (["--no-install", "--platform", "x"], "--platform goes with --prepare DIR only"),
    (["--prepare", "w", "--cuda", "cuda11"], "--cuda takes cuda12, cuda13, cuda12,cuda13 or none"),
    (["--prepare", "w", "--python-version", "312"], "--python-version takes the target's Python as 3.N"),
    (["--prepare", "w", "--quick"], "--prepare takes --cuda, --python-version and --platform only, not '--quick'"),
    (["--smoke", "--prepare", "w"], "--prepare and --smoke cannot be combined"),
    (["--no-install", "--no-install"], "--no-install is given twice"),  # "cannot be combined" with itself
    (["--quick", "--wheelhouse", "w"], "--wheelhouse is ci/gpu.sh's own flag and goes before '--quick'"),
    (["--no-install"], "no-such-python not found; set XPNET_GPU_PYTHON"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, args, fragment):
    done, calls = gpu_sh(tmp_path, *args, cwd=tmp_path,
                         **({"XPNET_GPU_PYTHON": "no-such-python"} if args == ["--no-install"] else {}))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and fragment in done.stderr and len(done.stderr.splitlines()) == 1
    assert calls == [] and not (tmp_path / "w").exists()


# --- --wheelhouse: on the GPU machine, offline ---

def test_wheelhouse_installs_from_the_folder_alone_and_runs_both_lanes(tmp_path):
    folder = wheelhouse(tmp_path, "cuda12 jax-cuda12 test cuda13 jax-cuda13")
    done, calls = gpu_sh(tmp_path, "--wheelhouse", "wheels", "--skip", "bench", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    offline = ["-m", "pip", "install", "--no-index", "--find-links", str(folder), "-e"]
    assert commands(calls) == [
        offline + [".[cuda12,test]"],
        ["ci/gpu_report.py", "--out", "gpu-report.md", "--skip", "bench"],
        offline + [".[jax-cuda12]"],
        ["ci/gpu_report.py", "--backend", "jax", "--device", "cuda", "--out", "gpu-report-jax.md", "--skip", "bench"]]
    reports = [call for call in calls if call["argv"][0] == "ci/gpu_report.py"]
    assert all(call["pythonpath"].split(os.pathsep)[0] == str(ROOT) for call in reports)
    assert done.stderr == ""


def test_a_manifest_with_windows_line_ends_is_read_as_written(tmp_path):
    """'python: 3.12\\r' read as another Python ("holds wheels for Python 3.12 and ... is Python 3.12"),
    and the last extra listed as missing."""
    folder = wheelhouse(tmp_path, "cuda12 jax-cuda12 test")
    manifest = folder / "xpnet-wheelhouse.txt"
    manifest.write_bytes(manifest.read_bytes().replace(b"\n", b"\r\n"))
    done, calls = gpu_sh(tmp_path, "--wheelhouse", str(folder), XPNET_GPU_JAX="0")
    assert done.returncode == 0 and done.stderr == ""
    assert commands(calls)[0][-1] == ".[cuda12,test]"


def test_a_package_the_wheelhouse_lacks_is_one_line_and_the_reports_still_run(tmp_path):
    """The old lane had no offline mode: pip failed under set -e and no report was written."""
    folder = wheelhouse(tmp_path, "test")
    done, calls = gpu_sh(tmp_path, "--wheelhouse", str(folder), cuda="13.0", FAKE_SCRIPT_STATUS="1")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"cupy is not installed and the wheelhouse {folder} has no cupy-cuda13x wheel; run ci/gpu.sh --prepare "
        f"{folder} --cuda cuda13 on a machine with a registry",
        f"jax_cuda13_plugin is not installed and the wheelhouse {folder} has no jax-cuda13-plugin wheel; run "
        f"ci/gpu.sh --prepare {folder} --cuda cuda13 on a machine with a registry"]
    assert [argv[-1] for argv in commands(calls)] == [".[test]", "gpu-report.md", "gpu-report-jax.md"]


def test_what_the_venv_has_already_needs_no_wheel_and_a_python_mismatch_is_said(tmp_path):
    folder = wheelhouse(tmp_path, "test cuda12", python="3.12")
    done, calls = gpu_sh(tmp_path, "--wheelhouse", str(folder), FAKE_PY_VERSION="3.10",
                         FAKE_MODULES="jax_cuda12_plugin", FAKE_PIP_STATUS="1")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"the wheelhouse {folder} holds wheels for Python 3.12 and {tmp_path}/venv/bin/python is Python 3.10; run "
        f"ci/gpu.sh --prepare {folder} --python-version 3.10 on a machine with a registry",
        f"error: pip could not install .[cuda12,test] from the wheelhouse {folder} (its output is above); the "
        "report covers what could run",
        f"error: pip could not install .[jax-cuda12] from the wheelhouse {folder} (its output is above); the "
        "report covers what could run"]
    assert [argv[-1] for argv in commands(calls)] == [".[cuda12,test]", "gpu-report.md", ".[jax-cuda12]",
                                                     "gpu-report-jax.md"]


def test_a_failed_install_from_the_registry_still_writes_the_report(tmp_path):
    """The old lane's pip install ended it under set -e, before any report."""
    done, calls = gpu_sh(tmp_path, XPNET_GPU_JAX="0", FAKE_PIP_STATUS="1")
    assert done.returncode == 1
    assert done.stderr == ("error: pip install -e .[cuda12,test] failed (its output is above); the report covers "
                           "what could run\n")
    assert commands(calls) == [["-m", "pip", "install", "-e", ".[cuda12,test]"],
                               ["ci/gpu_report.py", "--out", "gpu-report.md"]]


# --- --no-install: the packages are there already ---

def test_no_install_runs_the_checkout_with_the_given_python_and_names_what_is_missing(tmp_path):
    done, calls = gpu_sh(tmp_path, "--no-install", "--quick", cuda=None, PYTHONPATH="/elsewhere",
                         FAKE_MODULES=f"{DEPENDENCIES} pytest")
    assert done.returncode == 0, done.stderr
    assert commands(calls) == [
        ["ci/gpu_report.py", "--out", "gpu-report.md", "--quick"],
        ["ci/gpu_report.py", "--backend", "jax", "--device", "cuda", "--out", "gpu-report-jax.md", "--quick"]]
    assert {call["pythonpath"] for call in calls if call["argv"][0] == "ci/gpu_report.py"} == {
        f"{ROOT}{os.pathsep}/elsewhere"}
    python = tmp_path / "bin" / "python-fake"
    assert done.stderr.splitlines() == [
        f"{module} is not installed for {python}, and --no-install installs nothing; install it there, or run "
        "ci/gpu.sh --wheelhouse DIR" for module in ("cupy", "jax")]


# --- --smoke: CuPy and JAX in one go, then ci/gpu_smoke.py ---

def test_smoke_installs_cupy_and_jax_at_once_then_runs_the_smoke_script(tmp_path):
    folder = wheelhouse(tmp_path, "cuda12 jax-cuda12 test")
    done, calls = gpu_sh(tmp_path, "--smoke", "--wheelhouse", str(folder), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert commands(calls) == [
        ["-m", "pip", "install", "--no-index", "--find-links", str(folder), "-e", ".[cuda12,jax-cuda12,test]"],
        ["ci/gpu_smoke.py", "--out", "gpu-smoke.md", "--dry-run"]]


def test_gpu_smoke_sh_is_gpu_sh_smoke_and_runs_without_a_driver(tmp_path):
    done, calls = gpu_sh(tmp_path, "--no-install", "--dry-run", script="ci/gpu_smoke.sh", cuda=None,
                         FAKE_MODULES=f"{DEPENDENCIES} pytest cupy jax", FAKE_SCRIPT_STATUS="1")
    assert done.returncode == 1 and done.stderr == ""
    assert commands(calls) == [["ci/gpu_smoke.py", "--out", "gpu-smoke.md", "--dry-run"]]
    done, calls = gpu_sh(tmp_path, "--smoke", cuda=None)
    assert done.returncode == 0
    assert "nvidia-smi failed" in done.stderr and "the smoke check runs what it can without a GPU" in done.stderr
    assert commands(calls) == [["-m", "pip", "install", "-e", ".[test]"], ["ci/gpu_smoke.py", "--out", "gpu-smoke.md"]]


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_to_gpu_sh_alone_reaches_the_report_and_ends_the_lane(tmp_path, signum):
    """bash died of it at once and left the report running on the GPU, never marked interrupted
    (SIGTERM, SIGHUP), or ignored it until the report had finished (SIGINT)."""
    signum = getattr(signal, signum)
    gpu_sh(tmp_path, "--no-install")  # makes the fakes
    log = tmp_path / "calls.jsonl"
    log.unlink()
    environ = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log),
               "XPNET_GPU_PYTHON": str(tmp_path / "bin" / "python-fake"), "FAKE_SCRIPT_WAITS": "1",
               "FAKE_MODULES": f"{DEPENDENCIES} pytest cupy jax"}
    lane = subprocess.Popen(["bash", str(ROOT / "ci" / "gpu_smoke.sh"), "--no-install"], env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and '"ready"' in log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        lane.send_signal(signum)
        lane.communicate(timeout=30)
    finally:
        lane.kill()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    report = next(entry for entry in entries if entry.get("argv", [""])[0] == "ci/gpu_smoke.py")
    assert lane.returncode == 128 + signum
    assert {"stopped": signal.Signals(signum).name} in entries
    assert not report["sigint_ignored"]  # what the report's own checks would inherit
    with pytest.raises(ProcessLookupError):
        os.kill(report["pid"], 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_the_report_is_marked_interrupted_when_gpu_sh_is_killed(tmp_path):
    """SIGKILL cannot be passed on: the report ran on alone, unmarked, after gpu.sh was gone."""
    report = tmp_path / "report.md"
    environ = {**os.environ, "XPNET_GPU_PYTHON": sys.executable, "XPNET_GPU_JAX": "0"}
    lane = subprocess.Popen(["bash", str(ROOT / "ci" / "gpu.sh"), "--no-install", "--backend", "array-api-strict",
                             "--device", "device1", "--skip", "gpu-tests,presets,bench", "--out", str(report)],
                            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (report.exists() and "| device | PASS" in report.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    lane.kill()
    lane.wait()
    while "INTERRUPTED by SIGTERM" not in report.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "INTERRUPTED by SIGTERM during parity-" in report.read_text()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.md"]


# --- ci/gpu_report.py: a missing module is one line ---

def test_the_probe_names_a_missing_dependency_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "numpy", None)  # what an interpreter without NumPy finds
    status = gpu_report.main(["--probe", "--backend", "numpy", "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert err == (f"error: numpy is not installed for {sys.executable}; install xpnet with its dependencies "
                   "(pip install -e .), or run bash ci/gpu.sh, which does\n")


def test_without_pytest_the_gpu_tests_fail_in_one_line(tmp_path, monkeypatch):
    from test_ci_gpu_lane import FakeRunner, sections

    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    monkeypatch.setitem(sys.modules, "pytest", None)
    runner = FakeRunner()
    out = tmp_path / "r.md"
    status = gpu_report.main(["--out", str(out), "--skip", "parity,bench"], runner=runner)
    report = out.read_text()
    assert status == 1 and sections(report)["gpu-tests"] == "FAIL" and sections(report)["device"] == "PASS"
    assert f"| gpu-tests | FAIL | 0.0 | pytest is not installed for {sys.executable}: the gpu tests need" in report
    assert not [command for command in runner.commands if "pytest" in command]


def test_a_wheelhouse_without_a_manifest_is_tried_whole(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    done, calls = gpu_sh(tmp_path, "--wheelhouse", str(folder), XPNET_GPU_JAX="0")
    assert done.returncode == 0
    assert done.stderr == (f"the wheelhouse {folder} has no xpnet-wheelhouse.txt (ci/gpu.sh --prepare writes one): "
                           "trying every extra\n")
    assert commands(calls)[0][-1] == ".[cuda12,test]"


def test_a_manifest_that_lists_nothing_offers_nothing(tmp_path):
    """Every download of --prepare failed: the manifest lists no extras, and nothing is tried."""
    folder = wheelhouse(tmp_path, "")
    done, calls = gpu_sh(tmp_path, "--wheelhouse", str(folder), XPNET_GPU_JAX="0")
    assert done.stderr.splitlines() == [
        f"cupy is not installed and the wheelhouse {folder} has no cupy-cuda12x wheel; run ci/gpu.sh --prepare "
        f"{folder} --cuda cuda12 on a machine with a registry",
        f"pytest is not installed and the wheelhouse {folder} has no test extra (pytest); run ci/gpu.sh --prepare "
        f"{folder} on a machine with a registry"]
    assert commands(calls) == [["ci/gpu_report.py", "--out", "gpu-report.md"]]
