"""A trained model put to use: a checkpoint loaded as a :class:`Model` (``trained_model``),
its scores and confusion matrix (``scores``), the images it reads and draws (``images``), the
figures ``python -m xpnet.plot`` makes of it (``figures``), its network as an ONNX graph
(``onnx_graph``), and what the commands read and
print made safe: regular files only (``inputs``), names from files escaped (``terminal``)."""

from .trained_model import SPLITS, Model, load_model

__all__ = ["SPLITS", "Model", "load_model"]
