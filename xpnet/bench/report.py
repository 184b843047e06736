"""What ``python -m xpnet.bench`` reports: the machine it ran on, the Markdown tables, the plot."""

from __future__ import annotations

import io
import os
import platform
import sys

import numpy as np

from .. import __version__
from . import references as refs
from ..backend import Backend, library_versions
from .references import FLOOR
from ..files import write_output


def environment(backends: dict[str, Backend], threads: int | None, load_before: float | None) -> dict:
    """CPU, load, library versions (per backend label), BLAS and thread counts, at the end of the run."""
    cores, usable = os.cpu_count() or 1, usable_cores()
    from threadpoolctl import threadpool_info

    blas = threadpool_info()
    return {
        "cpu": _cpu_model(), "cores": cores, "usable_cores": usable,
        "load_1min_before": load_before, "load_1min_after": load_average(),
        "busy_before": looks_busy(load_before, usable),
        "python": platform.python_version(), "platform": platform.platform(),
        "numpy": np.__version__, "xpnet": __version__,
        "backends": {label: library_versions(backend) for label, backend in backends.items()},
        "threads": threads, "torch_threads": refs.torch_threads(), "threadpools": blas,
    }


def render(report: dict) -> str:
    """The Markdown table, the targets, memory and the environment block."""
    s = report["settings"]
    sizes = ([f"{s['n_train']:,} training examples per MLP epoch"] if s.get("models") else []) + (
        [f"{s['cnn_images']:,} images per CNN epoch"] if s.get("cnn") else [])
    lines = [f"# xpnet bench: synthetic data, {', '.join(sizes)}, {s['dtype']}, SGD lr {s['lr']}; "
             f"{s['epochs']} timed epoch(s) per implementation, each after a warm-up epoch, round-robin", "",
             "| model | batch | implementation | min s/epoch | median s/epoch | examples/s | GFLOP/s "
             "| host dispatches/epoch | vs hand-written | vs GEMM floor |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["results"]:
        ratios = row["ratios"]
        cells = [f"{ratios[p]['median_paired']:.2f}× {p}" if p in ratios else "" for p in (
            next((p for p in ratios if p != FLOOR), None), FLOOR)]
        lines.append(f"| {row['model']} | {row['batch_size']} | {row['implementation']} | "
                     f"{row['min_seconds']:.4g} | {row['median_seconds']:.4g} | {row['examples_per_second']:,.0f} | "
                     f"{row['gflop_per_second']:.1f} | {_dispatches(row)} | "
                     f"{cells[0]} | {cells[1]} |")
    lines += ["", "GFLOP/s counts the 3L-1 matrix products of each step (forward, weight gradients, and input "
                  "gradients of every layer but the first); ratios are medians of per-round pairs. Host "
                  "dispatches per epoch: a compiled row's calls into its compiled code; an eager row's operations, "
                  "counted by PyTorch's dispatcher on the same lines (each one a kernel launch on a GPU)."]
    if s.get("cnn"):
        lines += ["", f"Conv networks: {refs.CONV_PEER} is the same network written the usual PyTorch way (NCHW "
                      "F.conv2d, F.max_pool2d, F.linear, cross-entropy, autograd, plain SGD), from xpnet's initial "
                      "weights on the same batches; a convolution's GFLOP are those of its patches times its "
                      "kernel. No NumPy loop or GEMM floor exists for them."]
    if report.get("notes"):
        lines += ["", *(f"- note: {note}" for note in report["notes"])]
    if report["targets"]:
        lines += ["", "Speed targets (xpnet against its hand-written peers), judged on the median of per-round ratios:"]
        lines += [f"- {t['model']}, batch {t['batch_size']}: {t['implementation']} ≤ {t['at_most']}× {t['peer']}: "
                  f"{t['ratio']:.2f}× ({'met' if t['met'] else 'missed'}; ratio of the minima "
                  f"{t['ratio_of_min']:.2f}×)" for t in report["targets"]]
    lines += ["", "| model | batch | training data | parameters | peak RSS (process, so far) | GPU pool peak |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for m in report["memory"]:
        lines.append(f"| {m['model']} | {m['batch_size']} | {_size(m['data_bytes'])} | {_size(m['params_bytes'])} "
                     f"| {_size(m['peak_rss_bytes'])} | {_size(m['gpu_pool_peak_bytes'])} |")
    return "\n".join(lines + ["", *environment_lines(report["environment"])])


def environment_lines(env: dict) -> list[str]:
    before, after = env["load_1min_before"], env["load_1min_after"]
    load = "unknown" if before is None else f"{before:.2f} before, {after:.2f} after (after includes this run)"
    libraries = "; ".join(dict.fromkeys(f"{k} {v}" for versions in env["backends"].values()
                                        for k, v in versions.items()))
    lines = ["Environment:",
             f"- CPU: {env['cpu']}; {env['cores']} cores, {env['usable_cores']} usable",
             f"- 1-minute load average: {load}"]
    if env["busy_before"]:
        lines.append("- warning: the machine looked busy before the run; absolute times are noisy, and where "
                     "one implementation's min and median differ widely, so are its ratios")
    lines.append(f"- Python {env['python']} ({env['platform']}); NumPy {env['numpy']}; xpnet {env['xpnet']}; "
                 f"backends: {libraries}")
    for pool in env["threadpools"]:
        details = ", ".join(str(pool[k]) for k in ("prefix", "architecture", "threading_layer") if pool.get(k))
        version = f" {pool['version']}" if pool.get("version") else ""
        lines.append(f"- {pool['internal_api']}{version} ({details}): "
                     f"{pool['num_threads']} thread(s)")
    if env["torch_threads"] is not None:
        lines.append(f"- torch intra-op threads: {env['torch_threads']}")
    lines.append(f"- threads: {'pinned to ' + str(env['threads']) if env['threads'] else 'as found (not pinned)'}")
    return lines


def write_plot(rows: list[dict], path: str) -> str:
    """A PNG of median seconds per epoch against batch size, one panel per model; returns what happened."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install -e '.[bench]')"
    models = list(dict.fromkeys(row["model"] for row in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        mine = [row for row in rows if row["model"] == model]
        for name in dict.fromkeys(row["implementation"] for row in mine):
            points = sorted((r["batch_size"], r["median_seconds"]) for r in mine if r["implementation"] == name)
            ax.plot(*zip(*points), marker="o", label=name)
        sizes = sorted({row["batch_size"] for row in mine})
        ax.set(xscale="log", yscale="log", title=model, xlabel="batch size", ylabel="seconds per epoch (median)")
        ax.set_xticks(sizes, [str(size) for size in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.legend(fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_output(path, buffer.getvalue(), fix="choose a writable path for --plot")
    return f"plot written to {path}"


def peak_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def looks_busy(load: float | None, cores: int) -> bool:
    """One busy core elsewhere is enough to disturb a small-batch run."""
    return load is not None and load > max(0.5, 0.1 * cores)


def _dispatches(row: dict) -> str:
    """An xpnet row's dispatches per epoch ("—" where they were not counted); blank for a reference."""
    count = row.get("dispatches_per_epoch")
    if count is None:
        return "" if row.get("backend") is None else "—"
    return f"{count:,.0f}"


def _size(count: int | None) -> str:
    if count is None:
        return "n/a"
    if count < 1000:
        return f"{count} B"
    for unit in ("KB", "MB"):
        count /= 1000
        if count < 1000:
            return f"{count:.1f} {unit}"
    return f"{count / 1000:.2f} GB"
