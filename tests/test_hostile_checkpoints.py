"""Hostile checkpoint files, each built here: refused with one line naming the file and the problem, no
traceback, and the oversized ones before any large allocation (peak memory and time bounded, in a subprocess).

Issue 11: items 2 (memory before refusing), 4 (metadata types), 6 (printed strings) and 7 (non-finite weights).
"""

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.training import checkpoint as checkpoint_module
from xpnet.training.checkpoint import METADATA_LIMIT, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from saved_models import DATASET, one_line_error

pytestmark = pytest.mark.hostile

REPO = Path(__file__).resolve().parent.parent
GiB = 2 ** 30


def _has_safetensors() -> bool:
    try:
        import safetensors  # noqa: F401
        return True
    except ImportError:
        return False


FORMATS = [".npz", pytest.param(".safetensors", marks=pytest.mark.skipif(not _has_safetensors(),
                                                                          reason="safetensors is not installed"))]


def _checkpoint(dtype="float32", optimizer=True, in_progress=True) -> Checkpoint:
    """A 6-4-3 model of a run stopped inside its third epoch, with Adam's state: every field in use."""
    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(6, 4)).astype(dtype), rng.normal(size=4).astype(dtype)),
              (rng.normal(size=(4, 3)).astype(dtype), rng.normal(size=3).astype(dtype))]
    state = {"step": np.asarray(7, dtype=np.int64)}
    for slot in "mv":
        for i, (W, b) in enumerate(params):
            state[f"{slot}.{i}.W"], state[f"{slot}.{i}.b"] = np.zeros_like(W), np.zeros_like(b)
    stopped = {"epoch_rng_state": np.random.default_rng(5).bit_generator.state, "steps": 3, "seen": 30,
               "loss_sum": 31.5, "correct": 12, "seconds": 0.25}
    return Checkpoint(params=params, config=xpnet.Config(dataset=DATASET, hidden=(4,), optimizer="adam",
                                                         dtype=dtype).to_dict(),
                      epoch=2, history=[{"epoch": 1, "lr": 0.1, "train_loss": 1.5, "train_accuracy": 0.5,
                                         "seconds": 0.1, "examples_per_second": 600.0},
                                        {"epoch": 2, "lr": 0.1, "train_loss": 1.2, "train_accuracy": 0.6,
                                         "seconds": 0.1, "examples_per_second": float("inf"), "best": True}],
                      rng_state=np.random.default_rng(3).bit_generator.state, num_classes=3, image_shape=(2, 3),
                      optimizer_state=state if optimizer else {}, in_progress=stopped if in_progress else None)


