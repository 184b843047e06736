"""ci/gpu_smoke.py, the five-minute GPU smoke check: its CPU dry run end to end, and with a fake
runner standing in for a GPU machine, its verdicts when a check fails, hangs or lacks its package."""

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ci_scripts import ROOT, load_script

gpu_smoke = load_script("gpu_smoke")
Ran = gpu_smoke.gpu_report.Ran


def verdicts(report: str) -> dict[str, str]:
    """The verdict of each row of the report's Checks table."""
    return dict(re.findall(r"^\| ([\w-]+) \| (PASS|FAIL|SKIP) \|", report, re.MULTILINE))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("array_api_strict") is None,
                    reason="the dry run needs jax and array-api-strict")
def test_the_dry_run_passes_end_to_end_with_every_section(tmp_path, capsys):
    out = tmp_path / "smoke.md"
    status = gpu_smoke.main(["--dry-run", "--out", str(out)])
    report = out.read_text()
    assert status == 0, report
    assert capsys.readouterr().out.rstrip().endswith("verdict: PASS")
    assert "**DRY RUN: no GPU here (--dry-run asked for it): array-api-strict's device1 stands in for CuPy" in report
    assert verdicts(report) == dict.fromkeys(gpu_smoke.CHECKS, "PASS")
    for name in gpu_smoke.CHECKS:
        assert f"\n## {name}: PASS\n" in report, name
    assert "parity: PASS (jax@cpu agrees with numpy in float64 and float32)" in report
    assert "--arch conv4k3,pool,fc16 --shift 2" in report
    assert "1 epoch + resume = 2 straight epochs, bit for bit" in report
    assert "two processes, the same parameters bit for bit" in report
    assert "| 784-128-10 | 8192 | xpnet/jax@cpu compiled |" in report
    assert report.rstrip().endswith(f"verdict: PASS ({len(gpu_smoke.CHECKS)} PASS, 0 FAIL, 0 SKIP)")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["smoke.md"]  # the work folder is gone


def test_without_a_gpu_the_smoke_is_a_dry_run_that_says_why(tmp_path):
    runner = FakeRunner()
    status, report = fake_smoke(tmp_path, runner, gpu_problem=lambda: "no NVIDIA GPU found (no NVIDIA driver)")
    assert status == 0, report
    assert "**DRY RUN: no GPU here (no NVIDIA GPU found (no NVIDIA driver)): " in report
    assert "the figures are not GPU figures" in report
    entries = {c[c.index("--backends") + 1] for c in runner.commands if "--backends" in c}
    assert entries == {"numpy,array-api-strict@device1", "numpy,jax@cpu",
                       "numpy,array-api-strict@device1,jax@cpu"}


def test_no_driver_means_a_dry_run_here():
    from xpnet.backend import cuda_problem

    if cuda_problem() is None or Path("/proc/driver/nvidia/version").exists():
        pytest.skip("this machine has an NVIDIA driver")
    assert gpu_smoke.no_gpu_reason() == cuda_problem().split(";")[0]  # the cause, without its advice


# --- With a fake runner: a GPU machine, each command answered at once ---

class FakeRunner:
    """Answers each command as the real one would; ``answers`` maps a command fragment to (exit status
    or None for a hang, stdout, stderr) and wins; the saved models named in ``differ`` differ from
    the others; with ``resumes`` False a second training process starts over."""

    def __init__(self, answers=None, differ=(), resumes=True):
        self.answers = answers or {}
        self.differ = differ
        self.resumes = resumes
        self.commands, self.envs, self.reports = [], [], []
        self.out = None

    def __call__(self, command, timeout, env):
        self.commands.append(command)
        self.envs.append(env)
        self.reports.append(self.out.read_text() if self.out else "")
        text = " ".join(command)
        for fragment, (status, stdout, stderr) in self.answers.items():
            if fragment in text:
                return Ran(command, status, stdout, stderr, 0.5, timeout)
        if "--probe" in command:
            backend = command[command.index("--backend") + 1]
            found = {"backend": backend, "device": "cuda:0", "gpus": ["NVIDIA H200"], "libraries": f"{backend} 1.0"}
            return Ran(command, 0, json.dumps(found) + "\n", "", 0.5, timeout)
        if command[1] == "ci/parity.py":
            entry = command[command.index("--backends") + 1].split(",")[1]
            return Ran(command, 0, f"parity: PASS ({entry} agrees with numpy in float64 and float32)\n", "", 1, timeout)
        if command[1:3] == ["-m", "xpnet.train"]:
            return self.train(command, timeout)
        if "--memory" in command:
            return Ran(command, 0, json.dumps({"bytes": 3 * 2 ** 20, "how": "the pool"}) + "\n", "", 1, timeout)
        if command[1:3] == ["-m", "xpnet.bench"]:
            return Ran(command, 0, "# xpnet bench\n\n| 784-128-10 | 8192 | xpnet/cupy@cuda | 0.01 |\n", "", 1, timeout)
        raise AssertionError(f"unexpected command {text}")

    def train(self, command, timeout):
        """Save a small model (a different one when named in ``differ``); say so when resuming."""
        save = Path(command[command.index("--save") + 1])
        weight = 1.5 if save.name in self.differ else 0.5
        np.savez(save, **{"params.0.W": np.full((3, 2), weight, np.float32), "params.0.b": np.zeros(2, np.float32),
                          "__xpnet_metadata__": np.zeros(3, np.uint8)})
        resumed = self.resumes and "--checkpoint-dir" in command and command[command.index("--epochs") + 1] == "2"
        return Ran(command, 0, "resuming from epoch-0001.npz: epoch 1 of 2 done\n" if resumed else "", "", 1, timeout)


