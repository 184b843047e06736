"""Whole recipes raced to the end (``python -m xpnet.bench --recipes``): xpnet's ``cnn`` preset
beside a CNN written the usual PyTorch way, trained on the same data in one run, seed by seed,
each reporting its training seconds and its test accuracy.

The PyTorch recipe is PyTorch's own layers and optimiser, nothing of xpnet's:
conv32k5-pool-conv64k5-pool-fc256 (``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.Linear``, ReLU, dropout
0.25 before the last layer, PyTorch's default init), AdamW lr 2e-3 weight decay 0.01 under a
one-cycle schedule peaking at 3e-3, batch 128, 5 epochs, images scaled to [0, 1] and
standardised with MNIST's mean and deviation (0.1307, 0.3081), as PyTorch's MNIST example does.
Its seconds count its epochs only (not the data's conversion or the test), as xpnet's
``train_seconds`` do. This module, as a measurement tool comparing libraries, may name PyTorch.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

PRESET = "cnn"
TORCH_RECIPE = "torch-recipe"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class TorchRecipe:
    """The PyTorch recipe's settings: a strong, common way of training this network in PyTorch."""

    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-3
    peak_lr: float = 3e-3
    weight_decay: float = 0.01
    dropout: float = 0.25
    eval_batch_size: int = 1000


def torch_network(recipe: TorchRecipe):
    """conv32k5-pool-conv64k5-pool-fc256-fc10 on (n, 1, 28, 28) images, in ``torch.nn`` layers."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(), nn.Dropout(recipe.dropout), nn.Linear(256, 10))


def torch_images(images: np.ndarray):
    """uint8 images (n, 28, 28) -> float32 tensor (n, 1, 28, 28), standardised."""
    import torch

    scaled = (images.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD
    return torch.from_numpy(np.ascontiguousarray(scaled[:, None, :, :]))


def train_torch_recipe(dataset, seed: int, recipe: TorchRecipe = TorchRecipe()) -> dict:
    """The PyTorch recipe trained on ``dataset`` (an :class:`xpnet.data.Dataset`) from ``seed``:
    ``{"seconds": training seconds, "test_accuracy": fraction, "epochs": ...}``."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    X, y = torch_images(dataset.train_images), torch.from_numpy(dataset.train_labels.astype(np.int64))
    X_test, y_test = torch_images(dataset.test_images), torch.from_numpy(dataset.test_labels.astype(np.int64))
    net = torch_network(recipe)
    optimizer = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps = -(-X.shape[0] // recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.peak_lr,
                                                   total_steps=recipe.epochs * steps)
    order = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    net.train()
    for _ in range(recipe.epochs):
        permutation = torch.randperm(X.shape[0], generator=order)
        for start in range(0, X.shape[0], recipe.batch_size):
            rows = permutation[start:start + recipe.batch_size]
            loss = F.cross_entropy(net(X[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    seconds = time.perf_counter() - started
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, X_test.shape[0], recipe.eval_batch_size):
            scores = net(X_test[start:start + recipe.eval_batch_size])
            correct += int((scores.argmax(dim=1) == y_test[start:start + recipe.eval_batch_size]).sum())
    return {"seconds": seconds, "test_accuracy": correct / X_test.shape[0], "epochs": recipe.epochs}


def train_xpnet_preset(dataset, seed: int, entry: str, epochs: int | None = None) -> dict:
    """xpnet's :data:`PRESET` on ``dataset`` from ``seed`` on the backend ``entry`` (NAME[@DEVICE][+MODE]):
    the same fields as :func:`train_torch_recipe`."""
    from ..cli import entry_compile, split_entry
    from ..training.run import fit

    name, device = split_entry(entry)
    compiled = entry_compile(entry)
    more = {} if compiled is None else {"compile": compiled}
    more.update({} if epochs is None else {"epochs": epochs})
    result = fit(preset=PRESET, dataset=dataset, backend=name, device=device, seed=seed, log=None,
                 progress=False, **more)
    return {"seconds": result.summary["train_seconds"], "test_accuracy": result.test_accuracy,
            "epochs": result.summary["epochs"]}


def race(dataset, seeds: tuple[int, ...], entries: list[str], epochs: int | None = None,
         between_turns=lambda: None) -> list[dict]:
    """For each seed, xpnet's preset on each backend ``entry`` and then the PyTorch recipe, one after
    another; one row per (implementation, seed). ``epochs`` shortens both (tests); None: each
    recipe's own. ``between_turns()`` is called before each turn (the bench's answer to a signal)."""
    recipe = TorchRecipe() if epochs is None else TorchRecipe(epochs=epochs)
    rows = []
    for seed in seeds:
        for entry in entries:
            between_turns()
            rows.append({"implementation": f"xpnet/{entry} --preset {PRESET}", "seed": seed,
                         **train_xpnet_preset(dataset, seed, entry, epochs)})
        between_turns()
        rows.append({"implementation": TORCH_RECIPE, "seed": seed, **train_torch_recipe(dataset, seed, recipe)})
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per implementation: mean test accuracy and seconds over its seeds, and its time as a ratio
    of the PyTorch recipe's (mean over mean)."""
    names = list(dict.fromkeys(row["implementation"] for row in rows))
    means = {}
    for name in names:
        mine = [row for row in rows if row["implementation"] == name]
        means[name] = {"implementation": name, "seeds": [row["seed"] for row in mine],
                       "mean_test_accuracy": statistics.fmean(row["test_accuracy"] for row in mine),
                       "mean_seconds": statistics.fmean(row["seconds"] for row in mine)}
    peer = means.get(TORCH_RECIPE)
    for entry in means.values():
        entry["time_ratio"] = None if peer is None else entry["mean_seconds"] / peer["mean_seconds"]
    return list(means.values())


def render_race(rows: list[dict], described: str) -> str:
    """The race as a text table: a row per run, then the means."""
    width = max(len(row["implementation"]) for row in rows)
    lines = [f"recipes raced on {described}", f"{'implementation':<{width}}  seed  epochs  train s  test acc"]
    for row in rows:
        lines.append(f"{row['implementation']:<{width}}  {row['seed']:>4}  {row['epochs']:>6}  "
                     f"{row['seconds']:>7.1f}  {100 * row['test_accuracy']:>7.2f}%")
    lines.append("means:")
    for entry in summary(rows):
        ratio = "" if entry["time_ratio"] is None else f", {entry['time_ratio']:.2f}x the PyTorch recipe's time"
        lines.append(f"  {entry['implementation']}: {100 * entry['mean_test_accuracy']:.2f}% in "
                     f"{entry['mean_seconds']:.1f} s (seeds {','.join(map(str, entry['seeds']))}){ratio}")
    return "\n".join(lines)
