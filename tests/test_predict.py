"""``python -m xpnet.predict``: one test image or any picture, drawn in the terminal, saved as a PNG."""

import importlib.util
import sys

import numpy as np
import pytest
from saved_models import DATASET, one_line_error, run_module, train_and_save

from xpnet.data import load_dataset
from xpnet.errors import XpnetError
from xpnet.inference.images import SHADES, draw, mnist_style, read_grey
from xpnet.predict import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
needs_pillow = pytest.mark.skipif(importlib.util.find_spec("PIL") is None,
                                  reason="Pillow is not installed (pip install -e '.[plot]')")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_and_save(tmp_path_factory.mktemp("predict"))


def drawing_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) == 28 and set(line) <= set(SHADES)]


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    weights = image.astype(np.float64)
    rows, cols = np.indices(image.shape)
    return (rows * weights).sum() / weights.sum(), (cols * weights).sum() / weights.sum()


def picture_of_a_digit(path, light_background: bool) -> None:
    """A 100x60 RGB PNG: synthetic test digit 0, enlarged and placed off-centre, ink dark on a light
    coloured background (or light on dark)."""
    from PIL import Image

    digit = Image.fromarray(load_dataset(DATASET).test_images[0]).resize((45, 45), Image.Resampling.BILINEAR)
    ink = np.zeros((60, 100))
    ink[5:50, 50:95] = np.asarray(digit) / 255.0
    paper, pen = (np.array([235, 225, 190]), np.array([20, 30, 90]))
    if not light_background:
        paper, pen = pen, paper
    rgb = paper * (1 - ink[..., None]) + pen * ink[..., None]
    Image.fromarray(np.round(rgb).astype(np.uint8), "RGB").save(path)


def test_index_prints_prediction_label_top3_and_28_rows(trained):
    path, _ = trained
    completed = run_module("predict", str(path), "--index", "3", "--backend", "numpy")
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    label = int(load_dataset(DATASET).test_labels[3])
    assert f"test image 3 of synthetic (label {label})" in out
    assert "predicted " in out and f"(label {label}: " in out
    top = next(line for line in out.splitlines() if line.startswith("top 3: "))
    probabilities = [float(part.rstrip("%")) for part in top.split()[3::2]]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert len(drawing_lines(out)) == 28


@needs_pillow
@pytest.mark.parametrize("light_background", [True, False], ids=["dark-ink-on-light", "light-ink-on-dark"])
def test_a_picture_becomes_a_centred_28x28_digit(tmp_path, light_background):
    picture = tmp_path / "digit.png"
    picture_of_a_digit(picture, light_background)
    image = mnist_style(read_grey(picture))
    assert image.shape == (28, 28) and image.dtype == np.uint8
    row, col = centre_of_mass(image)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1
    assert abs(row - 13.5) <= 0.5 and abs(col - 13.5) <= 0.5
    ink_rows, ink_cols = np.nonzero(image > 0.1 * image.max())
    longer = max(ink_rows.max() - ink_rows.min(), ink_cols.max() - ink_cols.min()) + 1
    assert 18 <= longer <= 20
    assert image.max() == 255 and image[0].max() == 0 and image[:, 0].max() == 0


@needs_pillow
def test_image_prediction_and_out_png(trained, tmp_path, capsys):
    path, _ = trained
    picture, out = tmp_path / "digit.png", tmp_path / "seen.png"
    picture_of_a_digit(picture, light_background=True)
    assert main([str(path), "--image", str(picture), "--out", str(out), "--backend", "numpy"]) == 0
    text = capsys.readouterr().out
    assert "as the model sees it" in text and "predicted " in text and "top 3: " in text
    assert "label" not in text.split("predicted ")[1].splitlines()[0]
    assert len(drawing_lines(text)) == 28
    from PIL import Image

    assert out.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(out) as saved:
        assert saved.size == (28 * 8, 28 * 8 + 16) and saved.text["Title"].startswith("predicted ")


@needs_pillow
def test_index_with_out_captions_the_label(trained, tmp_path, capsys):
    path, _ = trained
    out = tmp_path / "index.png"
    assert main([str(path), "--index", "0", "--split", "train", "--out", str(out), "--backend", "numpy"]) == 0
    assert "train image 0 of synthetic" in capsys.readouterr().out
    from PIL import Image

    with Image.open(out) as saved:
        assert f"label {load_dataset(DATASET).train_labels[0]}" in saved.text["Title"]


