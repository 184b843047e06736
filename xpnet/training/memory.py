"""Will the run fit? The bytes a run needs on its device, estimated before anything is
allocated, so that ``--hidden 1000000`` is refused in one line instead of failing after an
epoch (or taking the machine's swap with it).

A run plans for at most :data:`HEADROOM` of the memory free when it starts: the rest is for
what the estimate does not count (the interpreter and its libraries, the allocator's slack,
temporaries of a backend's kernels) and for the other programs on the machine.
"""

from __future__ import annotations

import math

from ..errors import UsageError

# A training step keeps every layer's pre-activation and activation for the backward pass, and
# holds the widest layer's gradient and a temporary; an evaluation batch, its widest activation
# and one temporary.
KEPT_PER_LAYER, TRAINING_COPIES, EVALUATION_COPIES = 2, 2, 2
HEADROOM = 0.8


def run_bytes(network, *, examples: int, batch: int, eval_batch: int, itemsize: int,
              optimizer_slots: int) -> dict[str, int]:
    """Bytes by part of training ``network`` (an :class:`xpnet.nn.architecture.Architecture`): the
    data (uint8 as moved, float as trained on, and the one-hot targets), the parameters with their
    gradients and optimiser state, and one step's activations (a convolutional network's with
    its patches)."""
    pixels = math.prod(network.image_shape)
    if network.is_convolutional:
        activations = max(batch * network.activation_values(training=True),
                          eval_batch * network.activation_values(training=False)) * itemsize
    else:
        layer_sizes = [pixels, *network.hidden_units, network.classes]
        kept = KEPT_PER_LAYER * sum(layer_sizes[1:]) + TRAINING_COPIES * max(layer_sizes)
        activations = max(batch * kept, eval_batch * EVALUATION_COPIES * max(layer_sizes)) * itemsize
    return {
        "the data": examples * (pixels * (1 + itemsize) + network.classes * itemsize + 8),
        "the weights, their gradients and the optimiser's state":
            network.parameter_count() * itemsize * (2 + optimizer_slots),
        "the activations of a batch": activations,
    }


def prediction_bytes(network, *, images: int, batch: int, itemsize: int, result_bytes: int) -> dict[str, int]:
    """Bytes by part of predicting ``images`` images ``batch`` at a time with ``network``: the results
    kept on the host (``result_bytes`` an image), and one batch as pixels (on the host and the
    device), as floats and through the network's layers."""
    pixels = math.prod(network.image_shape)
    if network.is_convolutional:
        forward = network.activation_values(training=False)
    else:
        forward = EVALUATION_COPIES * max(pixels, *network.hidden_units, network.classes)
    return {"the results": images * result_bytes,
            "a batch of images and its activations": min(batch, images) * (2 * pixels + (pixels + forward) * itemsize)}


def check_fits(parts: dict[str, int], available: int | None, where: str, *, task: str = "this run",
               fix: str = "use smaller layers, batches or data") -> None:
    """UsageError naming the largest part when ``parts`` add up to more than :data:`HEADROOM` of
    ``available`` bytes."""
    need = sum(parts.values())
    if available is None or need <= HEADROOM * available:
        return
    largest = max(parts, key=parts.get)
    raise UsageError(f"{task} needs about {_size(need)} on {where}, which has {_size(available)} free "
                     f"({largest}: {_size(parts[largest])}) and xpnet plans for at most {HEADROOM:.0%} of it; {fix}")


def memory_line(parts: dict[str, int], available: int | None) -> str:
    """``'memory: about 1.2 GiB of 21.0 GiB available'``: a run's estimate, for its header."""
    free = f"of {_size(available)} available" if available is not None else "(the memory free is unknown)"
    return f"memory: about {_size(sum(parts.values()))} {free}"


def _size(count: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count / 2**10:.1f} KiB"
