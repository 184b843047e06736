"""The pictures of a run, drawn with matplotlib (``pip install -e '.[plot]'``) and returned as PNG bytes.

Each figure is a ``matplotlib.figure.Figure`` on its own Agg canvas: no pyplot, so no
window, no display needed, and no change to the plotting backend of a notebook that
calls these functions.
"""

from __future__ import annotations

import io
import math

import numpy as np

from ..errors import XpnetError
from .images import INSTALL_HINT

MAX_WRONG = 36
MAX_UNITS = 64
MARKERS_UP_TO = 30


def require_matplotlib() -> None:
    """Raise a one-line :class:`XpnetError` saying how to install matplotlib when it is missing."""
    _figure_classes()


def curves_png(epochs: list[dict], summary: dict | None, title: str) -> bytes:
    """Loss and accuracy per epoch (train, dev when present) beside the final test result.

    ``epochs`` are the per-epoch records of a ``--metrics`` file (``epoch``, ``train_loss``,
    ``train_accuracy``, maybe ``dev_loss`` and ``dev_accuracy``); ``summary`` its last line
    (``test_loss``, ``test_accuracy``) or None for a run that did not finish.
    """
    fig = _new_figure((10, 4))
    loss_ax, accuracy_ax = fig.subplots(1, 2)
    x = [record["epoch"] for record in epochs]
    marker = "o" if len(x) <= MARKERS_UP_TO else None
    for ax, metric, scale in ((loss_ax, "loss", 1.0), (accuracy_ax, "accuracy", 100.0)):
        for split in ("train", "dev"):
            values = [record.get(f"{split}_{metric}") for record in epochs]
            if all(value is not None for value in values):
                # Training metrics are running means over each epoch, dev ones measured at its end.
                label = "train (mean over the epoch)" if split == "train" else "dev (end of epoch)"
                ax.plot(x, [scale * value for value in values], marker=marker, markersize=4, label=label)
        if summary is not None and f"test_{metric}" in summary:
            test = scale * summary[f"test_{metric}"]
            ax.axhline(test, color="tab:red", linestyle="--", linewidth=1)
            shown = f"{test:.2f}%" if scale == 100.0 else f"{test:.4f}"
            ax.plot([x[-1]], [test], marker="*", markersize=12, color="tab:red", linestyle="none",
                    label=f"test (final) {shown}")
        ax.set(xlabel="epoch", ylabel="accuracy (%)" if scale == 100.0 else "cross-entropy loss",
               title=metric)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _png(fig)


def class_labels(k: int, class_names=None) -> list[str]:
    """How the pictures name classes 0..k-1: ``'7 Sneaker'`` where ``class_names`` gives one name
    per class (Fashion-MNIST), the bare number otherwise, as evaluate's table does."""
    if class_names is None or len(class_names) != k:
        return [str(c) for c in range(k)]
    return [f"{c} {name}" for c, name in enumerate(class_names)]


def confusion_png(confusion: np.ndarray, title: str, class_names=None) -> bytes:
    """The (k, k) confusion matrix (rows: true class) with its counts, shaded on a log scale so
    that the few errors stand out beside the large diagonal; the axes name the classes where
    ``class_names`` (k names) does."""
    from matplotlib.colors import LogNorm

    k = confusion.shape[0]
    fig = _new_figure((6.4, 5.6))
    ax = fig.subplots()
    shown = np.ma.masked_equal(confusion, 0)
    image = ax.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(int(confusion.max()), 2)))
    fig.colorbar(image, ax=ax, label="examples (log scale)")
    if k <= 20:
        threshold = math.sqrt(max(int(confusion.max()), 1))
        for i, j in zip(*np.nonzero(confusion)):
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if confusion[i, j] > threshold else "black")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class", title=title)
    labels = class_labels(k, class_names)
    ax.set_xticklabels(labels, rotation=0 if class_names is None else 90)
    ax.set_yticklabels(labels)
    return _png(fig)


def misclassified_png(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, title: str,
                      class_names=None) -> bytes:
    """A grid of the first images (n, rows, cols) uint8 whose ``predicted`` class (n,) differs from
    its label (n,), each captioned 'predicted (true label)', by name where ``class_names`` gives them."""
    wrong = np.flatnonzero(predicted != labels)
    shown = wrong[:MAX_WRONG]
    cols = max(1, min(9, len(shown)))
    rows = max(1, math.ceil(len(shown) / cols))
    fig = _new_figure((1.2 * cols, 1.35 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes:
        ax.set_axis_off()
    for ax, index in zip(axes, shown):
        ax.imshow(images[index], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        guess, truth = predicted[index], labels[index]
        caption = (f"{guess} (true {truth})" if class_names is None
                   else f"{class_names[guess]}\n(true {class_names[truth]})")  # names are long: two lines
        ax.set_title(caption, fontsize=8, color="tab:red")
    if len(shown) == 0:
        axes[0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    fig.suptitle(f"{title}: {len(shown)} of {len(wrong):,} shown, predicted (true label)", fontsize=10)
    return _png(fig)


def weights_png(W: np.ndarray, image_shape: tuple[int, int], classes, title: str) -> bytes:
    """The first layer's weights ``W`` (d, h) as images of ``image_shape`` (rows * cols = d), one
    per output unit (the first 64), each on its own symmetric scale: red pixels raise the unit,
    blue ones lower it. ``classes``: None when the units are hidden units; when they are the
    classes (softmax regression's templates), the h captions (:func:`class_labels`)."""
    units = min(W.shape[1], MAX_UNITS)
    cols = 5 if classes is not None and units <= 10 else math.ceil(math.sqrt(units))
    rows = math.ceil(units / cols)
    side = 1.3 if units <= 10 else 0.9
    fig = _new_figure((side * cols, side * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for unit, ax in zip(range(units), axes):
        template = W[:, unit].reshape(image_shape)
        limit = float(np.abs(template).max()) or 1.0
        ax.imshow(template, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        if classes is not None:
            ax.set_title(classes[unit], fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def _figure_classes():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise XpnetError(f"pictures need matplotlib: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg


def _new_figure(size: tuple[float, float]):
    Figure, FigureCanvasAgg = _figure_classes()
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
