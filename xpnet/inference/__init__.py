"""A trained model put to use: a checkpoint loaded as a :class:`Model` (trained_model),
its scores and confusion matrix (scores), the images it reads and draws (images), and
the figures ``python -m xpnet.plot`` makes of it (figures)."""

from .trained_model import SPLITS, Model, load_model

__all__ = ["SPLITS", "Model", "load_model"]
