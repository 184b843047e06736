"""Hostile inputs that cost memory (issue 25): a checkpoint whose zip directory lists millions of
entries, a run or a prediction larger than the memory free, pictures in every format Pillow
reads, and a flipped byte in a .safetensors checkpoint.

Where memory matters it is measured in a child process (tests/test_hostile_outputs.py's MEASURE)
and held to a generous bound; the refusals are one line, no traceback.
"""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from saved_models import one_line_error
from test_hostile_outputs import MEASURE, child_env, save_model

pytestmark = pytest.mark.hostile

PEAK_MB = 400


def measured(*command) -> dict:
    """Exit status, output, seconds and peak memory (MB) of ``command`` run in a child."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *map(str, command)], capture_output=True, text=True,
                          timeout=120, env=child_env(), check=True)
    return json.loads(done.stdout)


def zip_of_empty_entries(path, count: int, zip64: bool = True) -> None:
    """A zip archive of ``count`` empty stored members (names m0, m1...), about 90 bytes an entry on
    disk and several hundred in memory once zipfile lists them. Its end record is ZIP64's when
    ``zip64``; else only the classic one, which states 1 entry (zipfile reads the directory's bytes
    whatever the count says)."""
    local, central = [], []
    offset = 0
    for index in range(count):
        name = b"m%d" % index
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name),
                                   0, 0, 0, 0, 0, offset) + name)
        local.append(header)
        offset += len(header)
    directory = b"".join(central)
    end = b""
    if zip64:
        end = (struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(directory), offset)
               + struct.pack("<IIQI", 0x07064B50, 0, offset + len(directory), 1))
    stated = min(count, 0xFFFF) if zip64 else 1
    end += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, stated, stated,
                       min(len(directory), 0xFFFFFFFF), min(offset, 0xFFFFFFFF), 0)
    path.write_bytes(b"".join(local) + directory + end)


# --- a zip directory of millions of entries ---------------------------------------------------------------

@pytest.mark.parametrize("zip64", [True, False], ids=["zip64", "classic-end-record-stating-1-entry"])
def test_a_checkpoint_listing_600000_zip_entries_is_refused_from_its_end_record(tmp_path, zip64):
    bomb = tmp_path / "bomb.npz"
    zip_of_empty_entries(bomb, 600_000, zip64)  # 54 MB on disk; before: 330 MB and 9 s, then "no metadata"
    report = measured(sys.executable, "-m", "xpnet.evaluate", bomb, "--backend", "numpy")
    line = report["err"].strip()
    assert report["status"] == 1 and "Traceback" not in line and len(line.splitlines()) == 1, report["err"]
    assert str(bomb) in line and "entries" in line and "use an earlier checkpoint" in line
    assert report["peak_mb"] < 150, f"peak {report['peak_mb']:.0f} MB"


TRAIN = [sys.executable, "-m", "xpnet.train", "--dataset", "synthetic:600", "--hidden", "16", "--backend", "numpy"]


@pytest.mark.parametrize("command", ["evaluate", "train-rerun"])
def test_a_folder_scan_skips_such_a_checkpoint_in_bounded_memory(tmp_path, command):
    folder = tmp_path / "run"
    if command == "evaluate":
        folder.mkdir()
        save_model(folder / "epoch-0001.npz")
        args = [sys.executable, "-m", "xpnet.evaluate", folder, "--backend", "numpy", "--dataset", "synthetic:600"]
    else:
        subprocess.run([*TRAIN, "--epochs", "1", "--checkpoint-dir", str(folder)], check=True, capture_output=True,
                       timeout=60, env=child_env())
        args = [*TRAIN, "--epochs", "2", "--checkpoint-dir", folder]
    zip_of_empty_entries(folder / "epoch-0002.npz", 600_000)
    report = measured(*args)
    assert report["status"] == 0, report["err"]
    assert "skipped" in report["err"] and "epoch-0002.npz" in report["err"] and "entries" in report["err"]
    assert report["peak_mb"] < 150, f"peak {report['peak_mb']:.0f} MB"


# --- pictures in every format Pillow reads -----------------------------------------------------------------

def _pillow_writable_pictures(folder) -> dict:
    """Format name -> a small picture of a bar (ink on black) that Pillow here both writes and reads back."""
    Image = pytest.importorskip("PIL.Image")
    Image.init()
    bar = np.zeros((40, 30), np.uint8)
    bar[8:32, 12:18] = 255
    written = {}
    for name in sorted(set(Image.SAVE) & set(Image.OPEN)):
        for mode in ("L", "RGB", "P", "1"):
            path = folder / f"bar-{name}.{name.lower()}"
            try:
                Image.fromarray(bar).convert(mode).save(path, format=name)
                with Image.open(path) as picture:
                    picture.load()
            except Exception:  # a mode or a format this Pillow cannot write (or read back): try the next
                path.unlink(missing_ok=True)
                continue
            written[name] = path
            break
    return written


@pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning")  # Pillow on its own plugin
def test_every_format_pillow_writes_and_reads_here_is_read(tmp_path):
    from xpnet.inference.images import read_grey

    pictures = _pillow_writable_pictures(tmp_path)
    assert {"GIF", "BMP", "TIFF", "PNG", "JPEG"} <= set(pictures)
    for name, path in pictures.items():
        grey = read_grey(path)  # (an icon format may scale it to its own sizes)
        height, width = grey.shape
        assert grey[height // 2, width // 2] > 200 > grey[1, 1], name


@pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning")  # Pillow on its own plugin
@pytest.mark.parametrize("name", ["GIF", "BMP", "TIFF", "WEBP"])
def test_predict_image_reads_the_formats_it_refused(tmp_path, capsys, name):
    from xpnet.predict import main as predict_main

    picture = _pillow_writable_pictures(tmp_path).get(name)
    if picture is None:
        pytest.skip(f"this Pillow cannot write {name}")
    model = save_model(tmp_path / "model.npz")
    assert predict_main([model, "--image", str(picture), "--backend", "numpy"]) == 0, capsys.readouterr().err
    assert "predicted" in capsys.readouterr().out


# --- a flipped byte in a .safetensors checkpoint -------------------------------------------------------------

def _safetensors_parts(path) -> tuple[dict, bytes]:
    """(header, data) of a .safetensors file."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _write_safetensors(path, header: dict, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


