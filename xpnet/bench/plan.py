"""What a bench run will time, how long that should roughly take, and its progress case by case.

Three plans: the default (one MLP at one batch size and the CNN on few images: a few minutes on a
2-core CPU), ``--full`` (every model, the CNN on 2,560 images, torch+compile: a quarter of an hour
or more there) and ``--quick`` (tiny sizes for tests). Flags that name cases or sizes override any plan.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from . import references as refs
from ..nn.architecture import EXAMPLE as DEFAULT_CNN

DEFAULT_BATCH = {(784, 128, 10): 128, (784, 10): 256, (784, 1024, 10): 1024}
DEFAULT_CNN_BATCH = 128
# A CNN epoch on all 60,000 images would take minutes per turn on a small CPU; 2,560 (20 batches of 128) do not.
FULL = {"models": tuple(DEFAULT_BATCH), "epochs": 3, "n_train": 60000, "cnn": (DEFAULT_CNN,),
        "cnn_batch_sizes": (DEFAULT_CNN_BATCH,), "cnn_images": 2560, "compiled_torch": True}
# The default: the MLP the README's targets are about, on a whole MNIST-sized epoch, and the CNN on 4 batches.
SHORT = {**FULL, "models": ((784, 128, 10),), "cnn_images": 512, "compiled_torch": False}
QUICK = {"models": ((784, 32, 10), (784, 10)), "batch_sizes": (64,), "epochs": 1, "n_train": 512,
         "cnn": ("conv4k3,pool,fc16",), "cnn_batch_sizes": (64,), "cnn_images": 256, "compiled_torch": False}

# A rough cost model of a 2-core CPU, fitted to runs there: matrix-product rates, the fixed cost
# of a turn (a fit call, a JAX compile), of a case (dispatch counting), of the run (imports, data)
# and torch.compile's per case.
MLP_GFLOP_PER_S, CNN_GFLOP_PER_S = 40.0, 15.0
TURN_S, CASE_S, RUN_S, TORCH_COMPILE_S = 1.5, 5.0, 20.0, 30.0
MLP_PEERS, CNN_PEERS = 3, 1  # numpy-loop, torch-eager and the GEMM floor; torch-conv2d


@dataclass(frozen=True)
class Case:
    """One model at one batch size: ``implementations`` runners, each ``rounds`` turns of two epochs
    over ``examples``; ``gflop`` is one epoch's matrix products."""

    model: str
    batch_size: int
    examples: int
    rounds: int
    implementations: int
    gflop: float
    convolutional: bool
    torch_compiled: bool

    @property
    def work(self) -> float:
        """GFLOP of the epochs this case runs: rounds x implementations x two epochs."""
        return self.rounds * self.implementations * 2 * self.gflop

    def estimate_seconds(self) -> float:
        """Roughly how long this case takes on a 2-core CPU (see the constants above)."""
        rate = CNN_GFLOP_PER_S if self.convolutional else MLP_GFLOP_PER_S
        turn = 2 * self.gflop / rate + TURN_S
        return self.rounds * self.implementations * turn + CASE_S + self.torch_compiled * TORCH_COMPILE_S


def cases(settings: dict) -> list[Case]:
    """The cases ``settings`` (as :func:`~xpnet.bench.command.settings_from` makes them) will time, in order."""
    entries = [str(entry) for entry in settings["backends"]]
    compiled_torch = any(entry.startswith("torch") and entry.endswith("+compile") for entry in entries)
    rounds, n, n_conv = settings["epochs"], settings["n_train"], settings["cnn_images"]
    found = [Case("-".join(map(str, sizes)), batch, n, rounds, len(entries) + MLP_PEERS,
                  refs.gemm_flops(list(sizes), n) / 1e9, False, compiled_torch)
             for sizes in settings["models"] for batch in settings["batch_sizes"][sizes]]
    found += [Case(arch.text, batch, n_conv, rounds, len(entries) + CNN_PEERS, refs.network_flops(arch, n_conv) / 1e9,
                   True, compiled_torch)
              for arch in settings["cnn"] for batch in settings["cnn_batch_sizes"]]
    return found


def estimate_line(planned: list[Case], full: list[Case] | None = None) -> str:
    """The line printed before a run: its cases and rounds and roughly how long they take;
    with ``full``, what ``--full`` would take beside it."""
    rounds = sorted({case.rounds for case in planned})
    line = (f"plan: {len(planned)} case(s), {'/'.join(map(str, rounds))} round(s) each: roughly "
            f"{_duration(estimate_seconds(planned))}")
    if full is not None:
        line += f"; --full times {len(full)} case(s): roughly {_duration(estimate_seconds(full))}"
    return line + " (an estimate for a 2-core CPU, from the cases and rounds)"


def estimate_seconds(planned: list[Case]) -> float:
    """Roughly how long a run of ``planned`` takes on a 2-core CPU, start to end."""
    return RUN_S + sum(case.estimate_seconds() for case in planned)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    return f"{seconds / 60:.0f} minutes"


class Progress:
    """Case by case: a tqdm bar on stderr when it is a terminal, else a line per case (start and end)."""

    def __init__(self, total: int, say, terminal: bool | None = None):
        self.total, self.say, self.index = total, say, 0
        terminal = sys.stderr.isatty() if terminal is None else terminal
        if terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True)
        else:
            self.bar = None

    def start(self, label: str) -> None:
        self.index += 1
        if self.bar is None:
            self.say(f"[{self.index}/{self.total}] {label}")
        else:
            self.bar.set_description(label)

    def done(self, seconds: float) -> None:
        if self.bar is None:
            self.say(f"[{self.index}/{self.total}] done in {seconds:.0f} s")
        else:
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