def fake_smoke(tmp_path, runner, *argv, gpu_problem=lambda: None):
    out = tmp_path / "gpu-smoke.md"
    runner.out = out
    status = gpu_smoke.main(["--out", str(out), *argv], runner=runner, gpu_problem=gpu_problem)
    return status, out.read_text()


def test_on_a_gpu_every_check_runs_cupy_and_compiled_jax_on_cuda(tmp_path):
    runner = FakeRunner()
    status, report = fake_smoke(tmp_path, runner)
    assert status == 0, report
    assert "DRY RUN" not in report and "GPU: NVIDIA H200" in report
    assert verdicts(report) == dict.fromkeys(gpu_smoke.CHECKS, "PASS")
    parity = [c for c in runner.commands if c[1] == "ci/parity.py"]
    assert [c[c.index("--backends") + 1] for c in parity] == ["numpy,cupy@cuda"] * 2 + ["numpy,jax@cuda"] * 2
    assert ["--arch", "conv16k5,pool,conv32k5v,pool,fc128", "--shift", "2"] == parity[1][-4:]
    bench = next(c for c in runner.commands if c[1:3] == ["-m", "xpnet.bench"])
    assert bench[bench.index("--backends") + 1] == "numpy,cupy@cuda,jax@cuda"
    assert bench[bench.index("--batch-sizes") + 1] == "128,1024,8192"
    assert "3.0 MiB: the pool" in report
    assert all(env["JAX_DEFAULT_MATMUL_PRECISION"] == "highest" and env["CUPY_TF32"] == "0" for env in runner.envs)
    # the report is there before the first command and rewritten after each check
    assert runner.reports[0].count("| (to run) |") == len(gpu_smoke.CHECKS)
    assert "| device-cupy | PASS |" in runner.reports[1] and "INCOMPLETE" in runner.reports[1]


def test_a_failing_check_fails_the_smoke(tmp_path, capsys):
    runner = FakeRunner({"numpy,jax@cuda --epochs 1 --dataset synthetic:2000": (
        1, "FAIL float32 jax@cuda: epoch 1 train loss (relative): 0.01 (allowed 0.002)\nparity: FAIL (1 check(s) "
           "missed; jax@cuda against numpy, float64 and float32)\n", "")})
    status, report = fake_smoke(tmp_path, runner)
    assert status == 1
    assert verdicts(report) == {**dict.fromkeys(gpu_smoke.CHECKS, "PASS"), "parity-jax-cnn": "FAIL"}
    assert "first: float32 jax@cuda: epoch 1 train loss (relative)" in report
    assert "Verdict: **FAIL** (10 PASS, 1 FAIL, 0 SKIP; failed: parity-jax-cnn)" in report
    assert capsys.readouterr().out.rstrip().endswith("verdict: FAIL (parity-jax-cnn)")


def test_a_hung_check_fails_and_the_rest_still_runs(tmp_path):
    runner = FakeRunner({"--memory cupy@cuda": (None, "", "")})
    status, report = fake_smoke(tmp_path, runner)
    assert status == 1
    assert verdicts(report)["memory-cupy"] == "FAIL" and verdicts(report)["speed"] == "PASS"
    assert "timed out after 90 s" in report


