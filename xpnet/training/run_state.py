"""``RunState``: what a run carries from one epoch to the next, and what its extensions read."""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..backend import Backend, to_numpy
from ..data import Dataset
from ..inference.terminal import printable
from ..nn.architecture import Architecture
from .checkpoint import Checkpoint
from .compiled import CompiledEpochs
from .config import Config
from .device_data import DeviceSplit
from .epoch import EpochTotals, batch_count
from .starting import Outputs

# A checkpoint carries the last HISTORY_KEPT epochs' records (the metrics file has them all), so
# writing one costs the same in epoch 10 and in epoch 10,000.
HISTORY_KEPT = 100


def warn(line: str) -> None:
    """A warning line on stderr (a path in it may hold an escape sequence: printed escaped)."""
    print(f"warning: {printable(line)}", file=sys.stderr, flush=True)


@dataclass
class Splits:
    """A run's data on the device: ``train`` (with one-hot labels), ``dev`` (or None) and ``test``."""

    train: DeviceSplit
    dev: DeviceSplit | None
    test: DeviceSplit


@dataclass
class RunState:
    """A run between two epochs: its settings, data, network and optimiser, its host generator,
    where it stands (``params``, ``history``), and what its extensions share (``best``,
    ``last_saved``, ``stop_reason``). :func:`xpnet.training.loop.train` moves it on; extensions
    read it and may set ``stop_reason`` to end the run after the current epoch.
    """

    config: Config
    backend: Backend
    dataset: Dataset
    outputs: Outputs
    rng: np.random.Generator
    data: Splits
    network: Architecture
    optimizer: object
    schedule: object
    say: Callable[[str], None] = print
    params: list = field(default_factory=list)
    epoch_totals: EpochTotals | None = None  # the epoch's totals as its last step left them (set for step_end)
    history: list[dict] = field(default_factory=list)
    first_epoch: int = 1
    in_progress: dict | None = None  # where a resumed run stopped inside its epoch
    resumed_from: Path | None = None
    seconds_dropped: float = 0.0  # training seconds of the epochs before those in ``history``
    epoch_function: Callable | None = None  # eager :func:`~xpnet.training.epoch.train_epoch` or compiled
    params_sum: float = 0.0  # the sum of every parameter after the last epoch: not finite once one is not
    best: Checkpoint | None = None  # the best epoch so far, when the dev split is watched
    watch: object = None  # the :class:`~xpnet.training.early_stopping.DevWatch`, when there is one
    last_saved: Path | None = None  # the newest checkpoint written
    stop_reason: str | None = None  # set by an extension: the run ends after this epoch
    memory: str = ""  # the header's line of what the run takes, of the memory available
    data_in_memory: str | None = None  # the name of a Dataset given in memory (not loadable by name)

    @property
    def compiled(self) -> CompiledEpochs | None:
        """The compiled epochs the run trains with; None: each step runs eagerly, operation by operation."""
        return self.epoch_function if isinstance(self.epoch_function, CompiledEpochs) else None

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def batch_size(self) -> int | None:
        """Examples per step; None: the whole training split (full batch)."""
        size = self.config.batch_size
        return None if size is None or size >= self.data.train.size else size

    @property
    def steps_per_epoch(self) -> int:
        """Steps (batches) in each epoch: the same in every epoch of the run, and in a resumed one."""
        return batch_count(self.data.train.size, self.batch_size)

    @property
    def layer_sizes(self) -> list[int]:
        return [self.data.train.X.shape[1], *self.network.hidden_units, self.dataset.num_classes]

    @property
    def epochs_done(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0

    def train_seconds(self) -> float:
        return self.seconds_dropped + sum(record["seconds"] for record in self.history)

    def snapshot(self, epoch: int, in_progress: dict | None = None) -> Checkpoint:
        """The run after ``epoch`` epochs (and ``in_progress``: the steps of the next), on the host."""
        progress = {"train_seconds": self.train_seconds(), **({"watch": self.watch.state()} if self.watch else {})}
        history = copy.deepcopy(self.history[-HISTORY_KEPT:])
        return Checkpoint(params=[(to_numpy(W), to_numpy(b)) for W, b in self.params],
                          config=self.config.to_dict(), epoch=epoch, history=history,
                          rng_state=self.rng.bit_generator.state, optimizer_state=self.optimizer.state_dict(),
                          in_progress=in_progress, num_classes=self.dataset.num_classes,
                          image_shape=self.dataset.image_shape, outputs=self.outputs.to_dict(), progress=progress,
                          data_in_memory=self.data_in_memory)
