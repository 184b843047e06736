"""Fetch a known dataset's four NAME.gz files from its mirrors, verified before they are kept."""

import http.client
import os
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from contextlib import suppress
from pathlib import Path

from xpnet.data.dataset import DataError
from xpnet.data.folder import MNIST_FILES
from xpnet.data.idx import is_gzip, uncompressed_sha256
from xpnet.data.known import KnownDataset
from xpnet.files import open_temp_beside

TIMEOUT_SECONDS = 30.0
_CHUNK_BYTES = 1 << 20
# Any failure of one attempt: HTTP errors, refused connections, timeouts, cut-off responses.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)


class DownloadFailed(DataError):
    """No mirror gave a good copy of some file; the message lists each mirror's failure."""


class Offline(DownloadFailed):
    """A mirror's host name could not be resolved: no network (or no DNS), so no mirror is tried."""


def _is_name_lookup_failure(error: Exception) -> bool:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    return isinstance(reason, socket.gaierror)


def _note(message: str) -> None:
    print(f"xpnet: {message}", file=sys.stderr, flush=True)


def _describe(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _size(length: str | None) -> str:
    if not (length and length.isdigit()):
        return "size unknown"
    size = int(length)
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def _fetch_to(url: str, out, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "xpnet"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        _note(f"downloading {url} ({_size(response.headers.get('Content-Length'))})")
        shutil.copyfileobj(response, out, _CHUNK_BYTES)
    out.flush()
    os.fsync(out.fileno())


def _content_problem(path: Path, expected_sha256: str) -> str | None:
    """Why the downloaded file is unusable, or None when it is the expected content."""
    if not is_gzip(path):
        return "not gzip data"
    try:
        got = uncompressed_sha256(path)
    except DataError:
        return "corrupt gzip data"
    if got != expected_sha256:
        return f"checksum mismatch (expected SHA-256 {expected_sha256[:12]}..., got {got[:12]}...)"
    return None


def _fetch_one(name: str, expected_sha256: str, folder: Path, mirrors, unreachable: dict,
               timeout: float) -> Path:
    """A verified temporary copy of NAME.gz in folder, from the first mirror that gives one."""
    failures = []
    for position, mirror in enumerate(mirrors, start=1):
        if mirror in unreachable:
            failures.append(f"{mirror}: {unreachable[mirror]}")
            continue
        url = mirror + f"{name}.gz"
        tmp, out = open_temp_beside(folder / f"{name}.gz")
        try:
            with out:
                _fetch_to(url, out, timeout)
            problem = _content_problem(tmp, expected_sha256)
        except urllib.error.HTTPError as error:
            problem = _describe(error)
        except _NETWORK_ERRORS as error:
            tmp.unlink(missing_ok=True)
            if _is_name_lookup_failure(error):
                # Every other mirror needs a name lookup too: fail at once, quietly.
                raise Offline(f"cannot resolve {urllib.parse.urlsplit(url).hostname}") from None
            problem = _describe(error)
            # A host that cannot be reached for one file will not serve the next either.
            unreachable[mirror] = problem
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if problem is None:
            return tmp
        tmp.unlink(missing_ok=True)
        failures.append(f"{mirror}: {problem}")
        _note(f"{url} failed: {problem}" + ("; trying the next mirror" if position < len(mirrors) else ""))
    raise DownloadFailed(f"{name}.gz: " + "; ".join(failures))


def download_dataset(known: KnownDataset, folder, mirrors=None, timeout: float = TIMEOUT_SECONDS) -> None:
    """Fetch the four NAME.gz files of a known dataset into folder (created if needed).

    Each file goes to a temporary file in folder and is checked (gzip, SHA-256 of its content);
    only when all four are good are they renamed into place, so a failed download leaves nothing
    behind. mirrors defaults to known.mirrors. Raises DownloadFailed naming each mirror's failure.
    """
    mirrors = known.mirrors if mirrors is None else mirrors
    if not mirrors:
        raise DownloadFailed(f"no mirrors are known for {known.name}")
    folder = Path(folder)
    # Folders this call creates, deepest first, so a failure can remove them again.
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    staged: dict[str, Path] = {}
    unreachable: dict[str, str] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in MNIST_FILES:
            staged[name] = _fetch_one(name, known.sha256[name], folder, mirrors, unreachable, timeout)
    except OSError as error:
        # Network errors are handled per mirror; what arrives here is the local disk.
        _discard(staged, created)
        raise DownloadFailed(f"cannot write into {folder} ({error})") from None
    except BaseException:
        _discard(staged, created)
        raise
    for name, tmp in staged.items():
        os.replace(tmp, folder / f"{name}.gz")
        # A raw NAME left from earlier would be read in preference to the fresh NAME.gz.
        (folder / name).unlink(missing_ok=True)


def _discard(staged: dict[str, Path], created: list[Path]) -> None:
    for tmp in staged.values():
        tmp.unlink(missing_ok=True)
    for path in created:
        with suppress(OSError):
            path.rmdir()
