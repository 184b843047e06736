"""Will the run fit? The bytes a run needs on its device, estimated before anything is
allocated, so that ``--hidden 1000000`` is refused in one line instead of failing after an
epoch (or taking the machine's swap with it).
"""

from __future__ import annotations

from ..errors import UsageError

# A training step keeps the widest layer's activations, their gradient and a temporary or
# two; an evaluation batch, its activations and one temporary.
TRAINING_COPIES, EVALUATION_COPIES = 4, 2


def run_bytes(layer_sizes: list[int], *, examples: int, batch: int, eval_batch: int, itemsize: int,
              optimizer_slots: int, arch=None) -> dict[str, int]:
    """Bytes by part: the data (uint8 as moved, float as trained on, and the one-hot targets),
    the parameters with their gradients and optimiser state, and one step's activations.
    ``arch`` (an :class:`xpnet.nn.architecture.Architecture`) counts a convolutional network's
    parameters and its patches instead of the MLP of ``layer_sizes``."""
    if arch is not None and arch.is_convolutional:
        weights = arch.parameter_count()
        activations = max(batch * arch.activation_values(training=True),
                          eval_batch * arch.activation_values(training=False)) * itemsize
    else:
        weights = sum(a * b + b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
        activations = max(batch * TRAINING_COPIES, eval_batch * EVALUATION_COPIES) * max(layer_sizes) * itemsize
    return {
        "the data": examples * (layer_sizes[0] * (1 + itemsize) + layer_sizes[-1] * itemsize + 8),
        "the weights, their gradients and the optimiser's state": weights * itemsize * (2 + optimizer_slots),
        "the activations of a batch": activations,
    }


def check_fits(parts: dict[str, int], available: int | None, where: str) -> None:
    """UsageError naming the largest part when ``parts`` add up to more than ``available`` bytes."""
    need = sum(parts.values())
    if available is None or need <= available:
        return
    largest = max(parts, key=parts.get)
    raise UsageError(f"this run needs about {_size(need)} on {where}, which has {_size(available)} free "
                     f"({largest}: {_size(parts[largest])}); use smaller layers, batches or data")


def _size(count: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count / 2**10:.1f} KiB"
