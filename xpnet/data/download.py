"""Fetch a known dataset's four NAME.gz files from its mirrors, verified before they are kept.

Every attempt is bounded: a per-read timeout (a silent server), an overall deadline per file (a
server that trickles), and a size cap per file, both for the bytes received and for what they
decompress to (an endless body, a gzip bomb). Every failure, Ctrl-C included, removes the
attempt's temporary file; temporaries that a killed process left behind are removed by the next
download into the same folder once they are older than any live attempt can be.
"""

import hashlib
import http.client
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import suppress
from pathlib import Path

from xpnet.data.dataset import DataError
from xpnet.data.folder import MNIST_FILES
from xpnet.data.idx import is_gzip, open_uncompressed
from xpnet.data.known import KnownDataset
from xpnet.data.limits import MAX_FILE_BYTES, human_bytes
from xpnet.files import open_temp_beside

# Seconds one read may wait for the server.
TIMEOUT_SECONDS = 30.0
# Seconds one file may take in all, connection to last byte: 26 MB (Fashion-MNIST's largest
# file) at 45 kB/s.
DEADLINE_SECONDS = 600.0
# The download cap of a file whose size is not published (a checksum table replaced by tests).
UNKNOWN_MAX_BYTES = 128 << 20
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


class _Stopped(Exception):
    """An attempt stopped by its deadline or its size cap; unreachable says whether the mirror
    is to be skipped for the other files too (a server too slow for one file is for the next)."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


class _Watchdog:
    """Shuts down an attempt's sockets when its deadline passes, whatever they are waiting for
    (connecting, the headers, a trickle of body bytes), so the read in progress returns at once."""

    def __init__(self, seconds: float):
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                self._shut(sock)
        return sock

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        # The plain socket's shutdown, also for a TLS socket: it wakes a blocked read in another thread.
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """urllib's opener (proxies and redirects as urlopen has them) whose connections the watchdog sees."""

    def tracked(connection_class):
        class Tracked(connection_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                # connect() opens its socket through this attribute (CPython 3.7 and later).
                create = getattr(self, "_create_connection", socket.create_connection)
                self._create_connection = lambda *a, **k: watchdog.track(create(*a, **k))
        return Tracked

    http_class, https_class = tracked(http.client.HTTPConnection), tracked(http.client.HTTPSConnection)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(http_class, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(https_class, req, context=self._context)

    return urllib.request.build_opener(HTTPHandler(), HTTPSHandler())


def _fetch_to(url: str, out, timeout: float, deadline: float, max_bytes: int) -> None:
    """Write url's body into out: within deadline seconds in all, at most max_bytes of it."""
    received = 0
    with _Watchdog(deadline) as watchdog:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "xpnet"})
            with _opener(watchdog).open(request, timeout=min(timeout, deadline)) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise _Stopped(f"the server announces {_size(length)}, more than the "
                                   f"{human_bytes(max_bytes)} this file can be")
                _note(f"downloading {url} ({_size(length)})")
                while chunk := response.read1(_CHUNK_BYTES):
                    received += len(chunk)
                    if received > max_bytes:
                        raise _Stopped(f"sent more than the {human_bytes(max_bytes)} this file can be "
                                       f"(stopped there)")
                    out.write(chunk)
                if watchdog.fired:
                    raise OSError("cut off at the deadline")
                if response.length:
                    raise http.client.IncompleteRead(b"", response.length)
        except _NETWORK_ERRORS:
            if watchdog.fired:
                raise _Stopped(f"not complete within the deadline of {deadline:g} s ({received} bytes "
                               f"received); the mirror is too slow", unreachable=True) from None
            raise
    out.flush()
    os.fsync(out.fileno())


def _content_problem(path: Path, expected_sha256: str, max_content: int) -> str | None:
    """Why the downloaded file is unusable, or None when it is the expected content.

    Streams the decompressed content through the hash, and stops past max_content bytes: a
    gzip bomb is refused after inflating no more than the file's true size.
    """
    if not is_gzip(path):
        return "not gzip data"
    digest, total = hashlib.sha256(), 0
    try:
        with open_uncompressed(path) as file:
            while chunk := file.read(_CHUNK_BYTES):
                total += len(chunk)
                if total > max_content:
                    return (f"decompresses to more than the {human_bytes(max_content)} this file holds "
                            f"(stopped there)")
                digest.update(chunk)
    except DataError:
        return "corrupt gzip data"
    got = digest.hexdigest()
    if got != expected_sha256:
        return f"checksum mismatch (expected SHA-256 {expected_sha256[:12]}..., got {got[:12]}...)"
    return None


