"""What xpnet's commands share: one definition of each flag that several take
(:data:`SHARED_FLAGS`, added with :func:`add_shared`), the data and backend flags of the commands
that use a saved model, and one way to run them (exit 0 ok, 2 bad usage, 1 any other expected
error, 130 on Ctrl-C; always one line on stderr, never a traceback)."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .arguments import (MAX_COUNT, MAX_LAYERS, MAX_SEED, MAX_THREADS, MAX_WIDTH, decimal_number, on_the_command_line,
                        shown, whole_number)
from .backend import BACKEND_CHOICES, Backend, limit_threads, resolve
from .errors import UsageError, XpnetError
from .inference import SPLITS
from .training.config import DTYPES


class CommandParser(argparse.ArgumentParser):
    """argparse for xpnet's commands: a usage error is the line naming the problem and a
    second saying where to look (exit status 2), not the usage block."""

    def error(self, message: str):
        self.exit(2, usage_error(self.prog, message))

    def parse_known_args(self, args=None, namespace=None):
        # A mistyped flag is the problem to name, before any complaint it causes (a missing
        # required choice such as predict's --index/--image).
        argv = sys.argv[1:] if args is None else list(args)
        known = [option for action in self._actions for option in action.option_strings]
        for token in argv:
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if name.startswith("--") and not any(option.startswith(name) for option in known):
                self.error(f"unrecognized arguments: {token}")
        return super().parse_known_args(args, namespace)


def usage_error(prog: str, message) -> str:
    """``PROG: error: MESSAGE`` and ``try: PROG --help``, as two lines."""
    return f"{prog}: error: {message}\ntry: {prog} --help\n"


def at_least(kind, minimum, description, maximum=MAX_COUNT):
    """An argparse type accepting ``kind`` values from ``minimum`` to ``maximum`` (ints: in
    the ASCII digits 0-9; floats: as :func:`~xpnet.arguments.decimal_number` reads them)."""
    rule = f"the digits 0-9, at most {maximum:,}" if kind is int else "the digits 0-9, such as 0.1 or 1e-3"

    def parse(text: str):
        try:
            value = whole_number(text, description, maximum) if kind is int else decimal_number(text, description)
        except UsageError:
            value = None
        if value is None or not value >= minimum:
            raise argparse.ArgumentTypeError(f"expected {description}, got {shown(text)} ({rule})")
        return value
    parse.__name__ = kind.__name__
    return parse


positive_int = at_least(int, 1, "a positive integer")
positive_float = at_least(float, 1e-300, "a positive number")
non_negative_int = at_least(int, 0, "an integer >= 0")
any_number = at_least(float, -math.inf, "a number")
seed_number = at_least(int, 0, "an integer >= 0", MAX_SEED)
thread_count = at_least(int, 1, f"a number of threads from 1 to {MAX_THREADS:,}", MAX_THREADS)


def positive_ints(text: str) -> tuple[int, ...]:
    """``'32,128'`` -> (32, 128)."""
    return tuple(positive_int(part) for part in text.split(","))


def arch_layers(text: str) -> str:
    """``--arch``'s text, refused when empty (the tokens themselves are checked with the run's settings)."""
    if not text.strip(" ,"):
        raise argparse.ArgumentTypeError(f"expected layers such as conv32k5,pool,conv64k5,pool,fc256, got {text!r}")
    return text


def parse_hidden(text: str) -> tuple[int, ...]:
    """``'512,256'`` -> (512, 256); ``''`` or ``'none'`` -> () (softmax regression); at most
    :data:`~xpnet.arguments.MAX_LAYERS` sizes, each 1 to :data:`~xpnet.arguments.MAX_WIDTH`."""
    if text.strip().lower() in ("", "none"):
        return ()
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > MAX_LAYERS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_LAYERS} hidden layers, got {len(parts)}")
    try:
        return tuple(whole_number(part, "a hidden size", MAX_WIDTH, 1) for part in parts)
    except UsageError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as 512,256, at most "
                                         f"{MAX_WIDTH:,} each (the digits 0-9), got {shown(text)}") from None


@dataclass(frozen=True)
class SharedFlag:
    """A flag that several commands take. ``help`` says what it does, without the ``(default: ...)``
    that each command appends for its own default; ``absent`` is what leaving the flag out means
    where its default is None; ``options`` are add_argument's other keywords."""

    help: str
    absent: str | None = None
    options: dict = field(default_factory=dict)


