"""How a run starts: afresh, from a checkpoint (``--resume``), or where the same command
left off (rerun with the same ``--checkpoint-dir``).

A checkpoint carries its run's settings and where the run writes. Resuming keeps the
settings; it writes where the run wrote only when the checkpoint lies in its run's own
folder (proved by the folder's identity), and only inside that folder.
Settings that only say how or where to compute (``MAY_CHANGE``: more epochs, another device,
the data's folder) may differ on resuming (``log_interval`` is never taken from the checkpoint:
the command's, default None); any other setting that differs makes it another
run, and is refused with its name, never silently applied.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..arguments import flags_are_named, option, passing, together
from ..errors import UsageError
from ..inference.terminal import printable
from ..nn.architecture import parse_arch
from .checkpoint import Checkpoint, load_checkpoint
from .checkpoint_folder import (INTERRUPTED_NAME, epoch_checkpoints, folder_identity, forget_run, is_folder,
                                newest_usable)
from .config import PRESETS, Config, from_preset

if TYPE_CHECKING:  # (run.py calls plan: importing it here would be circular)
    from .run import RunOptions

#: The settings a resumed run may change; every other flag must agree with the checkpoint.
MAY_CHANGE = frozenset({"epochs", "log_interval", "threads", "eval_batch_size", "data_dir", "download",
                        "backend", "device", "dry_run", "compile"})


@dataclass
class Outputs:
    """Where a run writes: metrics (JSON Lines), the final model, periodic checkpoints."""

    metrics_path: str | None = None
    save_path: str | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 1
    folder_id: str | None = None  # the checkpoint folder's identity, once the run holds its lock

    def to_dict(self) -> dict:
        """Absolute paths, as a checkpoint keeps them (a resume from another folder writes to the same places)."""
        return {"metrics_path": _absolute(self.metrics_path), "save_path": _absolute(self.save_path),
                "checkpoint_dir": _absolute(self.checkpoint_dir), "checkpoint_every": self.checkpoint_every,
                "folder_id": self.folder_id}


@dataclass
class Start:
    """The run a command starts: its settings, and the checkpoint (and its path) it continues, if any."""

    config: Config
    outputs: Outputs
    checkpoint: Checkpoint | None = None
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


def plan(config: Config | None, preset: str | None, overrides: dict, options: RunOptions, *,
         dataset_in_memory: bool = False, skipped: Callable[[str], None] | None = None) -> Start:
    """Decide how the run starts: from ``options``' ``resume`` and ``restart``, with its output
    arguments (None: not given).

    ``--resume``: the checkpoint's settings, with the given ones that agree or ``MAY_CHANGE``.
    Otherwise, a ``checkpoint_dir`` holding this same run continues it (``restart`` deletes
    it and starts over), and one holding another run is refused, naming the first difference.
    """
    given = {key: value for key, value in options.outputs().items() if value is not None}
    resume, restart = options.resume, options.restart
    if resume is not None:
        if restart:
            raise UsageError(f"{option('--restart')} starts a run over; it cannot be combined with "
                             f"{option('--resume')}")
        if config is not None:
            raise UsageError("pass either a Config, or a preset or checkpoint with overrides, not both")
        path, checkpoint = _load(resume, skipped)
        explicit = {**(_preset_settings(preset)), **overrides}
        conflicts = _differences(checkpoint.config, explicit, dataset_in_memory)
        if conflicts:
            raise UsageError(f"{path} continues a run that was trained with other settings: {'; '.join(conflicts)}; "
                             "leave these out to resume it, or start a new run")
        # Only flags given change the run: a preset's epoch count does not stretch it. How often it
        # prints is this command's alone: an older checkpoint's log_interval counted epochs, not batches.
        kept = _config(checkpoint.config).replace(
            **{"log_interval": None, **{k: v for k, v in overrides.items() if k in MAY_CHANGE}})
        start = Start(kept.found_data_dir(overrides.get("data_dir")).validate(), _merged({}, given), checkpoint, path)
        _adopt_outputs(start, checkpoint, path, given)
        return start
    if config is None:
        config = from_preset(preset, **overrides)
    elif preset is not None or overrides:
        raise UsageError("pass either a Config, or a preset or checkpoint with overrides, not both")
    config.validate().check_dropout_has_units()
    start = Start(config, _merged({}, given))
    folder = given.get("checkpoint_dir")
    if folder is None or not Path(folder).is_dir() or not _holds_a_run(Path(folder)):
        return start
    if restart:
        removed = forget_run(folder)
        start.notes.append(f"{passing('--restart')}: deleted the {len(removed)} checkpoint(s) of the previous run "
                           f"in {folder}")
        return start
    path, checkpoint = newest_usable(folder, skipped)
    difference = _differences(checkpoint.config, config.to_dict(), dataset_in_memory, first_only=True)
    if difference:
        raise UsageError(f"{folder} holds checkpoints of another run ({difference[0]}); add {passing('--restart')} to "
                         f"start over there, or choose another {option('--checkpoint-dir')}")
    start.checkpoint, start.path = checkpoint, path  # the same command: its own outputs, nothing adopted
    return start


def _adopt_outputs(start: Start, checkpoint: Checkpoint, path: Path, given: dict) -> None:
    """Resuming writes where the run wrote, unless told otherwise, only where that is safe: the
    checkpoint lies in its run's checkpoint folder, proved by the folder's identity (a file
    name or a stored path proves nothing: a received file may carry any), and each output lies
    inside that folder. The outputs not adopted are named in a note, with how to give them."""
    stored = checkpoint.outputs
    home = Path(os.path.realpath(path.parent))
    claimed, folder = stored.get("folder_id"), stored.get("checkpoint_dir")
    # the identity, and the folder where it lies: a copy of the folder (the same identity) is not its run's folder
    at_home = (claimed is not None and claimed == folder_identity(home) and folder is not None
               and os.path.isabs(folder) and Path(os.path.realpath(folder)) == home)
    adopted = {"checkpoint_every": stored.get("checkpoint_every")}
    refused = []
    for key, flag in (("checkpoint_dir", "--checkpoint-dir"), ("save_path", "--save"), ("metrics_path", "--metrics")):
        value = stored.get(key)
        if value is None or key in given:
            continue
        if at_home and _inside(value, home):
            adopted[key] = value
        else:
            refused.append(printable(passing(flag, shlex.quote(value) if flags_are_named() else value)))
    start.outputs = _merged(adopted, given)
    if refused:
        why = (f"resuming writes only inside {home}, its checkpoint folder" if at_home
               else f"{path} comes from a run without a checkpoint folder" if folder is None
               else f"nothing proves that {path} lies in its run's folder (a copy, a received file, an older xpnet's)")
        start.notes.append(f"note: {why}, so this run does not write where that run wrote "
                           f"({together(refused)}); "
                           f"to write there, pass {'these flags' if flags_are_named() else 'them'} again")


def _inside(stored: str, folder: Path) -> bool:
    """Whether the absolute path ``stored``, links resolved, is ``folder`` or lies under it."""
    return os.path.isabs(stored) and Path(os.path.realpath(stored)).is_relative_to(folder)


def _load(resume, skipped) -> tuple[Path, Checkpoint]:
    resume = Path(resume)
    if is_folder(resume):
        return newest_usable(resume, skipped)
    return resume, load_checkpoint(resume)


def _holds_a_run(folder: Path) -> bool:
    return bool(epoch_checkpoints(folder)) or (folder / INTERRUPTED_NAME).is_file()


def _preset_settings(preset: str | None) -> dict:
    if preset is None:
        return {}
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[preset].settings)


def _config(settings: dict) -> Config:
    """A Config from a checkpoint's settings, leaving out any this xpnet does not know."""
    known = set(Config.__dataclass_fields__)
    return Config().replace(**{key: value for key, value in settings.items() if key in known})


