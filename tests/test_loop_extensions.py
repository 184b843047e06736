"""The loop calls extensions at its hook points, in order, and a user's own extension sees what it should."""

import pytest

import xpnet
from xpnet.training.loop import Extension

RUN = dict(backend="numpy", hidden=(8,), epochs=3, batch_size=100, seed=0)


class Recorder(Extension):
    """Writes down every hook call it gets, with the epoch where there is one."""

    per_step = True

    def __init__(self):
        self.calls = []

    def run_start(self, run):
        self.calls.append(("run_start", run.first_epoch))

    def epoch_start(self, run, epoch):
        self.calls.append(("epoch_start", epoch))

    def step_end(self, run):
        self.calls.append(("step_end", None))

    def epoch_end(self, run, record):
        assert run.history[-1] is record
        record["custom"] = record["epoch"] * 10
        self.calls.append(("epoch_end", record["epoch"]))

    def interrupted(self, run, stop):
        self.calls.append(("interrupted", stop.epoch))

    def run_end(self, run, summary):
        self.calls.append(("run_end", summary["epochs"]))


def test_hooks_come_in_order_and_what_an_extension_adds_is_kept(tiny_dataset, tmp_path):
    recorder = Recorder()
    result = xpnet.fit(dataset=tiny_dataset, log=None, extensions=[recorder], metrics_path=str(tmp_path / "m.jsonl"),
                       **RUN)
    steps = -(-tiny_dataset.train_images.shape[0] // 100)
    expected = [("run_start", 1)]
    for epoch in (1, 2, 3):
        expected += [("epoch_start", epoch)] + [("step_end", None)] * steps + [("epoch_end", epoch)]
    assert recorder.calls == expected + [("run_end", 3)]
    assert [record["custom"] for record in result.history] == [10, 20, 30]
    assert '"custom": 30' in (tmp_path / "m.jsonl").read_text()


def test_an_extension_ends_the_run_early_by_setting_a_stop_reason(tiny_dataset, capsys):
    class StopAfterTwo(Extension):
        def epoch_end(self, run, record):
            if record["epoch"] == 2:
                run.stop_reason = "stopped by my extension after epoch 2"

    result = xpnet.fit(dataset=tiny_dataset, extensions=[StopAfterTwo()], **RUN)
    assert len(result.history) == 2 and result.summary["epochs"] == 2


def test_a_signal_reaches_the_extensions_interrupted_hook(tiny_dataset, tmp_path, monkeypatch):
    from stopping import stop_after

    recorder = Recorder()
    monkeypatch.chdir(tmp_path)
    stop_after(monkeypatch, 4)
    with pytest.raises(xpnet.TrainingInterrupted, match="in epoch 1 after 4 step"):
        xpnet.fit(dataset=tiny_dataset, log=None, extensions=[recorder], **RUN)
    assert recorder.calls[-1] == ("interrupted", 1) and ("run_end", 3) not in recorder.calls


@pytest.mark.parametrize("extensions", ["abc", None, [object()], Recorder()])
def test_extensions_that_are_not_a_list_of_extensions_are_one_line(tiny_dataset, extensions):
    with pytest.raises(xpnet.UsageError, match="extensions must be a list of xpnet.training.loop.Extension"):
        xpnet.fit(dataset=tiny_dataset, log=None, extensions=extensions, **RUN)


def test_the_eager_and_compiled_runs_share_one_step(tiny_dataset, monkeypatch):
    """Both call xpnet.training.step.Step: counting its calls sees every eager step, and a compiled
    JAX run traces it (a handful of calls for a whole run), never a second copy of the batch body."""
    pytest.importorskip("jax")
    from xpnet.training import step as step_module

    calls = {"n": 0}
    original = step_module.Step.__call__

    def counted(self, *args):
        calls["n"] += 1
        return original(self, *args)

    monkeypatch.setattr(step_module.Step, "__call__", counted)
    xpnet.fit(dataset=tiny_dataset, log=None, **RUN)
    eager = calls["n"]
    calls["n"] = 0
    xpnet.fit(dataset=tiny_dataset, log=None, **{**RUN, "backend": "jax"})
    assert eager == 3 * -(-tiny_dataset.train_images.shape[0] // 100)
    assert 1 <= calls["n"] <= 2  # traced: the scanned full batch, and the last partial one if any


class StepReader(Extension):
    """Reads the parameters after every step, as a user's per-step extension may."""

    per_step = True

    def __init__(self):
        self.sums = []

    def step_end(self, run):
        self.sums.append(float(sum(xpnet.to_numpy(W).sum() for W, _ in run.params)))


@pytest.mark.parametrize("backend, compile", [("numpy", None), ("jax", False), ("jax", True)])
def test_a_per_step_extension_reads_the_parameters_each_step_left(tiny_dataset, backend, compile):
    """Eagerly each step_end sees that step's parameters; after a compiled JAX epoch (one call, its
    parameters' buffers donated) each sees the epoch's last ones, not spent buffers."""
    if backend == "jax":
        pytest.importorskip("jax")
    reader = StepReader()
    result = xpnet.fit(dataset=tiny_dataset, log=None, extensions=[reader],
                       **{**RUN, "backend": backend, "compile": compile, "epochs": 1})
    steps = -(-tiny_dataset.train_images.shape[0] // RUN["batch_size"])
    assert len(reader.sums) == steps
    assert reader.sums[-1] == pytest.approx(float(sum(W.sum() for W, _ in result.host_params())), rel=1e-6)
    assert len(set(reader.sums)) == (1 if compile else steps)


class Raises(Extension):
    def epoch_end(self, run, record):
        if record["epoch"] == 2:
            raise RuntimeError("the user's own bug")


def test_an_extension_that_raises_ends_the_run_with_its_error_and_leaves_the_folder_usable(tiny_dataset, tmp_path):
    folder = tmp_path / "runs"
    with pytest.raises(RuntimeError, match="the user's own bug"):
        xpnet.fit(dataset=tiny_dataset, log=None, extensions=[Raises()], checkpoint_dir=str(folder), **RUN)
    assert sorted(path.name for path in folder.glob("*.npz")) == ["epoch-0001.npz"]
    result = xpnet.fit(dataset=tiny_dataset, log=None, checkpoint_dir=str(folder), **RUN)  # the lock is free
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
