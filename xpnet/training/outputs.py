"""A run's outputs checked before any work, and claimed: the checkpoint folder locked, and the
temporaries that killed writes of these outputs left behind removed."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

from ..arguments import option
from ..errors import UsageError
from ..files import check_output_file, remove_temporaries_of
from .checkpoint import EXTENSIONS
from .checkpoint_folder import (check_checkpoint_folder, check_not_xpnets, folder_identity, locked,
                                remove_stale_temporaries)
from .starting import Outputs


def claim_outputs(outputs: Outputs, stack: ExitStack, already_locked, lock=locked) -> None:
    """Check every output before any work, lock the checkpoint folder (for as long as ``stack``; with
    ``lock``), and remove the temporaries that killed writes of these outputs left."""
    check_outputs(outputs)
    folder = outputs.checkpoint_dir
    if folder is not None:
        if already_locked is None or Path(folder).absolute() != already_locked:
            stack.enter_context(lock(folder))
        outputs.folder_id = folder_identity(folder)  # each checkpoint carries it: proof it lies in its folder
        remove_stale_temporaries(folder)
    for output in (outputs.save_path, outputs.metrics_path):
        if output is not None:
            remove_temporaries_of(output)


def check_outputs(outputs: Outputs) -> None:
    """Refuse, before any work, an output that could not be written, or must not be: a file xpnet
    keeps for a run, one file for both --save and --metrics, a checkpoint folder that is a
    system or shared folder (exit status 2)."""
    if outputs.checkpoint_dir is not None:
        check_checkpoint_folder(outputs.checkpoint_dir, option("--checkpoint-dir"))
    if outputs.save_path is not None:
        check_output_file(outputs.save_path, option("--save"), EXTENSIONS)
        check_not_xpnets(outputs.save_path, option("--save"), outputs.checkpoint_dir)
    if outputs.metrics_path is not None:
        check_output_file(outputs.metrics_path, option("--metrics"))
        check_not_xpnets(outputs.metrics_path, option("--metrics"), outputs.checkpoint_dir)
    if outputs.save_path is not None and outputs.metrics_path is not None and _same_file(outputs.save_path,
                                                                                        outputs.metrics_path):
        raise UsageError(f"{option('--save')} {outputs.save_path} and {option('--metrics')} {outputs.metrics_path} "
                         "name the same file, "
                         "and each would overwrite the other; give each its own")


def _same_file(first, second) -> bool:
    """Whether two paths name one file: the same path, links resolved, or two names (hard links) of it."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False
