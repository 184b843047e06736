"""Inverted dropout whose masks are drawn on the host, one transfer per epoch.

Each epoch draws one uint8 code per (example position, hidden unit) from the run's
host generator, right after the epoch's permutation, and moves them to the device in
one copy per hidden layer; a step slices its rows (a view, no transfer) and keeps a
unit where its code is at least ``round(p * 256)``. The masks are therefore the same on
every backend for a seed, and a resumed run redraws exactly the same ones.
"""

from __future__ import annotations

import numpy as np

from .checks import fraction

LEVELS = 256


def dropout_rate(p) -> float:
    """``p`` if it is a usable dropout rate, in [0, 0.99) (:class:`~xpnet.nn.checks.ParameterError` otherwise).

    Rates are quantised to 1/256; the bound keeps at least one level, so some units survive.
    """
    return fraction("p", p, below=0.99, label="the dropout rate")


class EpochDropout:
    """Dropout codes of one epoch: a (n, h) uint8 device array per hidden layer.

    ``p`` is the probability of dropping a unit, quantised to 1/256; kept units are
    scaled by 1 / (1 - p) so that the expected activation is unchanged.
    """

    def __init__(self, rng: np.random.Generator, n: int, hidden: tuple[int, ...], p: float, to_device):
        self.threshold = round(dropout_rate(p) * LEVELS)
        self.scale = LEVELS / (LEVELS - self.threshold)
        self.codes = [to_device(rng.integers(0, LEVELS, size=(n, h), dtype=np.uint8)) for h in hidden]

    def rows(self, start: int, stop: int) -> list:
        """Per hidden layer, the (stop - start, h) codes of rows ``start:stop`` (views, no transfer)."""
        return [codes[start:stop, :] for codes in self.codes]

    def factors(self, codes, dtype, xp):
        """Per hidden layer, the factors 0 or 1 / (1 - p) of the codes ``codes`` (m, h) uint8, such as
        :meth:`rows` gives (a compiled step traces this with the batch's codes sliced for it)."""
        return [xp.astype(layer_codes >= self.threshold, dtype) * self.scale for layer_codes in codes]