def test_draw_maps_black_to_space_and_white_to_full_block():
    image = np.array([[0, 60, 110, 160, 255]], dtype=np.uint8)
    assert draw(image) == " ░▒▓█"


@needs_pillow
@pytest.mark.parametrize("args, status, fragment", [
    (["--index", "100"], 2, "out of range"),
    (["--index", "-1"], 2, "--index"),
    ([], 2, "--index"),
    (["--index", "1", "--image", "x.png"], 2, "not allowed"),
    (["--image", "MISSING"], 1, "not found"),
    (["--image", "TEXT"], 1, "cannot read image"),
    (["--image", "BLANK"], 1, "blank"),
])
def test_bad_input_is_one_line(trained, tmp_path, capsys, args, status, fragment):
    from PIL import Image

    path, _ = trained
    (tmp_path / "text.png").write_text("not a picture")
    Image.new("RGB", (50, 40), (200, 200, 200)).save(tmp_path / "blank.png")
    names = {"MISSING": tmp_path / "missing.png", "TEXT": tmp_path / "text.png", "BLANK": tmp_path / "blank.png"}
    args = [str(names.get(arg, arg)) for arg in args]
    try:
        result = main([str(path), *args, "--backend", "numpy"])
    except SystemExit as exit_info:  # argparse's own usage errors
        result = exit_info.code
    assert fragment in one_line_error(result, status, capsys.readouterr().err)


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    line = one_line_error(main([str(tmp_path / "none.npz"), "--index", "0"]), 1, capsys.readouterr().err)
    assert "not found" in line


def test_without_pillow_image_and_out_say_how_to_install(trained, tmp_path, monkeypatch, capsys):
    path, _ = trained
    monkeypatch.setitem(sys.modules, "PIL", None)
    for args in (["--image", str(tmp_path / "any.png")], ["--index", "0", "--out", str(tmp_path / "o.png")]):
        line = one_line_error(main([str(path), *args]), 1, capsys.readouterr().err)
        assert "pip install -e '.[plot]'" in line
    assert main([str(path), "--index", "0", "--backend", "numpy"]) == 0


@needs_pillow
def test_read_grey_error_is_xpnet_error(tmp_path):
    with pytest.raises(XpnetError):
        read_grey(tmp_path)


def test_a_checkpoint_loads_as_a_model_that_predicts_from_python(tiny_dataset, tmp_path):
    import subprocess
    import sys

    import xpnet

    path = tmp_path / "m.npz"
    result = xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(16,), epochs=2, save_path=str(path), log=None)
    model = xpnet.load_model(path, with_data=False, backend="numpy")
    images = tiny_dataset.test_images
    predicted = model.predict(images)
    assert predicted.shape == (200,) and predicted.dtype == np.int64
    assert np.mean(predicted == tiny_dataset.test_labels) == pytest.approx(result.test_accuracy, abs=1e-12)
    # ``xpnet.evaluate`` names the command's module only: no function of that name hides behind it.
    code = "import xpnet; print(type(getattr(xpnet, 'evaluate', None)).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() in ("NoneType", "module"), done.stdout


def test_predict_from_python_refuses_what_is_not_images_in_one_line(tmp_path):
    import xpnet
    from xpnet.errors import UsageError

    xpnet.fit(dataset="synthetic:300", backend="numpy", hidden=(8,), epochs=1, save_path=str(tmp_path / "m.npz"),
              log=None)
    model = xpnet.load_model(tmp_path / "m.npz", with_data=False, backend="numpy")
    image = np.full((28, 28), 200, dtype=np.uint8)
    assert model.predict(image).shape == (1,) and model.predict(np.stack([image] * 3)).shape == (3,)
    for bad, words in ((np.zeros((2, 27, 27), np.uint8), r"must be \(n, 28, 28\)"), (np.zeros((0, 28, 28)), "n >= 1"),
                       ("seven", "must be numbers"), (None, "must be numbers"),
                       (np.full((1, 28, 28), 300.0), "0..255"), (np.full((1, 28, 28), 0.5), r"scaled to \[0, 1\]")):
        with pytest.raises(UsageError, match=words):
            model.predict(bad)
    with pytest.raises(UsageError, match="checkpoint must be a path"):
        xpnet.load_model(42)
    assert len(repr(model)) < 300