def test_on_a_gpu_a_memory_figure_that_is_missing_fails(tmp_path):
    runner = FakeRunner({"--memory jax@cuda": (0, json.dumps({"bytes": None, "how": "no stats"}) + "\n", "")})
    status, report = fake_smoke(tmp_path, runner)
    assert status == 1 and verdicts(report)["memory-jax"] == "FAIL" and "| memory-jax | FAIL | 0.5 | n/a: no stats |" \
        in report


def test_a_missing_package_fails_its_device_check_and_skips_its_checks(tmp_path):
    missing = "error: jax is not installed; install it with: pip install -e '.[jax]'\n"
    runner = FakeRunner({"--probe --backend jax": (1, "", missing)})
    status, report = fake_smoke(tmp_path, runner)
    assert status == 1
    jax_checks = [name for name in gpu_smoke.CHECKS if "-jax" in name]
    assert verdicts(report) == {**dict.fromkeys(gpu_smoke.CHECKS, "PASS"), "device-jax": "FAIL",
                                **{name: "SKIP" for name in jax_checks if name != "device-jax"}}
    assert "| device-jax | FAIL | 0.5 | exit status 1: error: jax is not installed;" in report
    assert "| repeat-jax | SKIP | 0.0 | device-jax failed: exit status 1: error: jax is not installed" in report


@pytest.mark.parametrize("model, check, says", [
    ("second.npz", "repeat-jax", "(up to 1 apart): XLA autotuning"),
    ("straight.npz", "resume-cupy", "differ from the straight run's by up to 1"),
])
def test_parameters_that_differ_fail_with_the_gap(tmp_path, model, check, says):
    status, report = fake_smoke(tmp_path, FakeRunner(differ=[model]))
    assert status == 1 and verdicts(report)[check] == "FAIL" and says in report, report


def test_a_second_process_that_starts_over_is_no_resume(tmp_path):
    status, report = fake_smoke(tmp_path, FakeRunner(resumes=False))
    assert status == 1 and verdicts(report)["resume-cupy"] == "FAIL"
    assert "the second process did not resume" in report


def test_an_output_that_is_a_folder_is_refused(tmp_path, capsys):
    (tmp_path / "gpu-smoke.md").mkdir()
    status = gpu_smoke.main(["--out", str(tmp_path / "gpu-smoke.md")], runner=FakeRunner(), gpu_problem=lambda: None)
    assert status == 2 and "is a folder" in capsys.readouterr().err


def test_the_memory_child_reports_no_gpu_memory_on_a_cpu(capsys):
    pytest.importorskip("array_api_strict")
    assert gpu_smoke.main(["--memory", "array-api-strict@device1", "--dataset", "synthetic:200", "--arch",
                           "conv4k3,pool,fc16"]) == 0
    found = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert found["bytes"] is None and "reports no GPU memory" in found["how"]


def test_the_script_runs_from_any_folder_without_pythonpath(tmp_path):
    """gpu_report.py and xpnet are found beside the script, as on a GPU machine with nothing installed."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(ROOT / "ci" / "gpu_smoke.py"), "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--dry-run" in done.stdout, done.stderr


def test_a_signal_stops_the_smoke_and_the_report_says_so(tmp_path):
    runner = FakeRunner()
    answer = runner.__call__

    def stopped_at_parity(command, timeout, env):
        if command[1] == "ci/parity.py":
            raise gpu_smoke.Stopped(signal.SIGTERM)
        return answer(command, timeout, env)

    out = tmp_path / "gpu-smoke.md"
    status = gpu_smoke.main(["--out", str(out)], runner=stopped_at_parity, gpu_problem=lambda: None)
    report = out.read_text()
    assert status == 128 + signal.SIGTERM
    assert "Verdict: **INTERRUPTED by SIGTERM during parity-cupy-mlp** (2 PASS, 0 FAIL, 0 SKIP)" in report
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gpu-smoke.md"]


def test_the_whole_smoke_keeps_to_its_time_limit(tmp_path):
    class Slow(FakeRunner):
        def __call__(self, command, timeout, env):
            self.timeouts = getattr(self, "timeouts", []) + [timeout]
            time.sleep(0.6)
            return super().__call__(command, timeout, env)

    runner = Slow()
    status, report = fake_smoke(tmp_path, runner, "--timeout", "2")
    assert status == 1 and all(timeout <= 2 for timeout in runner.timeouts)
    assert verdicts(report)["speed"] == "FAIL" and "not started: the smoke's 2 s were spent" in report