# The one definition of every flag that more than one command takes: xpnet.train, evaluate,
# predict and plot (through add_data_arguments and add_backend_arguments), the bench,
# ci/parity.py and examples/ (through example_parser). Add one with add_shared.
SHARED_FLAGS: dict[str, SharedFlag] = {
    "--dataset": SharedFlag("mnist, fashion-mnist, synthetic, synthetic:N, or a folder holding the four "
                            "MNIST-format files"),
    "--data-dir": SharedFlag("look for ROOT/<dataset>/ first", "$XPNET_DATA_DIR, then the cache",
                             dict(metavar="ROOT")),
    "--no-download": SharedFlag("never download; fail if no local copy is found", "download when missing",
                                dict(dest="download", action="store_const", const=False)),
    "--backend": SharedFlag("array library; auto is CuPy on a working CUDA GPU, else NumPy",
                            options=dict(choices=BACKEND_CHOICES)),
    "--device": SharedFlag("auto, cpu, cuda or cuda:N"),
    "--dtype": SharedFlag("floating-point type", options=dict(choices=DTYPES)),
    "--threads": SharedFlag("CPU threads for BLAS, OpenMP and PyTorch; 1 keeps a shared machine steady",
                            "as the libraries find them", dict(type=thread_count, metavar="N")),
    "--hidden": SharedFlag("hidden layer sizes, e.g. 128 or 512,256; 'none' for softmax regression",
                           options=dict(type=parse_hidden, metavar="SIZES")),
    "--seed": SharedFlag("seed of the host random generator", options=dict(type=seed_number)),
    "--arch": SharedFlag("the network, left to right: convFkK (F filters, KxK, same padding; convFkKv: valid), "
                         "pool (2x2 max), avgpool (2x2 mean) and fcN (N units), each followed by ReLU, e.g. "
                         "conv32k5,pool,conv64k5,pool,fc256; the layer to the classes is added; instead of --hidden",
                         "the MLP of --hidden", dict(type=arch_layers, metavar="LAYERS")),
    "--shift": SharedFlag("move each training image by a random whole number of pixels, up to S down or up and S "
                          "left or right, drawn anew each epoch; new pixels are 0 (torchvision's RandomCrop(28, "
                          "padding=S))", options=dict(type=non_negative_int, metavar="S")),
}

_UNSET = object()


def add_shared(group, flag: str, default=_UNSET, *, shown=_UNSET, **changes) -> argparse.Action:
    """Add ``flag``, a key of :data:`SHARED_FLAGS`, to ``group`` (a parser or an argument group).

    ``default`` is passed on when given (else the parser's ``argument_default`` applies:
    ``argparse.SUPPRESS`` in xpnet.train). The help ends in ``(default: SHOWN)``: ``shown`` when
    given, else ``default``, else (a None default) what the flag's absence means. ``changes``
    are add_argument keywords this command needs differently (ci/parity.py's ``--dtype both``).
    """
    definition = SHARED_FLAGS[flag]
    if shown is _UNSET:
        shown = definition.absent if default is _UNSET or default is None else default
    if shown is _UNSET or shown is None:
        raise TypeError(f"{flag}: say what its default is, with default= or shown=")
    options = {**definition.options, **changes}
    if default is not _UNSET:
        options["default"] = default
    text = (",".join(map(str, shown)) or "none") if isinstance(shown, tuple) else str(shown)
    return group.add_argument(flag, help=f"{definition.help} (default: {text.replace('%', '%%')})", **options)


ENTRY_MODES = ("compile", "eager")


def backend_entries(text: str) -> list[str]:
    """``'numpy,cupy@cuda:1,torch+compile'`` -> ['numpy', 'cupy@cuda:1', 'torch+compile']: the
    NAME[@DEVICE][+compile|+eager] entries of ``--backends`` (the bench, ci/parity.py); ``+compile``
    and ``+eager`` choose compiled or eager training (default: the backend's, compiled for jax).
    Names are checked here, devices by :func:`resolve_entries`."""
    entries = []
    for part in text.split(","):
        entry = part.strip().lower()
        base, plus, mode = entry.partition("+")
        if "@" in mode:  # jax+compile@cpu, written the other way round: jax@cpu+compile
            mode, _, device = mode.partition("@")
            base, entry = f"{base}@{device}", f"{base}@{device}+{mode}"
        if plus and mode not in ENTRY_MODES:
            raise argparse.ArgumentTypeError(f"expected NAME+compile or NAME+eager, got {part.strip()!r}")
        name, at, device = base.partition("@")
        if name not in BACKEND_CHOICES:
            raise argparse.ArgumentTypeError(f"unknown backend {name!r}; choose from {', '.join(BACKEND_CHOICES)}")
        if at and not device:
            raise argparse.ArgumentTypeError(f"expected NAME@DEVICE such as cupy@cuda:1, got {part.strip()!r}")
        entries.append(entry)
    return entries


def split_entry(entry: str) -> tuple[str, str]:
    """``'cupy@cuda:1'`` -> ('cupy', 'cuda:1'); ``'numpy'`` -> ('numpy', 'auto'); a ``+MODE`` is left out."""
    name, _, device = entry.partition("+")[0].partition("@")
    return name, device or "auto"


def entry_compile(entry: str) -> bool | None:
    """``'torch+compile'`` -> True, ``'jax+eager'`` -> False, ``'jax'`` -> None (the backend's default)."""
    mode = entry.partition("+")[2]
    return None if not mode else mode == "compile"


