"""Python names match the command's: every flag of ``python -m xpnet.train`` is a keyword of
:func:`xpnet.fit` (dashes to underscores), and a model loads for prediction without its data."""

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.errors import UsageError
from xpnet.train import build_parser
from xpnet.training.run import RunOptions


def fit_keywords() -> set[str]:
    """The keywords fit takes: its own parameters, its run options and the Config settings."""
    own = set(inspect.signature(xpnet.fit).parameters) - {"keywords"}
    return own | RunOptions.keywords() | {f.name for f in dataclasses.fields(xpnet.Config)}


def flag_names() -> set[str]:
    """Each flag of the train command as a Python name (``--no-normalize``: ``normalize``)."""
    names = set()
    for action in build_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                name = flag[2:].replace("-", "_")
                names.add(name[3:] if name.startswith("no_") and name[3:] == action.dest else name)
    return names


def test_every_flag_is_a_keyword_of_fit_with_its_name():
    assert flag_names(), "the parser lists no flags"
    assert sorted(flag_names() - fit_keywords()) == []


def test_fit_takes_the_flags_names(tiny_dataset, tmp_path):
    lines = []
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), epochs=1, quiet=True, save=tmp_path / "m.npz",
              metrics=str(tmp_path / "m.jsonl"), checkpoint_dir=tmp_path / "run", extensions=[])
    assert (tmp_path / "m.npz").is_file() and (tmp_path / "m.jsonl").read_text().count("\n") == 2
    assert any((tmp_path / "run").iterdir())
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), epochs=1, quiet=False, log=lines.append)
    assert lines[-1].startswith("test accuracy")


def test_the_older_names_still_work_and_agreeing_twice_is_fine(tiny_dataset, tmp_path):
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), epochs=1, log=None, save_path=str(tmp_path / "a.npz"),
              save=tmp_path / "a.npz", metrics_path=str(tmp_path / "a.jsonl"))
    assert (tmp_path / "a.npz").is_file() and (tmp_path / "a.jsonl").is_file()


@pytest.mark.parametrize("keywords, named", [
    (dict(save="a.npz", save_path="b.npz"), "save= and save_path="),
    (dict(metrics="a.jsonl", metrics_path="b.jsonl"), "metrics= and metrics_path="),
    (dict(quiet=True, log=[].append), "quiet=True"),
    (dict(quiet=False, log=None), "quiet=False and log=None"),
    (dict(quiet="yes"), "quiet"),
])
def test_names_given_twice_that_differ_are_one_line_usage_errors(tiny_dataset, tmp_path, monkeypatch, keywords,
                                                                   named):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=named) as caught:
        xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), epochs=1, **keywords)
    assert "\n" not in str(caught.value) and not any(tmp_path.iterdir())


OFFLINE = """
import sys, socket
import numpy as np
def refuse(*args, **kwargs):
    raise OSError("offline")
socket.socket.connect = refuse
import xpnet
model = xpnet.load_model(sys.argv[1], backend="numpy")
print(model.predict(np.zeros((2, 28, 28), np.uint8)).shape)
"""


def test_a_model_trained_on_arrays_in_memory_loads_and_predicts_offline(tiny_dataset, tmp_path):
    xpnet.fit(dataset=tiny_dataset, backend="numpy", hidden=(), epochs=1, quiet=True, save=tmp_path / "m.npz")
    done = subprocess.run([sys.executable, "-c", OFFLINE, str(tmp_path / "m.npz")], capture_output=True, text=True,
                          cwd=tmp_path, env={"PATH": "", "PYTHONPATH": str(Path(xpnet.__file__).parents[1]),
                               "XPNET_DATA_DIR": str(tmp_path / "nothing")}, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "(2,)"), done.stderr[-300:]


def test_the_data_of_a_model_loaded_without_it_come_when_a_split_is_asked(tiny_dataset, tmp_path):
    xpnet.fit(dataset="synthetic:60", backend="numpy", hidden=(), epochs=1, quiet=True, save=tmp_path / "m.npz")
    model = xpnet.load_model(tmp_path / "m.npz", backend="numpy")
    images, labels = model.split("test")
    assert images.shape[1:] == (28, 28) and labels.shape == images.shape[:1]
    assert np.array_equal(model.predict(images[:3]), model.predict(images[:3]))


def test_errors_name_the_keyword_in_python_and_the_flag_on_the_command_line(tiny_dataset, tmp_path, monkeypatch,
                                                                           capsys):
    from xpnet.data import load_dataset
    from xpnet.data.dataset import DataError
    from xpnet.train import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("xpnet.data.load.search_folders", lambda known, data_dir: [(tmp_path, None)])  # no copy anywhere
    with pytest.raises(DataError, match=r"downloading is off \(download=False\).*fashion-mnist/ of data_dir=") as caught:
        load_dataset("fashion-mnist", tmp_path, download=False)
    assert "--" not in str(caught.value)
    with pytest.raises(UsageError, match=r"^save m\.npz and metrics m\.npz name the same file"):
        xpnet.fit(dataset=tiny_dataset, backend="numpy", save="m.npz", metrics="m.npz")
    assert main(["--dataset", "synthetic:60", "--save", "m.npz", "--metrics", "m.npz"]) == 2
    assert "--save m.npz and --metrics m.npz name the same file" in capsys.readouterr().err


