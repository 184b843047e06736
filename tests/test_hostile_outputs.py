"""Hostile inputs to ``predict``, ``plot`` and ``evaluate`` (issue 11): a decompression bomb, a FIFO,
a device or a folder for a picture; garbage, deeply nested, huge metrics files; a stdout that
only takes ASCII; escape sequences in checkpoints, metrics and file names.

Each case builds its input here and checks the exit status, one line naming the problem, no
traceback, and where it matters bounded memory (measured in a child process) and time.
"""

import importlib.util
import json
import os
import struct
import subprocess
import sys
import time
import warnings
import zlib

import numpy as np
import pytest
from saved_models import REPO, one_line_error

from xpnet.evaluate import main as evaluate_main
from xpnet.plot import main as plot_main
from xpnet.predict import main as predict_main
from xpnet.training.checkpoint import Checkpoint, save_checkpoint
from xpnet.training.config import Config

pytestmark = pytest.mark.hostile

EVIL = "\x1b[2J\x1b]0;pwned\x07"
MIB = 2**20
needs_pillow = pytest.mark.skipif(importlib.util.find_spec("PIL") is None,
                                  reason="Pillow is not installed (pip install -e '.[plot]')")
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is not installed (pip install -e '.[plot]')")
# Reports the exit status, output, seconds and peak memory of the command in its arguments, the
# only child of a fresh interpreter, so that no earlier child of pytest's counts.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60)
print(json.dumps({"status": done.returncode, "out": done.stdout, "err": done.stderr,
                  "seconds": time.monotonic() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def child_env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            **extra}


def run_xpnet(module: str, *args, timeout: float = 20, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"xpnet.{module}", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=child_env(**env), check=False)


def crafted_png(path, width: int, height: int) -> None:
    """A valid black 1-bit PNG of width x height pixels, a few KB however large it says it is."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def a_checkpoint(epoch=2, history=(), **config) -> Checkpoint:
    """A 784-8-10 model of the synthetic:600 dataset (random weights: no training needed)."""
    rng = np.random.default_rng(0)
    params = [(rng.standard_normal((784, 8)).astype(np.float32), np.zeros(8, np.float32)),
              (rng.standard_normal((8, 10)).astype(np.float32), np.zeros(10, np.float32))]
    settings = {**Config(dataset="synthetic:600").to_dict(), **config}
    return Checkpoint(params=params, config=settings, epoch=epoch, history=list(history))


def save_model(path, **metadata) -> str:
    save_checkpoint(path, a_checkpoint(**metadata))
    return str(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("hostile") / "model.npz")


def one_line(status, expected, out_err) -> str:
    """one_line_error, also for a child's CompletedProcess."""
    if isinstance(out_err, subprocess.CompletedProcess):
        status, out_err = out_err.returncode, out_err.stderr
    return one_line_error(status, expected, out_err)


# --- pictures: a bomb, a FIFO, a device, a folder -------------------------------------------------------------

@needs_pillow
def test_a_12000x12000_png_is_refused_from_its_header_in_bounded_memory_and_time(model, tmp_path):
    bomb = tmp_path / "bomb.png"
    crafted_png(bomb, 12000, 12000)  # 144 megapixels: 3.5 GB decoded; Pillow only warns below 179
    assert bomb.stat().st_size < 100_000
    command = [sys.executable, "-m", "xpnet.predict", model, "--image", str(bomb), "--backend", "numpy"]
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, timeout=90,
                          env=child_env(), check=True)
    report = json.loads(done.stdout)
    line = one_line(report["status"], 1, report["err"])
    assert "too large" in line and "12,000x12,000" in line and str(bomb) in line
    assert "DecompressionBomb" not in report["err"]
    assert report["peak_mb"] < 300, f"peak {report['peak_mb']:.0f} MB"
    assert report["seconds"] < 15, f"{report['seconds']:.1f} s"


@needs_pillow
def test_pillows_decompression_bomb_error_becomes_the_same_line(tmp_path):
    from xpnet.errors import XpnetError
    from xpnet.inference.images import read_grey

    bomb = tmp_path / "bigger.png"
    crafted_png(bomb, 14000, 14000)  # 196 megapixels: Pillow raises DecompressionBombError at open
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(XpnetError, match="too large"):
            read_grey(bomb)


@needs_pillow
def test_a_large_picture_is_reduced_before_it_is_prepared(tmp_path):
    from PIL import Image

    from xpnet.inference.images import mnist_style, read_grey

    picture = tmp_path / "wide.png"
    wide = Image.new("L", (4100, 60), 255)
    wide.paste(0, (2000, 10, 2100, 50))
    wide.save(picture)
    grey = read_grey(picture)  # reduced 3 times: 2048 pixels a side at most
    assert grey.shape == (20, 1367) and grey.dtype == np.uint8
    assert mnist_style(grey).shape == (28, 28)


@needs_pillow
@pytest.mark.parametrize("module", ["predict", "plot"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(model, tmp_path, module):
    if module == "plot" and importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed (pip install -e '.[plot]')")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    args = [model, "--image", fifo, "--backend", "numpy"] if module == "predict" else \
        ["--metrics", fifo, "--out-dir", tmp_path]
    started = time.monotonic()
    line = one_line(None, 1, run_xpnet(module, *args, timeout=15))
    assert "FIFO" in line and "not a regular file" in line and str(fifo) in line
    assert time.monotonic() - started < 15


@needs_pillow
@pytest.mark.parametrize("what, kind", [("/dev/zero", "character device"), ("FOLDER", "folder")])
def test_a_device_or_a_folder_is_refused_before_reading(model, tmp_path, capsys, what, kind):
    if what == "/dev/zero" and not os.path.exists(what):
        pytest.skip("no /dev/zero here")
    path = str(tmp_path) if what == "FOLDER" else what
    line = one_line(predict_main([model, "--image", path, "--backend", "numpy"]), 1, capsys.readouterr().err)
    assert f"is a {kind}, not a regular file" in line and path in line


# --- metrics files that are not what train wrote --------------------------------------------------------------

GOOD_EPOCH = '{"epoch": 1, "train_loss": 2.3, "train_accuracy": 0.1}\n'


@needs_matplotlib
@pytest.mark.parametrize("content, number, words", [
    ('{"epoch": 1, "train_loss": "2.3"}\n', 1, "train_loss must be a finite number"),
    ('{"epoch": 1, "train_loss": NaN}\n', 1, "train_loss must be a finite number"),
    ('{"epoch": 1, "train_loss": 2.3, "train_accuracy": Infinity}\n', 1, "train_accuracy must be a number"),
    ('{"epoch": 1, "train_loss": 1e999}\n', 1, "finite"),
    ('{"epoch": "two", "train_loss": 2.3}\n', 1, "epoch must be a whole number"),
    ('{"epoch": -5, "train_loss": 2.3}\n', 1, "epoch must be a whole number"),
    ('{"epoch": true, "train_loss": 2.3}\n', 1, "epoch must be a whole number"),
    ('{"epoch": 1e400, "train_loss": 2.3}\n', 1, "epoch must be a whole number"),
    (GOOD_EPOCH + '{"test_accuracy": "high"}\n', 2, "test_accuracy must be a number"),
    (GOOD_EPOCH + '{"test_accuracy": 0.5, "test_loss": null}\n', 2, "test_loss must be a finite number"),
    (GOOD_EPOCH + '{"test_accuracy": 0.5, "layer_sizes": "784-10"}\n', 2, "layer_sizes must be"),
    (GOOD_EPOCH + '{"test_accuracy": 0.5, "layer_sizes": [784, 10], "dataset": {"a": 1}}\n', 2, "dataset must be"),
    ("[" * 100_000 + "\n", 1, "nested too deeply"),
    (GOOD_EPOCH + '{"x": ' * 50_000 + "1" + "}" * 50_000 + "\n", 2, "nested too deeply"),
    ("[1, 2]\n", 1, "neither an epoch record nor a summary"),
    ("42\n", 1, "neither an epoch record nor a summary"),
    ('"text"\n', 1, "neither an epoch record nor a summary"),
    (GOOD_EPOCH + "null\n", 2, "neither an epoch record nor a summary"),
    ('{"epoch": 1, "train_loss": ' + "7" * 5000 + "}\n", 1, "not JSON"),
    (b'{"epoch": 1, "train_loss": 2.3, "note": "\xff"}\n', 1, "not UTF-8"),
    ('{"epoch": 1, "train_loss": 2.3, "pad": "' + "x" * MIB + '"}\n', 1, "line 1 is longer than 1 MiB"),
    (json.dumps({"epoch": 1, "train_loss": EVIL}) + "\n", 1, "got '\\x1b[2J\\x1b]0;pwned\\x07'"),
], ids=["string-loss", "nan", "infinity", "overflow", "string-epoch", "negative-epoch", "bool-epoch", "float-epoch",
        "string-summary", "null-test-loss", "string-layer-sizes", "object-dataset", "nested-list", "nested-object",
        "list", "number", "string", "null", "huge-int", "not-utf8", "long-line", "escape-in-value"])
def test_a_bad_metrics_line_is_one_line_naming_file_and_line(tmp_path, capsys, content, number, words):
    metrics = tmp_path / "run.jsonl"
    (metrics.write_bytes if isinstance(content, bytes) else metrics.write_text)(content)
    line = one_line(plot_main(["--metrics", str(metrics), "--out-dir", str(tmp_path)]), 1, capsys.readouterr().err)
    assert words in line and str(metrics) in line, line
    assert f"line {number}" in line or "longer than" in line, line
    assert "\x1b" not in line
    assert not list(tmp_path.glob("*.png"))


@needs_matplotlib
def test_a_metrics_file_over_100_mib_is_refused_unread(tmp_path, capsys):
    metrics = tmp_path / "huge.jsonl"
    with open(metrics, "wb") as sparse:
        sparse.truncate(101 * MIB)  # takes no disk
    line = one_line(plot_main(["--metrics", str(metrics), "--out-dir", str(tmp_path)]), 1, capsys.readouterr().err)
    assert "101 MiB" in line and "100 MiB" in line and str(metrics) in line


# --- an ASCII-only stdout -------------------------------------------------------------------------------------

def test_predict_on_an_ascii_stdout_draws_in_ascii_shades(tmp_path):
    path = save_model(tmp_path / "modèle.npz")
    done = run_xpnet("predict", path, "--index", "0", "--backend", "numpy", PYTHONIOENCODING="ascii")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.isascii() and "mod\\xe8le.npz" in done.stdout
    drawing = [line for line in done.stdout.splitlines() if len(line) == 28 and set(line) <= set(" .:+#")]
    assert len(drawing) == 28 and "predicted " in done.stdout


# --- escape sequences from files never reach the terminal -----------------------------------------------------

def test_a_checkpoint_name_with_escapes_is_printed_escaped(tmp_path, capsys):
    path = save_model(tmp_path / f"model{EVIL}.npz")
    assert evaluate_main([path, "--backend", "numpy"]) == 0
    assert predict_main([path, "--index", "0", "--backend", "numpy"]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert out.count("model\\x1b[2J\\x1b]0;pwned\\x07.npz") == 2


@pytest.mark.parametrize("field", ["epoch", "dataset", "lr", "hidden", "history"])
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_checkpoint_metadata_with_escapes_never_reaches_the_terminal(tmp_path, capsys, field, command):
    value = {"dataset": "synthetic:600" + EVIL, "history": [{"epoch": 1, "train_loss": EVIL}]}.get(field, EVIL)
    path = save_model(tmp_path / "model.npz", **{field: value})
    main = evaluate_main if command == "evaluate" else predict_main
    status = main([path, *(["--index", "0"] if command == "predict" else []), "--backend", "numpy"])
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\x07" not in out + err and "Traceback" not in err
    if status != 0:
        assert "\\x1b[2J" in one_line(status, 1, err)


def test_a_report_on_a_checkpoint_and_data_with_escapes_is_escaped(tiny_dataset):
    """What comes from a checkpoint loaded in memory (so not checked on loading) and from the data."""
    from dataclasses import replace

    from xpnet.evaluate import evaluate_model, format_report
    from xpnet.inference import load_model

    data = replace(tiny_dataset, name=EVIL, source=EVIL, class_names=tuple(f"class{k}{EVIL}" for k in range(10)))
    model = load_model(a_checkpoint(epoch=EVIL), dataset=data, backend="numpy")
    text = format_report(evaluate_model(model)[0], model)
    assert "\x1b" not in text and "\x07" not in text
    assert text.count("\\x1b[2J\\x1b]0;pwned\\x07") == 1 + 2 + 10  # the epoch, the data's name and source, classes


@needs_matplotlib
def test_metrics_with_escapes_and_dollars_in_names_plot_and_print_escaped(tmp_path, capsys):
    metrics = tmp_path / f"run{EVIL}$\\oops$.jsonl"
    summary = {"test_accuracy": 0.5, "test_loss": 1.0, "layer_sizes": [784, 10], "dataset": f"$\\bad{EVIL}$",
               "backend": EVIL, "dtype": "float32"}
    metrics.write_text(GOOD_EPOCH + json.dumps(summary) + "\n")
    assert plot_main(["--metrics", str(metrics), "--out-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert out.strip() == f"wrote {tmp_path}/run\\x1b[2J\\x1b]0;pwned\\x07$\\oops$-curves.png"
    assert (tmp_path / f"run{EVIL}$\\oops$-curves.png").read_bytes().startswith(b"\x89PNG")


@needs_pillow
def test_an_image_name_with_escapes_is_named_escaped(model, tmp_path, capsys):
    picture = tmp_path / f"digit{EVIL}.png"
    picture.write_text("not a picture")
    line = one_line(predict_main([model, "--image", str(picture), "--backend", "numpy"]), 1, capsys.readouterr().err)
    assert "cannot read image" in line and "digit\\x1b[2J" in line and "\x1b" not in line