def _contents(path: Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a checkpoint file, read without xpnet's checks."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            tensors = {name: archive[name] for name in archive.files}
        return tensors, json.loads(tensors.pop("__xpnet_metadata__").tobytes())
    import safetensors.numpy

    data = path.read_bytes()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    return safetensors.numpy.load(data), json.loads(header["__metadata__"]["__xpnet_metadata__"])


def _write(path: Path, tensors: dict, metadata) -> Path:
    """Write ``tensors`` and ``metadata`` (a dict, or the raw text) as a checkpoint file, as xpnet would."""
    text = metadata if isinstance(metadata, str) else json.dumps(metadata)
    if path.suffix == ".npz":
        np.savez(path, **tensors, __xpnet_metadata__=np.frombuffer(text.encode(), dtype=np.uint8))
    else:
        import safetensors.numpy

        path.write_bytes(safetensors.numpy.save(tensors, metadata={"__xpnet_metadata__": text}))
    return path


def _edited(tmp_path: Path, suffix: str, change, name: str = "model") -> Path:
    """A good checkpoint with ``change(tensors, metadata)`` applied."""
    path = save_checkpoint(tmp_path / f"{name}{suffix}", _checkpoint())
    tensors, metadata = _contents(path)
    changed = change(tensors, metadata)
    return _write(path, tensors, metadata if changed is None else changed)


def _refused(path: Path, *needles: str) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and str(path) in message, message
    for needle in needles:
        assert needle in message, message
    return message


def _meta(key, value):
    def change(tensors, metadata):
        metadata[key] = value
    return change


def _config(key, value):
    def change(tensors, metadata):
        metadata["config"][key] = value
    return change


def _tensor(name, value):
    def change(tensors, metadata):
        tensors[name] = value
    return change


def _drop(name):
    def change(tensors, metadata):
        del tensors[name]
    return change


NAN_W = np.full((6, 4), np.nan, np.float32)
METADATA_CASES = {
    "config a list": (_meta("config", [1, 2]), "bad config"),
    "dataset an int": (_config("dataset", 3), "unusable setting in its config", "dataset must be a string"),
    "eval_batch_size 0": (_config("eval_batch_size", 0), "eval_batch_size", "got 0"),
    "eval_batch_size -1": (_config("eval_batch_size", -1), "eval_batch_size", "got -1"),
    "lr a string": (_config("lr", "0.1"), "learning rate", "'0.1'"),
    "hidden a string": (_config("hidden", "many"), "hidden"),
    "image_shape 28": (_meta("image_shape", 28), "bad image_shape", "(28,"),
    "image_shape [-1, 5]": (_meta("image_shape", [-1, 5]), "bad image_shape"),
    "image_shape 'ab'": (_meta("image_shape", "ab"), "bad image_shape"),
    "image_shape of other pixels": (_meta("image_shape", [28, 28]), "bad image_shape", "of 6 pixels"),
    "num_classes 'ten'": (_meta("num_classes", "ten"), "bad num_classes", "'ten'"),
    "num_classes not the last layer": (_meta("num_classes", 10 ** 9), "bad num_classes", "expected 3"),
    "epoch -5": (_meta("epoch", -5), "bad epoch", "(-5,"),
    "epoch 'two'": (_meta("epoch", "two"), "bad epoch", "'two'"),
    "epoch True": (_meta("epoch", True), "bad epoch"),
    "epoch with escape codes": (_meta("epoch", "\x1b[2J\x1b]0;pwned\x07"), "bad epoch", "\\x1b[2J"),
    "xpnet_version a number": (_meta("xpnet_version", 3), "bad xpnet_version"),
    "history a string": (_meta("history", "garbage"), "bad history"),
    "history of numbers": (_meta("history", [1, 2]), "bad history", "record 1"),
    "history epoch a string": (_meta("history", [{"epoch": "one", "train_loss": 1.0}]), "bad history"),
    "history loss a string": (_meta("history", [{"epoch": 1, "train_loss": "1.5"}]), "bad history"),
    "history without a loss": (_meta("history", [{"epoch": 1}]), "bad history"),
    "in_progress a string": (_meta("in_progress", "garbage"), "bad in_progress"),
    "in_progress without steps": (_meta("in_progress", {"seen": 3}), "bad in_progress"),
    "in_progress steps a string": (_meta("in_progress", {"steps": "3"}), "bad in_progress"),
    "in_progress of another generator": (_meta("in_progress", {"steps": 3, "epoch_rng_state": {
        "bit_generator": "MT19937", "state": {"key": [0] * 624, "pos": 0}}}), "bad in_progress"),
    "rng_state a string": (_meta("rng_state", "x"), "bad rng_state"),
    "rng_state of another generator": (_meta("rng_state", {"bit_generator": "MT19937"}), "bad rng_state"),
    "rng_state out of range": (_meta("rng_state", {"bit_generator": "PCG64", "state": {
        "state": 2 ** 200, "inc": 1}, "has_uint32": 0, "uinteger": 0}), "bad rng_state"),
    "optimizer_tensors a string": (_meta("optimizer_tensors", "m.0.W"), "bad optimizer_tensors"),
    "optimizer_tensors of layer 9": (_meta("optimizer_tensors", ["step", "m.9.W"]), "bad optimizer_tensors"),
    "layer_sizes of bools": (_meta("layer_sizes", [6, True, 3]), "incomplete metadata"),
    "outputs a list": (_meta("outputs", ["x"]), "unreadable output settings"),
    "metadata nested too deep": (lambda t, m: "[" * 100_000 + "]" * 100_000, "unreadable metadata"),
    "metadata not JSON": (lambda t, m: "{'format': 1", "unreadable metadata"),
    "optimizer state of another shape": (_tensor("optimizer.m.0.W", np.zeros((5, 4), np.float32)),
                                         "tensor 'optimizer.m.0.W' is float32[5, 4], expected float32[6, 4]"),
    "optimizer state of another dtype": (_tensor("optimizer.v.1.b", np.zeros(3, np.float64)),
                                         "tensor 'optimizer.v.1.b' is float64[3], expected float32[3]"),
    "optimizer step a float": (_tensor("optimizer.step", np.asarray(7.0)), "expected a 0-d integer count"),
    "optimizer step missing": (_drop("optimizer.step"), "lacks the optimiser tensor 'step'"),
    "unexpected tensors": (_tensor("params.7.W", np.zeros(2, np.float32)), "unexpected tensors ('params.7.W')"),
    "NaN weights": (_tensor("params.0.W", NAN_W), "non-finite weights (NaN/inf in params.0.W)", "diverged"),
    "infinite bias": (_tensor("params.1.b", np.array([0, np.inf, 0], np.float32)), "(NaN/inf in params.1.b)"),
}


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("case", sorted(METADATA_CASES))
def test_bad_metadata_and_tensors_are_one_line(tmp_path, suffix, case):
    change, *needles = METADATA_CASES[case]
    _refused(_edited(tmp_path, suffix, change), *needles)


@pytest.mark.parametrize("suffix", FORMATS)
def test_the_complete_checkpoint_still_loads_and_its_defaults_fit_the_model(tmp_path, suffix):
    loaded = load_checkpoint(save_checkpoint(tmp_path / f"model{suffix}", _checkpoint()))
    assert loaded.in_progress["steps"] == 3 and loaded.optimizer_state["step"] == 7 and loaded.non_finite() is None
    assert loaded.history[-1]["best"] is True and loaded.history[-1]["examples_per_second"] == float("inf")
    bare = Checkpoint(params=_checkpoint().params, config={})
    assert bare.num_classes == 3 and bare.image_shape == (1, 6)
    assert load_checkpoint(save_checkpoint(tmp_path / f"bare{suffix}", bare)).layer_sizes == [6, 4, 3]


def test_non_finite_names_the_first_bad_tensor():
    checkpoint = _checkpoint()
    assert checkpoint.non_finite() is None
    checkpoint.params[1][0][2, 1] = -np.inf
    assert checkpoint.non_finite() == "params.1.W"


def test_safetensors_metadata_null_and_a_header_of_the_wrong_type(tmp_path):
    pytest.importorskip("safetensors")
    good = save_checkpoint(tmp_path / "good.safetensors", _checkpoint())
    data = good.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    for name, change, needle in [("null", lambda h: h.update({"__metadata__": None}), "__metadata__ is None"),
                                 ("list", lambda h: h.update({"__metadata__": ["x"]}), "__metadata__ is ['x']"),
                                 ("number", lambda h: h["__metadata__"].update({"__xpnet_metadata__": 5}),
                                  "not a table of strings")]:
        edited = json.loads(json.dumps(header))
        change(edited)
        text = json.dumps(edited).encode()
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length:])
        _refused(path, "unreadable metadata", needle)
    top = b"[1, 2]"
    (tmp_path / "list.safetensors").write_bytes(len(top).to_bytes(8, "little") + top)
    _refused(tmp_path / "list.safetensors", "damaged", "not a JSON table")