def test_a_flipped_data_byte_in_a_safetensors_checkpoint_is_refused_in_one_line(tmp_path):
    pytest.importorskip("safetensors")
    from xpnet.training.checkpoint import CheckpointError, load_checkpoint

    path = tmp_path / "model.safetensors"
    save_model(path)
    header, data = _safetensors_parts(path)
    start = header["params.0.W"]["data_offsets"][0]
    flipped = bytearray(data)
    flipped[start] ^= 1  # the lowest mantissa bit of W[0, 0]: still a finite float
    _write_safetensors(path, header, bytes(flipped))
    with pytest.raises(CheckpointError, match="SHA-256") as refused:
        load_checkpoint(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


def test_a_safetensors_checkpoint_without_a_digest_still_loads(tmp_path):
    pytest.importorskip("safetensors")
    from xpnet.training.checkpoint import load_checkpoint

    path = tmp_path / "older.safetensors"
    save_model(path)
    header, data = _safetensors_parts(path)
    older = {key: value for key, value in header["__metadata__"].items() if key == "__xpnet_metadata__"}
    assert len(older) < len(header["__metadata__"])  # the digest was saved, and is now taken out
    _write_safetensors(path, {**header, "__metadata__": older}, data)
    assert load_checkpoint(path).epoch == 2


# --- predictions in batches, and refused before allocating -----------------------------------------------

@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from xpnet.inference.trained_model import load_model

    return load_model(save_model(tmp_path_factory.mktemp("memory") / "model.npz"), with_data=False, backend="numpy")


def test_predict_in_batches_gives_the_one_shot_results(loaded):
    from xpnet.data import load_dataset

    images = load_dataset("synthetic:300").train_images
    one_shot = loaded.class_probabilities(images)
    loaded.config = loaded.config.replace(eval_batch_size=64)
    try:
        batched = loaded.class_probabilities(images)
        assert loaded.eval_batch_size == 64 and batched.shape == (300, 10)
        np.testing.assert_allclose(batched, one_shot, rtol=1e-4, atol=1e-6)  # float32 sums in another order
        assert np.array_equal(loaded.predict(images), np.argmax(one_shot, axis=1))
    finally:
        loaded.config = loaded.config.replace(eval_batch_size=10000)


PREDICT_A_VIEW = """
import sys, numpy as np
from xpnet.inference.trained_model import load_model
model = load_model(sys.argv[1], with_data=False, backend="numpy")
images = np.broadcast_to(np.full((1, 1, 1), 200, np.uint8), (400_000, 28, 28))  # 314 MB seen, 1 byte held
found = model.predict(images)
print(found.shape[0], len(set(found.tolist())))
"""


def test_predicting_400000_images_holds_one_batch_at_a_time(tmp_path):
    report = measured(sys.executable, "-c", PREDICT_A_VIEW, save_model(tmp_path / "model.npz"))
    assert report["status"] == 0 and report["out"].split() == ["400000", "1"], report["err"]
    assert report["peak_mb"] < PEAK_MB, f"peak {report['peak_mb']:.0f} MB"  # one shot: 1.5 GB (a million images: 3.8 GB)


def test_a_prediction_that_cannot_fit_is_refused_before_allocating(loaded, monkeypatch):
    from xpnet.errors import UsageError
    from xpnet.inference import trained_model

    view = np.broadcast_to(np.zeros((1, 1, 1), np.uint8), (10**6, 28, 28))
    monkeypatch.setattr(trained_model, "host_available_bytes", lambda: 16 * 2**20)
    with pytest.raises(UsageError, match=r"predicting 1,000,000 images needs about \d+\.\d MiB on numpy cpu, "
                                         r"which has 16\.0 MiB free .*pass fewer images at a time"):
        loaded.predict(view)
    with pytest.raises(UsageError, match="MiB free"):
        loaded.class_probabilities(view)


# --- the run's estimate: what a step holds, with headroom, said in the header ------------------------------

def _estimate_mib(out: str) -> float:
    """The MiB of the header's ``memory: about 1.2 GiB of ...`` line."""
    line = next(line for line in out.splitlines() if line.startswith("memory: about "))
    number, unit = line.split()[2:4]
    return float(number) * {"KiB": 2**-10, "MiB": 1, "GiB": 2**10}[unit]


@pytest.fixture(scope="module")
def baseline_mib():
    """The peak of a run that holds almost nothing: the interpreter, NumPy and xpnet."""
    report = measured(sys.executable, "-m", "xpnet.train", "--dataset", "synthetic:600", "--hidden", "16",
                      "--epochs", "1", "--backend", "numpy")
    assert report["status"] == 0, report["err"]
    return report["peak_mb"]


@pytest.mark.parametrize("flags", [
    ["--dataset", "synthetic:6000", "--hidden", "600,600,600,600,600,600", "--batch-size", "6000"],
    ["--dataset", "synthetic:300", "--arch", "conv16k5,conv16k5", "--batch-size", "300"],
], ids=["deep-mlp-full-batch", "cnn"])
def test_the_header_says_what_the_run_takes_and_it_covers_the_measured_peak(flags, baseline_mib):
    report = measured(sys.executable, "-m", "xpnet.train", *flags, "--epochs", "1", "--backend", "numpy",
                      "--optimizer", "sgd")
    assert report["status"] == 0, report["err"]
    held = report["peak_mb"] - baseline_mib
    assert held <= _estimate_mib(report["out"]), f"held {held:.0f} MiB: {report['out']}"


def test_a_run_is_refused_when_it_needs_more_than_its_share_of_the_memory_free(monkeypatch):
    import xpnet
    from xpnet.backend import Backend
    from xpnet.errors import UsageError

    lines = []
    xpnet.fit(dataset="synthetic:600", hidden=(16,), epochs=1, backend="numpy", log=lines.append)
    need = _estimate_mib("\n".join(lines))
    monkeypatch.setattr(Backend, "available_bytes", lambda self: int(need / 0.9 * 2**20))  # fits, without headroom
    with pytest.raises(UsageError, match=r"this run needs about .* which has .* free .* at most 80% of it; "
                                         "use smaller layers, batches or data"):
        xpnet.fit(dataset="synthetic:600", hidden=(16,), epochs=1, backend="numpy", log=None)


def _address_space_of(limit: int):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sets RLIMIT_AS and reads /proc (Linux)")
def test_a_run_larger_than_ulimit_v_allows_is_refused_up_front():
    done = subprocess.run([sys.executable, "-m", "xpnet.train", "--dataset", "synthetic:300", "--arch",
                           "conv128k5,conv128k5", "--epochs", "1", "--backend", "numpy"], capture_output=True, text=True,
                          timeout=120, env=child_env(), preexec_fn=_address_space_of(1500 * 2**20))
    line = one_line_error(done.returncode, 2, done.stderr)  # before: a MemoryError's traceback in the first step
    assert "this run needs about" in line and "use smaller layers, batches or data" in line
