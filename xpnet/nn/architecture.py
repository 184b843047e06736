"""A network in one line: ``conv32k5,pool,conv64k5,pool,fc256``.

Tokens, left to right from the image to the classes:

- ``convFkK``: a :class:`~xpnet.nn.conv.Conv2d` of ``F`` filters, ``K`` x ``K``, ``same``
  padding (the image keeps its size; ``K`` odd), then ReLU; ``convFkKv``: ``valid`` padding
  (the image shrinks by ``K - 1``).
- ``pool``: 2 x 2 max-pooling (:class:`~xpnet.nn.conv.MaxPool2d`); ``avgpool``: 2 x 2
  average pooling (:class:`~xpnet.nn.conv.AvgPool2d`).
- ``fcN``: a :class:`~xpnet.nn.layers.Dense` layer of ``N`` units, then ReLU (and dropout,
  when the run has it). The first ``fc`` after convolutions flattens the image first.

The last Dense layer, to the classes, is always there and never written. An MLP is its
``fc`` tokens alone: hidden widths ``(512, 256)`` are ``fc512,fc256``, and softmax regression
is the empty architecture (``''``). Parameters stay the plain list ``[(W, b), ...]``,
one pair per Conv2d or Dense layer: a Conv2d's ``W`` is (k, k, c_in, c_out), a Dense
layer's (fan_in, fan_out); an MLP's are exactly those of :func:`xpnet.nn.init.init_params`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from ..arguments import MAX_LAYERS, MAX_WIDTH, shown, whole_number
from .checks import ParameterError, ParameterTypeError
from .conv import POOLS, AvgPool2d, Conv2d, Flatten, MaxPool2d
from .layers import Dense, Dropout, ReLU
from .network import mlp_title

_TOKEN = re.compile(r"conv([0-9]+)k([0-9]+)(v?)|pool|avgpool|fc([0-9]+)")
EXAMPLE = "conv32k5,pool,conv64k5,pool,fc256"
SUBJECT = "the architecture text"  # how errors name parse_arch's and Architecture.of's ``text``


def parse_arch(text) -> tuple[str, ...]:
    """``'conv32k5, pool,fc256'`` -> ``('conv32k5', 'pool', 'fc256')``; a ParameterError naming a bad token."""
    if isinstance(text, (tuple, list)):
        tokens = [str(token) for token in text]
    elif isinstance(text, str):
        tokens = [token for token in re.split(r"[,\s]+", text.strip()) if token]
    else:
        raise ParameterTypeError("text", lambda name: f"{name} must be text such as {EXAMPLE!r}, got {shown(text)}",
                                 SUBJECT)
    if len(tokens) > MAX_LAYERS:
        raise ParameterError("text", lambda name: f"{name} has {len(tokens)} layers, and at most {MAX_LAYERS} are "
                             "allowed (a deeper network takes minutes to compile and gigabytes of memory); use fewer",
                             SUBJECT)
    return tuple(_normalised(token) for token in tokens)


def _normalised(token: str) -> str:
    """One token in its one spelling (conv08k03 is conv8k3), its sizes 1 to MAX_WIDTH; ParameterError otherwise."""
    match = _TOKEN.fullmatch(token.lower())
    if match is None:
        raise ParameterError("text", lambda name: f"unknown layer {shown(token)} in {name}; use convFkK (F filters, "
                             "KxK, same padding; convFkKv: valid), pool (2x2 max), avgpool (2x2 mean) or fcN "
                             f"(N units), e.g. {EXAMPLE}", SUBJECT)
    filters, kernel, valid, units = match.groups()
    try:
        sizes = [whole_number(number, "size", MAX_WIDTH, 1) for number in (filters, kernel, units) if number]
    except ValueError:
        raise ParameterError("text", lambda name: f"layer {shown(token)} in {name} needs sizes of at least 1 and at "
                             f"most {MAX_WIDTH:,} (the digits 0-9)", SUBJECT) from None
    if filters:
        return f"conv{sizes[0]}k{sizes[1]}{valid}"
    return f"fc{sizes[0]}" if units else token.lower()


@dataclass(frozen=True)
class Architecture:
    """The layers from an image of ``image_shape`` (height, width, channels) to ``classes`` scores."""

    tokens: tuple[str, ...]
    image_shape: tuple[int, int, int]
    classes: int

    @classmethod
    def of(cls, text, image_shape, classes: int) -> "Architecture":
        """The architecture ``text`` describes (see :func:`parse_arch`), checked against the image size."""
        height, width = image_shape[0], image_shape[1]
        channels = image_shape[2] if len(image_shape) > 2 else 1
        arch = cls(parse_arch(text), (int(height), int(width), int(channels)), int(classes))
        arch.layers()  # refuses a geometry that cannot work: a kernel larger than its image, an odd size to pool
        return arch

    @classmethod
    def mlp(cls, hidden, image_shape, classes: int) -> "Architecture":
        """The MLP with ``hidden`` layer widths."""
        return cls.of([f"fc{units}" for units in hidden], image_shape, classes)

    @property
    def text(self) -> str:
        """``'conv32k5-pool-fc256'``; an MLP's is its hidden widths, ``'128'``."""
        return "-".join(self.tokens)

    @property
    def is_convolutional(self) -> bool:
        return any(not token.startswith("fc") for token in self.tokens)

    @property
    def hidden_units(self) -> tuple[int, ...]:
        """The widths of the ``fc`` layers: the layers dropout masks."""
        return tuple(int(token[2:]) for token in self.tokens if token.startswith("fc"))

    def layers(self, dropout: bool = False) -> tuple:
        """The layer objects, in order, the last one the Dense layer to the classes (built once per
        architecture, so that a compiler sees the same objects at every call)."""
        return _layers(self, dropout)

    def _build(self, dropout: bool) -> tuple:
        built, shape, fc_index = [], self.image_shape, 0
        for token in self.tokens:
            match = _TOKEN.fullmatch(token)
            if token in ("pool", "avgpool"):
                if shape is None:
                    raise self._refused(f"{token} must come before the fc layers")
                try:
                    built.append((MaxPool2d if token == "pool" else AvgPool2d)(shape))
                except ValueError as error:
                    raise self._refused(f"{error} there") from None
                shape = built[-1].out_shape
            elif token.startswith("conv"):
                if shape is None:
                    raise self._refused("conv layers must come before the fc layers")
                filters, kernel, valid = int(match.group(1)), int(match.group(2)), bool(match.group(3))
                try:
                    built += [Conv2d(shape, filters, kernel, "valid" if valid else "same"), ReLU()]
                except ValueError as error:
                    raise self._refused(f"{token}: {error}") from None
                shape = built[-2].out_shape
            else:
                if shape is not None and self.is_convolutional:
                    built.append(Flatten())
                shape = None
                built += [Dense(), ReLU()] + ([Dropout(fc_index)] if dropout else [])
                fc_index += 1
        if shape is not None and self.is_convolutional:
            built.append(Flatten())
        return tuple(built + [Dense()])

    def _refused(self, problem: str) -> ParameterError:
        """The error for tokens that cannot be built on images of this shape, naming ``text`` and its tokens."""
        return ParameterError("text", lambda name: f"{name} {','.join(self.tokens)}: {problem}", SUBJECT)

    def title(self) -> str:
        """``'CNN conv32k5-pool-fc256 (28x28x1 -> 10)'``, or ``'MLP 784-128-10'`` as for any MLP."""
        if not self.is_convolutional:
            return mlp_title([math.prod(self.image_shape), *self.hidden_units, self.classes])
        height, width, channels = self.image_shape
        return f"CNN {self.text} ({height}x{width}x{channels} -> {self.classes})"

    def param_shapes(self) -> list[tuple[tuple[int, ...], tuple[int]]]:
        """``[(W shape, b shape), ...]``, one pair per Conv2d or Dense layer."""
        shapes, width = [], math.prod(self.image_shape)
        for layer in self.layers():
            if isinstance(layer, Conv2d):
                k, (_, _, c_in) = layer.kernel, layer.in_shape
                shapes.append(((k, k, c_in, layer.out_channels), (layer.out_channels,)))
                width = math.prod(layer.out_shape)
            elif isinstance(layer, POOLS):
                width = math.prod(layer.out_shape)
        units = list(self.hidden_units) + [self.classes]
        for fan_out in units:
            shapes.append(((width, fan_out), (fan_out,)))
            width = fan_out
        return shapes

    def fans(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of each parameter layer, as PyTorch counts them (a kernel's: k*k*c_in, k*k*c_out)."""
        found = []
        for W_shape, _ in self.param_shapes():
            if len(W_shape) == 4:
                k, _, c_in, c_out = W_shape
                found.append((k * k * c_in, k * k * c_out))
            else:
                found.append(W_shape)
        return found

    def activation_values(self, training: bool = True) -> int:
        """Values one example keeps through a training step (or, not ``training``, a forward pass):
        each layer's output and its gradient, and each convolution's patches, forward (whole
        patches: oh*ow*k*k*c_in; kernel rows: h*ow*k*(c_in + c_out), the 1 x k patches and their
        products) and, training, backward (oh*w*k*(c_in + c_out), and kernel rows' moved
        output gradients h*ow*k*c_out)."""
        total = 0
        for layer in self.layers():
            if isinstance(layer, Conv2d):
                (h, w, c_in), (oh, ow, c_out), k = layer.in_shape, layer.out_shape, layer.kernel
                forward = oh * ow * k * k * c_in if layer.im2col else h * ow * k * (c_in + c_out)
                backward = oh * w * k * (c_in + c_out) + (0 if layer.im2col else h * ow * k * c_out)
                total += forward + 2 * oh * ow * c_out + (backward if training else 0)
            elif isinstance(layer, POOLS):
                total += 2 * math.prod(layer.out_shape) + math.prod(layer.in_shape)
        return total + 4 * (max(self.hidden_units, default=0) + self.classes)

    def parameter_count(self) -> int:
        return sum(math.prod(W) + math.prod(b) for W, b in self.param_shapes())


@lru_cache(maxsize=64)
def _layers(arch: Architecture, dropout: bool) -> tuple:
    return arch._build(dropout)