@pytest.mark.parametrize("suffix", FORMATS)
def test_tensors_larger_than_the_memory_available_are_refused_before_reading(tmp_path, suffix, monkeypatch):
    path = save_checkpoint(tmp_path / f"model{suffix}", _checkpoint())
    monkeypatch.setattr(checkpoint_module, "_available_bytes", lambda: 100)
    _refused(path, "more than the 0.0 MiB of memory available")


# Through the commands: exit status 1 and one line, for evaluate, --resume, plot and predict.

def _commands(path: Path, out: Path) -> dict:
    from xpnet import evaluate, plot, predict, train

    return {"evaluate": lambda: evaluate.main([str(path)]),
            "resume": lambda: train.main(["--resume", str(path)]),
            "plot": lambda: plot.main(["--checkpoint", str(path), "--out-dir", str(out)]),
            "predict": lambda: predict.main([str(path), "--index", "0"])}


@pytest.mark.parametrize("command", ["evaluate", "resume", "plot", "predict"])
@pytest.mark.parametrize("case", ["NaN weights", "epoch 'two'", "optimizer state of another shape",
                                  "in_progress a string", "rng_state of another generator", "eval_batch_size 0"])
def test_the_commands_say_it_in_one_line(tmp_path, capsys, command, case):
    change, *needles = METADATA_CASES[case]
    path = _edited(tmp_path, ".npz", change)
    status = _commands(path, tmp_path / "figures")[command]()
    line = one_line_error(status, 1, capsys.readouterr().err)
    assert str(path) in line and all(needle in line for needle in needles), line
    assert "learning rate" not in line or case == "lr a string", line


# Oversized declarations: refused from the zip directory, the .npy headers and the safetensors header.

