"""A run made ready to train: its data on the device and its model, drawn afresh or resumed."""

from __future__ import annotations

import numpy as np

from ..arguments import option
from ..backend import Backend
from ..data import Dataset
from ..nn.architecture import Architecture
from ..nn.augment import shift_size
from ..nn.init import init_shaped
from .checkpoint import Checkpoint, CheckpointError
from .compiled import CompiledEpochs
from .config import Config, as_usage_errors
from .device_data import device_splits
from .early_stopping import DevWatch
from .epoch import batch_count, train_epoch
from .memory import check_fits, memory_line, run_bytes
from .resuming import kept_best, restore
from .run_state import RunState, Splits
from .starting import Outputs, Start


def prepare_run(start: Start, backend: Backend, dataset: Dataset, say) -> RunState:
    """The data on the device and the model: drawn afresh, or as the checkpoint left it."""
    config = start.config
    with as_usage_errors():
        shift_size(config.shift, dataset.image_shape)  # a shift as large as the image leaves nothing
    network = config.network(dataset.image_shape, dataset.num_classes)
    if start.checkpoint is not None:  # before the memory check: an edited config may ask for huge layers
        _check_compatible(start.checkpoint, start.path, network, config)
    memory = _check_memory(config, backend, dataset, network)
    rng = np.random.default_rng(config.seed)
    data = Splits(*device_splits(dataset, config, backend, rng))
    run = RunState(config, backend, dataset, start.outputs, rng, data, network, config.make_optimizer(), None,
                   say=say, memory=memory)
    run.schedule = config.make_schedule(batch_count(data.train.size, run.batch_size))
    compiled = config.compile or (config.compile is None and backend.compiles_by_default)
    run.epoch_function = CompiledEpochs(backend, say) if compiled else train_epoch
    if start.checkpoint is None:
        host_params = init_shaped(network.fans(), network.param_shapes(), rng, config.init, config.bias_init,
                                  config.dtype)
    else:
        run.resumed_from = start.path
        host_params = restore(run, start.checkpoint)
    run.params = [(backend.asarray(W), backend.asarray(b)) for W, b in host_params]
    if config.early_stopping or config.keep_best:
        kept = start.checkpoint.progress.get("watch") if start.checkpoint is not None else None
        run.watch = DevWatch.resumed(config.monitor, config.early_stopping, kept, run.history)
        run.best = kept_best(run)
    if config.dry_run:  # its one step is no epoch: it must never replace a checkpoint, a model or metrics
        run.outputs = Outputs(checkpoint_every=start.outputs.checkpoint_every)
    return run


def _check_memory(config: Config, backend: Backend, dataset: Dataset, network: Architecture) -> str:
    """UsageError, before anything is moved, when the run of ``network`` cannot fit in the device's free
    memory; else the header's line saying how much it takes."""
    train, test = dataset.train_images.shape[0], dataset.test_images.shape[0]
    # No batch holds more than its split: the train split (the dev split is cut from it), or the test split.
    parts = run_bytes(network, examples=train + test, batch=min(config.batch_size or train, train),
                      eval_batch=min(config.evaluation_batch(network), max(train, test)),
                      itemsize=np.dtype(config.dtype).itemsize,
                      optimizer_slots=len(getattr(config.make_optimizer(), "slots", ())))
    available = backend.available_bytes()
    check_fits(parts, available, f"{backend.name} {backend.device_name}")
    return memory_line(parts, available)


def _check_compatible(checkpoint: Checkpoint, path, network: Architecture, config: Config) -> None:
    held = checkpoint.network()
    if held.param_shapes() != network.param_shapes() or checkpoint.dtype != config.dtype:
        raise CheckpointError(
            f"the checkpoint {path} holds a {held.title()} {checkpoint.dtype} model "
            f"but this run asks for {network.title()} {config.dtype}; "
            f"resume without changing {', '.join(option(flag) for flag in ('--hidden', '--arch', '--dtype'))} "
            f"or {option('--dataset')}"
        )