def test_restart_with_resume_names_keywords_in_python_and_flags_on_the_command_line(tmp_path, monkeypatch, capsys):
    from xpnet.train import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="^restart starts a run over; it cannot be combined with resume$"):
        xpnet.fit(dataset="synthetic:60", resume="m.npz", restart=True)
    assert main(["--resume", "m.npz", "--restart"]) == 2
    assert "--restart starts a run over; it cannot be combined with --resume" in capsys.readouterr().err


@pytest.mark.parametrize("keywords, flags, in_python, on_the_command_line", [
    (dict(early_stopping=3), ["--early-stopping", "3"],
     "early_stopping watches the dev split, and there is none: add dev_size=N (e.g. dev_size=5000)",
     "--early-stopping watches the dev split, and there is none: add --dev-size N (e.g. --dev-size 5000)"),
    (dict(dev_size=600), ["--dev-size", "600"],
     "dev_size=600 leaves no training data (the training set has 600 examples); use a dev_size below 600",
     "--dev-size 600 leaves no training data (the training set has 600 examples); use a --dev-size below 600"),
    (dict(hidden=(), dropout=0.5), ["--hidden", "", "--dropout", "0.5"], "or leave out dropout",
     "or leave out --dropout"),
    (dict(backend="cupy"), ["--backend", "cupy"], "use backend='numpy', device='cpu'",
     "use --backend numpy --device cpu"),
    (dict(backend="torch", device="cuda"), ["--backend", "torch", "--device", "cuda"],
     "backend='torch', device='cuda' is not usable", "--backend torch --device cuda is not usable"),
])
def test_run_errors_name_keywords_in_python_and_flags_on_the_command_line(tmp_path, monkeypatch, capsys, keywords,
                                                                          flags, in_python, on_the_command_line):
    from xpnet.backend import available_backends, cuda_problem
    from xpnet.errors import XpnetError
    from xpnet.train import main

    if keywords.get("backend") == "cupy" and cuda_problem() is None:
        pytest.skip("CuPy runs here: the message is the one of a machine without a GPU")
    if keywords.get("backend") == "torch" and ("torch" not in available_backends()
                                               or __import__("torch").cuda.is_available()):
        pytest.skip("needs PyTorch installed, on a machine where it sees no GPU")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(XpnetError) as caught:
        xpnet.fit(dataset="synthetic:600", epochs=1, log=None, **keywords)
    assert in_python in str(caught.value) and " --" not in str(caught.value), caught.value
    assert main(["--dataset", "synthetic:600", "--epochs", "1", "--quiet", *flags]) != 0
    assert on_the_command_line in capsys.readouterr().err


def test_a_model_trained_on_arrays_in_memory_asks_for_them_again_where_its_data_are_needed(tmp_path, monkeypatch,
                                                                                         capsys):
    from xpnet.data import Dataset
    from xpnet.data.dataset import DataError
    from xpnet.evaluate import main as evaluate_main

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    images = np.zeros((90, 8, 8), np.uint8)
    for index, label in enumerate(labels):
        images[index, :, 2 * label:2 * label + 2] = 255
    bars = Dataset("bars", images[:60], labels[:60], images[60:], labels[60:], 3, "my arrays")
    monkeypatch.chdir(tmp_path)
    xpnet.fit(dataset=bars, backend="numpy", hidden=(4,), epochs=1, log=None, save="bars.npz")
    model = xpnet.load_model("bars.npz", backend="numpy")
    assert model.predict(images[:2]).shape == (2,)  # predicting needs no data
    with pytest.raises(DataError, match=r"^bars\.npz was trained on a dataset given in memory \(bars\), which a "
                                        r"checkpoint does not hold; give them again: load_model\(path, dataset=data\)$"):
        model.split("test")
    assert xpnet.load_model("bars.npz", backend="numpy", dataset=bars).split("test")[0].shape == (30, 8, 8)
    with pytest.raises(DataError, match=r"give them again: fit\(\.\.\., dataset=data\)$"):
        xpnet.fit(resume="bars.npz", epochs=2, log=None)
    assert xpnet.fit(resume="bars.npz", dataset=bars, epochs=2, log=None).summary["epochs"] == 2
    assert evaluate_main(["bars.npz"]) == 1
    error = capsys.readouterr().err.strip()
    assert "given in memory (bars)" in error and "pass --dataset FOLDER holding them" in error and "\n" not in error


def test_a_known_dataset_given_in_memory_loads_again_by_its_name(tiny_dataset, tmp_path, monkeypatch):
    import dataclasses

    from xpnet.inference import trained_model

    fashion = dataclasses.replace(tiny_dataset, name="fashion-mnist")  # as load_dataset("fashion-mnist") gives it
    xpnet.fit(dataset=fashion, backend="numpy", hidden=(), epochs=1, log=None, save=tmp_path / "f.npz")
    asked = []
    monkeypatch.setattr(trained_model, "load_dataset", lambda name, *args, **kwargs: asked.append(name) or fashion)
    xpnet.load_model(tmp_path / "f.npz", backend="numpy").split("test")
    assert asked == ["fashion-mnist"]  # not the config's default, mnist