def _npy_header(shape, descr="<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _deflated(head: bytes, zero_mib: int = 0) -> bytes:
    """A raw deflate stream of ``head`` then ``zero_mib`` MiB of zeros, built in milliseconds (about 1 KB a MiB)."""
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = first.compress(head) + first.flush(zlib.Z_FULL_FLUSH)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    mib = zeros.compress(bytes(2 ** 20)) + zeros.flush(zlib.Z_FULL_FLUSH)
    return stream + mib * zero_mib + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def _zip(path: Path, members: list) -> Path:
    """A zip64 archive of (name, deflated bytes, declared uncompressed size, crc) members, written by hand so
    that a member may declare any size (a real 6 GiB member costs 6 MB; a lie costs nothing)."""
    out, central = bytearray(), bytearray()
    for name, data, size, crc in members:
        encoded = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, size, len(data))
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(encoded), len(extra)) + encoded + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(encoded), len(extra), 0, 0, 0, 0, offset) + encoded + extra
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                                 len(out), 0)
    path.write_bytes(bytes(out))
    return path


def _members(path: Path) -> list:
    """The members of a real .npz, deflated, with their true sizes and checksums."""
    with zipfile.ZipFile(path) as archive:
        contents = [(info.filename, archive.read(info)) for info in archive.infolist()]
    return [(name, _deflated(data), len(data), zlib.crc32(data)) for name, data in contents]


def _with_metadata(members: list, change) -> list:
    """``members`` with the xpnet metadata member rewritten by ``change(metadata)``."""
    name = "__xpnet_metadata__.npy"
    stream = io.BytesIO(zlib.decompress(dict((n, d) for n, d, _, _ in members)[name], -15))
    np.lib.format.read_magic(stream)
    np.lib.format.read_array_header_1_0(stream)
    meta = json.loads(stream.read())
    change(meta)
    text = json.dumps(meta).encode()
    member = _npy_header((len(text),), "|u1") + text
    return [m for m in members if m[0] != name] + [(name, _deflated(member), len(member), zlib.crc32(member))]


