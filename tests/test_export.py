"""``python -m xpnet.export``: every kind of xpnet network, trained on every installed backend,
leaves as an ONNX graph that onnxruntime runs to xpnet's own predictions."""

import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.export import main

onnx = pytest.importorskip("onnx", reason="the export extra (onnx) is not installed: pip install -e '.[export]'")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (it is in the test extra)")

NETWORKS = {"softmax regression": dict(hidden=()), "MLP": dict(hidden=(16, 8)),
            "CNN": dict(arch="conv4k3,pool,conv6k3v,avgpool,fc16"), "CNN without fc": dict(arch="conv4k5,pool")}
CPU_BACKENDS = [name for name in ("numpy", "torch", "jax", "array-api-strict") if name in xpnet.available_backends()]


def onnx_probabilities(path, images):
    """The graph at ``path`` run by onnxruntime on uint8 ``images`` (n, 28, 28): (n, classes)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"images": images})[0]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("network", NETWORKS)
def test_the_onnx_graph_predicts_what_xpnet_predicts(backend, network, tiny_dataset, tmp_path):
    saved = tmp_path / "model.npz"
    xpnet.fit(dataset=tiny_dataset, backend=backend, epochs=1, batch_size=100, log=None, save_path=str(saved),
              **NETWORKS[network])
    assert main([str(saved), str(tmp_path / "model.onnx")]) == 0
    images = tiny_dataset.test_images
    expected = xpnet.load_model(saved, with_data=False, backend=backend).class_probabilities(images)
    got = onnx_probabilities(tmp_path / "model.onnx", images)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.array_equal(got.argmax(axis=1), np.asarray(expected).argmax(axis=1))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_folder_of_checkpoints_exports_its_newest(tiny_dataset, tmp_path):
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(8,), epochs=2, log=None,
              checkpoint_dir=str(tmp_path / "run"))
    assert main([str(tmp_path / "run"), str(tmp_path / "m.onnx")]) == 0
    graph = onnx.load(str(tmp_path / "m.onnx"))
    assert [value.name for value in graph.graph.output] == ["probabilities", "logits"]


@pytest.mark.parametrize("make, status, words", [
    (lambda tmp: (tmp / "absent.npz", tmp / "m.onnx"), 2, "does not exist"),
    (lambda tmp: (tmp / "model.npz", tmp / "m.txt"), 2, "use a name ending in .onnx (e.g. model.onnx)"),
    (lambda tmp: (tmp / "model.npz", tmp / ".onnx"), 2, "use a name ending in .onnx with a name before it"),
    (lambda tmp: (tmp / "model.npz", tmp / "folder.onnx"), 2, "is a folder"),
    (lambda tmp: (tmp / "truncated.npz", tmp / "m.onnx"), 1, "is damaged or not a checkpoint"),
])
def test_bad_paths_are_one_line(make, status, words, tiny_dataset, tmp_path):
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(8,), epochs=1, log=None,
              save_path=str(tmp_path / "model.npz"))
    (tmp_path / "folder.onnx").mkdir()
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "model.npz").read_bytes()[:100])
    checkpoint, out = make(tmp_path)
    done = subprocess.run([sys.executable, "-m", "xpnet.export", str(checkpoint), str(out)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == status and words in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("error") == 1
    assert not (tmp_path / "m.onnx").exists()


def test_without_onnx_the_export_says_what_to_install(tiny_dataset, tmp_path, monkeypatch, capsys):
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(8,), epochs=1, log=None,
              save_path=str(tmp_path / "model.npz"))
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main([str(tmp_path / "model.npz"), str(tmp_path / "m.onnx")]) == 1
    assert "pip install -e '.[export]'" in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()


def test_the_docs_onnxruntime_lines_run_an_exported_model(tiny_dataset, tmp_path):
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "export.md").read_text(encoding="utf-8")
    code = re.search(r"^```python\n(.*?)^```", page, re.MULTILINE | re.DOTALL).group(1)
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(8,), epochs=1, log=None,
              save_path=str(tmp_path / "seed001.npz"))
    assert main([str(tmp_path / "seed001.npz"), str(tmp_path / "seed001.onnx")]) == 0
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("(2, 10)")
