"""A note when a resumed run's learning-rate schedule now spans another number of epochs."""

from __future__ import annotations

from dataclasses import replace

from ..loop import Extension


class ScheduleNote(Extension):
    """Says, at the start of a resumed run whose ``--epochs`` changed, where its schedule now stands
    against where the planned run would have been."""

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint

    def run_start(self, run) -> None:
        config, checkpoint = run.config, self.checkpoint
        planned = checkpoint.config.get("epochs")
        if (planned == config.epochs or checkpoint.epoch >= config.epochs
                or (config.schedule == "constant" and not config.warmup_epochs)):
            return
        was = replace(config, epochs=planned).make_schedule(run.schedule.steps_per_epoch)
        step = (checkpoint.in_progress or {}).get("steps", 0)
        if checkpoint.epoch < planned:
            before = f"{was.lr_at(checkpoint.epoch, step):.3g} as planned"
        else:
            before = f"{was.lr_at(planned - 1, was.steps_per_epoch - 1):.3g} where the planned run ended"
        run.say(f"note: the {config.schedule} schedule was planned for {planned} epochs and now spans "
                f"{config.epochs}: the learning rate at epoch {run.first_epoch} is "
                f"{run.schedule.lr_at(checkpoint.epoch, step):.3g}, not {before}")