class _Limits:
    """The bounds of one file's download: time, bytes received, bytes decompressed."""

    def __init__(self, known: KnownDataset, name: str, timeout: float, deadline: float, max_bytes: int | None):
        content = known.content_bytes(name)
        self.timeout, self.deadline = timeout, deadline
        # What a gzip of the content can take at most (stored blocks: 5 bytes per 64 kB, and headers).
        self.max_content = MAX_FILE_BYTES if content is None else content
        self.max_bytes = max_bytes if max_bytes is not None else (
            UNKNOWN_MAX_BYTES if content is None else content + content // 100 + (64 << 10))


def _fetch_one(name: str, expected_sha256: str, folder: Path, mirrors, unreachable: dict,
               limits: _Limits) -> Path:
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
                _fetch_to(url, out, limits.timeout, limits.deadline, limits.max_bytes)
            problem = _content_problem(tmp, expected_sha256, limits.max_content)
        except urllib.error.HTTPError as error:
            problem = _describe(error)
        except _Stopped as stopped:
            problem = str(stopped)
            if stopped.unreachable:
                unreachable[mirror] = problem
        except _NETWORK_ERRORS as error:
            tmp.unlink(missing_ok=True)
            if _is_name_lookup_failure(error):
                # Every other mirror needs a name lookup too: fail at once, quietly.
                raise Offline(f"cannot resolve {urllib.parse.urlsplit(url).hostname}") from None
            problem = _describe(error)
            # A host that cannot be reached for one file will not serve the next either.
            unreachable[mirror] = problem
        except BaseException:
            # Ctrl-C, SIGTERM, a full disk: the partial file goes, whatever stopped it.
            tmp.unlink(missing_ok=True)
            raise
        if problem is None:
            return tmp
        tmp.unlink(missing_ok=True)
        failures.append(f"{mirror}: {problem}")
        _note(f"{url} failed: {problem}" + ("; trying the next mirror" if position < len(mirrors) else ""))
    raise DownloadFailed(f"{name}.gz: " + "; ".join(failures))


def _remove_stale_temporaries(folder: Path, deadline: float) -> None:
    """Remove the .NAME.gz.XXXXXXXX.tmp files of killed downloads (SIGKILL, a power cut): those
    older than twice the deadline, which no live attempt can be."""
    pattern = re.compile(r"\.(?:%s)\.gz\.[0-9a-f]{8}\.tmp" % "|".join(map(re.escape, MNIST_FILES)))
    now = time.time()
    with suppress(OSError):
        for path in folder.iterdir():
            with suppress(OSError):
                if pattern.fullmatch(path.name) and now - path.stat().st_mtime > 2 * deadline:
                    path.unlink()


def download_dataset(known: KnownDataset, folder, mirrors=None, timeout: float = TIMEOUT_SECONDS,
                     deadline: float | None = None, max_bytes: int | None = None) -> None:
    """Fetch the four NAME.gz files of a known dataset into folder (created if needed).

    Each file goes to a temporary file in folder and is checked (gzip, SHA-256 of its content);
    only when all four are good are they renamed into place, so a failed download leaves nothing
    behind. mirrors defaults to known.mirrors. timeout bounds each read; deadline (default
    DEADLINE_SECONDS) each file's whole download; max_bytes each file's size (default: the
    published size plus gzip's overhead, or UNKNOWN_MAX_BYTES where it is not published).
    Raises DownloadFailed naming each mirror's failure.
    """
    deadline = DEADLINE_SECONDS if deadline is None else deadline
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
        _remove_stale_temporaries(folder, deadline)
        for name in MNIST_FILES:
            limits = _Limits(known, name, timeout, deadline, max_bytes)
            staged[name] = _fetch_one(name, known.sha256[name], folder, mirrors, unreachable, limits)
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