def _hostile_files(folder: Path) -> dict:
    """name -> (path, what the refusal must say): the oversized inputs of issue 11, item 2."""
    good = save_checkpoint(folder / "good.npz", _checkpoint(optimizer=False, in_progress=False))
    members = _members(good)
    six_gib = _npy_header((6 * GiB // 8,), "<f8")
    huge = _npy_header((2 ** 20, 2 ** 20))
    files = {
        # 6.3 MB on disk, a real 6 GiB of zeros inside (the checksum is not worth computing: never read)
        "a 6 GiB extra member": (_zip(folder / "extra.npz", members + [
            ("extra.npy", _deflated(six_gib, 6 * 1024), len(six_gib) + 6 * GiB, 0)]), "unexpected tensors"),
        "a (2^20, 2^20) weight": (_zip(folder / "shape.npz", [m for m in members if m[0] != "params.0.W.npy"] + [
            ("params.0.W.npy", _deflated(huge), len(huge) + 4 * 2 ** 40, zlib.crc32(huge))]),
            "tensor 'params.0.W' is float32[1048576, 1048576], expected float32[6, 4]"),
        "a weight member declaring 6 GiB": (_zip(folder / "size.npz", [
            (n, d, size + 6 * GiB if n == "params.0.W.npy" else size, crc) for n, d, size, crc in members]),
            f"the member of tensor 'params.0.W' declares {len(_npy_header((6, 4))) + 96 + 6 * GiB:,} bytes"),
        "1 GiB of metadata": (_zip(folder / "metadata.npz", [m for m in members if m[0] != "__xpnet_metadata__.npy"]
                                   + [("__xpnet_metadata__.npy", _deflated(_npy_header((GiB,), "|u1"), 1024),
                                       GiB + 128, 0)]), "unreadable metadata (1,073,741,952 bytes"),
    }
    # a layer of 2^18 x 2^16 float64 (128 GiB; 2^16 units is the most a layer may have), every header and size
    # consistent: only the memory check refuses
    sizes = [2 ** 18, 2 ** 16, 10]
    shapes = {"params.0.W": (sizes[0], sizes[1]), "params.0.b": (sizes[1],), "params.1.W": (sizes[1], sizes[2]),
              "params.1.b": (sizes[2],)}
    headers = {name: _npy_header(shape, "<f8") for name, shape in shapes.items()}
    big = [(f"{name}.npy", _deflated(head), len(head) + 8 * int(np.prod(shapes[name])), zlib.crc32(head))
           for name, head in headers.items()]

    def bigger(meta):
        meta.update(layer_sizes=sizes, dtype="float64", num_classes=10, image_shape=[512, 512])
        meta["config"].update(hidden=[sizes[1]], dtype="float64")

    files["128 GiB of weights"] = (_zip(folder / "memory.npz", _with_metadata(members, bigger)[-1:] + big),
                                   "of memory available")
    # metadata just within the limits, of the values that cost the most memory to parse (~1.9 million strings)
    tensors, meta = _contents(good)
    meta["history"] = ["x" * 12] * 1_999_000
    assert len(json.dumps(meta)) <= METADATA_LIMIT
    files["32 MiB of history strings"] = (_write(folder / "history.npz", tensors, meta), "bad history")
    meta["history"] = [0] * 2_100_000
    files["2.1 million values"] = (_write(folder / "values.npz", tensors, meta), "more values than xpnet writes")
    if _has_safetensors():
        files.update(_hostile_safetensors(folder))
    return files


def _hostile_safetensors(folder: Path) -> dict:
    good = save_checkpoint(folder / "good.safetensors", _checkpoint(optimizer=False, in_progress=False))
    data = good.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header, body = json.loads(data[8:8 + length]), data[8 + length:]

    def file(name, change, tail=body):
        edited = json.loads(json.dumps(header))
        change(edited)
        text = json.dumps(edited).encode()
        path = folder / f"{name}.safetensors"
        path.write_bytes(len(text).to_bytes(8, "little") + text + tail)
        return path

    claims = folder / "claims.safetensors"
    with open(claims, "wb") as sparse:  # a header length of 2 GiB, in a file that long (sparse: costs nothing)
        sparse.write((2 * GiB).to_bytes(8, "little"))
        sparse.truncate(2 * GiB + 16)
    past = folder / "past.safetensors"
    past.write_bytes((2 ** 40).to_bytes(8, "little") + b"{}")
    return {
        "a safetensors header of 2 GiB": (claims, f"claims 2,147,483,648 bytes, more than the {METADATA_LIMIT:,}"),
        "a safetensors header past the end": (past, "header runs past the end of the file"),
        "a safetensors (2^20, 2^20) weight": (file("shape", lambda h: h["params.0.W"].update(
            shape=[2 ** 20, 2 ** 20], data_offsets=[0, 2 ** 42])), "is float32[1048576, 1048576]"),
        "safetensors data declared past the end": (file("offsets", lambda h: h["params.1.b"].update(
            data_offsets=[len(body), len(body) + 12])), "the data of tensor 'params.1.b' ends at byte"),
        "safetensors data of the wrong size": (file("length", lambda h: h["params.1.b"].update(
            data_offsets=[h["params.1.b"]["data_offsets"][0], h["params.1.b"]["data_offsets"][0] + 8])),
            "the data of tensor 'params.1.b' is 8 bytes, its shape and dtype take 12"),
        "safetensors tensors overlapping": (file("overlap", lambda h: h["params.1.b"].update(
            data_offsets=[h["params.0.W"]["data_offsets"][0], h["params.0.W"]["data_offsets"][0] + 12])),
            "overlap"),
    }


_PROBE = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (3 * 2 ** 30, 3 * 2 ** 30))  # a regression fails here, not the machine
from xpnet.training.checkpoint import CheckpointError, load_checkpoint
said, started = [], time.perf_counter()
for path in sys.argv[1:]:
    try:
        load_checkpoint(path)
        said.append("loaded")
    except CheckpointError as error:
        said.append(str(error))
# VmHWM: this process's own peak; ru_maxrss (self or children) also counts the pytest process it was forked from
try:
    peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
except (OSError, IndexError, ValueError):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"said": said, "seconds": time.perf_counter() - started, "peak_mb": peak_kb / 1024}))
"""


def test_oversized_declarations_are_refused_in_bounded_memory_and_time(tmp_path):
    files = _hostile_files(tmp_path)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _PROBE, *(str(path) for path, _ in files.values())],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    for (case, (path, needle)), said in zip(files.items(), report["said"]):
        assert "\n" not in said and str(path) in said and needle in said, (case, said)
    assert report["peak_mb"] < 300, report
    assert report["seconds"] < 10, report
    small = [path for path, _ in files.values() if path.name not in ("claims.safetensors", "history.npz")]
    assert all(path.stat().st_size < 10 * 2 ** 20 for path in small)
