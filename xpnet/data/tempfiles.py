"""Temporary files beside their target, so that a finished file appears with one os.replace."""

import secrets
from pathlib import Path


def open_temp_beside(target) -> tuple[Path, object]:
    """(path, binary file open for writing) of a new hidden file in target's folder.

    Unlike tempfile.mkstemp (always mode 0600) the file gets its permissions from the umask,
    and keeps them once renamed over target.
    """
    target = Path(target)
    while True:
        path = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return path, open(path, "xb")
        except FileExistsError:
            continue