def resolve_entries(entries: list[str]) -> dict[str, Backend]:
    """Each NAME[@DEVICE] entry resolved, in order. An entry that cannot run here raises the
    error of :func:`xpnet.backend.resolve` prefixed with the entry; one backend and device
    listed twice (``numpy,numpy@cpu``, ``auto,numpy``) is a :class:`UsageError`."""
    chosen, seen = {}, {}
    for entry in entries:
        try:
            backend = resolve(*split_entry(entry))
            compiled = entry_compile(entry)
            if compiled:
                backend.compiler()
        except XpnetError as error:
            raise type(error)(f"{entry} cannot run here: {error}") from None
        compiled = backend.compiles_by_default if compiled is None else compiled
        where = (backend.name, backend.device_name, compiled)
        if where in seen:
            raise UsageError(f"{seen[where]} and {entry} are the same backend ({backend.name} on "
                             f"{backend.device_name}{', compiled' if compiled else ''}); list each backend once")
        seen[where], chosen[entry] = entry, backend
    return chosen


def example_parser(description: str, *, backend: bool = True, device: str = "auto") -> argparse.ArgumentParser:
    """The parser every script in ``examples/`` starts from: --dataset and --data-dir, and with
    ``backend`` also --backend and --device (default ``device``)."""
    parser = argparse.ArgumentParser(description=description)
    add_shared(parser, "--dataset", "mnist")
    add_shared(parser, "--data-dir", None)
    if backend:
        add_shared(parser, "--backend", "auto")
        add_shared(parser, "--device", device)
    return parser


def add_data_arguments(parser: argparse.ArgumentParser, *, split_help: str) -> None:
    """--dataset, --data-dir, --no-download (default: the checkpoint's settings) and --split."""
    data = parser.add_argument_group("data (default: what the checkpoint was trained on)")
    add_shared(data, "--dataset", None, shown="the checkpoint's")
    add_shared(data, "--data-dir", None, shown="the checkpoint's, then $XPNET_DATA_DIR, then the cache")
    add_shared(data, "--no-download", None, shown="the checkpoint's setting")
    data.add_argument("--split", choices=SPLITS, default="test", help=f"{split_help} (default: test)")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend, --device, --threads."""
    where = parser.add_argument_group("backend")
    add_shared(where, "--backend", "auto")
    add_shared(where, "--device", "auto")
    add_shared(where, "--threads", None)


def model_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`xpnet.inference.load_model` that the flags set."""
    return {"backend": args.backend, "device": args.device, "dataset": args.dataset,
            "data_dir": args.data_dir, "download": args.download}


def run_command(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], None],
                argv: list[str] | None) -> int:
    """Parse ``argv``, run ``body(args)`` with ``--threads`` applied, and turn errors into an exit
    status and one line on stderr, control characters escaped (:func:`printable`: a path may hold
    an escape sequence or a newline). A stdout that fails (a full disk) loses only printed lines:
    the command carries on to the end, then says so and exits with 1."""
    from .inference.terminal import printable
    from .training.interrupt import Interrupted

    if (threading.current_thread() is threading.main_thread()  # started: Ctrl-C is KeyboardInterrupt again
            and getattr(signal.getsignal(signal.SIGINT), "while_a_command_starts", False)):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    stdout = _GuardedStdout(sys.stdout)
    if stdout.stream is not None:  # None: started with stdout closed, and print() prints nothing
        sys.stdout = stdout
    try:
        args = parser.parse_args(argv)
        with on_the_command_line(), limit_threads(getattr(args, "threads", None)):
            body(args)
    except Interrupted as error:
        print(printable(error), file=sys.stderr)
        return error.exit_status
    except UsageError as error:
        sys.stderr.write(usage_error(parser.prog, printable(error)))
        return 2
    except XpnetError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (| head) left: stop quietly, and keep Python's exit-time flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SystemExit as done:  # argparse's --help or usage error
        if stdout.failure is None:
            raise
        return _stdout_failed(stdout.failure) if done.code in (0, None) else done.code
    finally:
        sys.stdout = stdout.stream
    return 0 if stdout.failure is None else _stdout_failed(stdout.failure)


def _stdout_failed(failure: OSError) -> int:
    print(f"error: cannot write to standard output ({failure.strerror or failure}): its lines were lost, the "
          "rest of the command was done and its files written; free space where stdout goes, or send it elsewhere",
          file=sys.stderr)
    return 1


class _GuardedStdout:
    """``sys.stdout`` while a command runs: the first write that fails (a full disk, ``> /dev/full``)
    is kept in ``failure``, not raised, and the stream then writes to /dev/null (Python's flush at
    exit included), so the command goes on: a model is saved although the line before it failed.
    A reader that left (BrokenPipeError) still stops the command."""

    def __init__(self, stream):
        self.stream, self.failure = stream, None

    def write(self, text: str) -> int:
        return self._guarded(self.stream.write, text) or len(text)

    def flush(self) -> None:
        self._guarded(self.stream.flush)

    def _guarded(self, operation, *args):
        try:
            return operation(*args)
        except BrokenPipeError:
            raise
        except OSError as error:
            if self.failure is None:
                self.failure = error
                self._to_devnull()
            return None

    def _to_devnull(self) -> None:
        try:
            fd = self.stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            self.stream.flush()  # what stayed in the buffer, into /dev/null
        except (OSError, ValueError):
            pass  # a stream without a file descriptor has nothing to flush at exit

    def __getattr__(self, name):
        return getattr(self.stream, name)
