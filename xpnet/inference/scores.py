"""The confusion matrix and the per-class scores read off it, on the host with NumPy.

Rows are true classes, columns predicted ones. A score whose denominator is zero (a class
never predicted, or absent from the data) is 0.0, as scikit-learn's ``zero_division=0``.
"""

from __future__ import annotations

import numpy as np

from .terminal import printable


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(k, k) int64 counts: entry [i, j] is how many examples of class i were predicted as j.

    ``labels`` and ``predicted`` are (n,) integers in [0, k).
    """
    pairs = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(predicted, dtype=np.int64)
    return np.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def class_scores(confusion: np.ndarray, class_names=None) -> dict:
    """``classes``: one dict per class with ``class`` (its number), ``precision``, ``recall``, ``f1``
    and ``support``, and ``name`` where ``class_names`` gives one per class; ``macro_avg``: the
    unweighted means of the three scores over the classes."""
    correct = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = _ratio(correct, confusion.sum(axis=0))
    recall = _ratio(correct, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    classes = [{"class": k, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
               for k, (p, r, f, s) in enumerate(zip(precision, recall, f1, support))]
    if class_names is not None and len(class_names) == len(classes):
        classes = [{"class": row["class"], "name": name, **row} for row, name in zip(classes, class_names)]
    macro = {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}
    return {"classes": classes, "macro_avg": macro}


def scores_table(scores: dict) -> str:
    """The scores of :func:`class_scores` as an aligned text table, macro averages last (class names
    escaped by :func:`printable`: they may come from a file)."""
    labels = [f"{row['class']} {printable(row['name'])}" if "name" in row else str(row["class"])
              for row in scores["classes"]]
    width = max([5, *map(len, labels)])
    align = "<" if any("name" in row for row in scores["classes"]) else ">"  # names read best left-aligned
    lines = [f"{'class':{align}{width}}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'support':>7}"]
    for label, row in zip(labels, scores["classes"]):
        lines.append(f"{label:{align}{width}}  {row['precision']:>9.4f}  {row['recall']:>6.4f}  {row['f1']:>6.4f}  "
                     f"{row['support']:>7,}")
    macro, total = scores["macro_avg"], sum(row["support"] for row in scores["classes"])
    lines.append(f"{'macro':{align}{width}}  {macro['precision']:>9.4f}  {macro['recall']:>6.4f}  {macro['f1']:>6.4f}  "
                 f"{total:>7,}")
    return "\n".join(lines)


def confusion_table(confusion: np.ndarray) -> str:
    """The confusion matrix as text: a header of predicted classes, one row per true class."""
    k = confusion.shape[0]
    width = max(len(str(int(confusion.max()))), len(str(k - 1))) + 1
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(k))]
    lines += [f"{i:>9}" + "".join(f"{int(c):>{width}}" for c in row) for i, row in enumerate(confusion)]
    return "\n".join(lines)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator > 0)
