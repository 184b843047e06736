"""A clear stop when training diverges: the loss or a parameter is not finite."""

from __future__ import annotations

import math

from ...arguments import passing
from ...errors import XpnetError
from ..loop import Extension


class DivergenceCheck(Extension):
    """Raises :class:`~xpnet.errors.XpnetError` after an epoch whose loss or parameters are not finite,
    naming the last finite loss, the last good checkpoint, and what to lower."""

    def epoch_end(self, run, record: dict) -> None:
        if math.isfinite(record["train_loss"]) and math.isfinite(run.params_sum):
            return
        what = "the loss" if not math.isfinite(record["train_loss"]) else "a parameter"
        before = run.history[-2] if len(run.history) > 1 else None
        last = f"{before['train_loss']:.4f} in epoch {before['epoch']}" if before else "none"
        kept = f"; the last good checkpoint is {run.last_saved}" if run.last_saved is not None else ""
        config = run.config
        lower = f"the learning rate (now {passing('--lr', str(config.lr))})"
        if config.weight_decay > 1:
            lower = f"the weight decay (now {passing('--weight-decay', str(config.weight_decay))}) or {lower}"
        raise XpnetError(f"training diverged in epoch {record['epoch']}: {what} is not finite (last finite loss: "
                         f"{last}){kept}; lower {lower}")