def _differences(trained: dict, asked: dict, dataset_in_memory: bool, first_only: bool = False) -> list[str]:
    """``'--lr 0.05 (the checkpoint's run has 0.1)'`` for each setting in ``asked`` that differs from ``trained``."""
    before = _config(trained).to_dict()
    checked = _config(trained).replace(**asked).validate().to_dict()
    network = _network_difference(trained, asked)
    found = [network] if network else []
    if found and first_only:
        return found
    for key in asked:
        if key in MAY_CHANGE or key in ("arch", "hidden") or (key == "dataset" and dataset_in_memory):
            continue
        if checked[key] != before[key]:
            found.append(f"{_flag(key, checked[key])} (the checkpoint's run has {_value(key, before[key])})")
            if first_only:
                break
    return found


def _network_difference(trained: dict, asked: dict) -> str | None:
    """``'--arch conv8k3,fc64 (the checkpoint's run has conv8k3,fc32)'`` when ``asked`` (``arch``,
    ``hidden`` or both) describes another network than the checkpoint's; None for the same one."""
    if "arch" not in asked and "hidden" not in asked:
        return None
    before = _config(trained).validate()
    had = before.arch or _value("hidden", before.hidden)
    if "arch" not in asked and before.arch:  # --hidden cannot describe a CNN
        hidden = _value('hidden', _config({}).replace(hidden=asked['hidden']).validate().hidden)
        return (f"{passing('--hidden', hidden)} "
                f"(the checkpoint's run is the network {had}, which only {option('--arch')} describes)")
    after = _config(trained).replace(**{key: asked[key] for key in ("arch", "hidden") if key in asked}).validate()
    if (after.arch, after.hidden) == (before.arch, before.hidden):
        return None
    typed = parse_arch(asked.get("arch", ""))
    wanted = passing("--arch", ",".join(typed)) if typed else passing("--hidden", _value("hidden", after.hidden))
    return f"{wanted} (the checkpoint's run has {passing('--arch', had) if before.arch else had})"


def _flag(key: str, value) -> str:
    flag = f"--{key.replace('_', '-')}"
    if isinstance(value, bool):  # switches: --no-normalize, --dry-run...
        if not flags_are_named():
            return f"{key}={value}"
        return {("normalize", False): "--no-normalize", ("download", False): "--no-download"}.get(
            (key, value), flag if value else f"no {flag}")
    return passing(flag, _value(key, value))


def _value(key: str, value) -> str:
    if key == "hidden":
        return ",".join(map(str, value)) or "none"
    if key == "batch_size" and value is None:
        return "full"
    return str(value)


def _merged(stored: dict, given: dict) -> Outputs:
    """The outputs a checkpoint remembers, with those given now taking their place."""
    values = {**{k: v for k, v in stored.items() if v is not None}, **given}
    return Outputs(**{k: values.get(k, default) for k, default in
                      (("metrics_path", None), ("save_path", None), ("checkpoint_dir", None),
                       ("checkpoint_every", 1))})


def _absolute(path) -> str | None:
    return None if path is None else os.path.abspath(path)
