"""An xpnet network as an ONNX graph, built with the ``onnx`` package (the ``export`` extra).

The graph takes ``images``, uint8 (n, height, width) or (n, height, width, channels), pixels
0-255 as the datasets hold them, and gives ``probabilities`` (n, classes), float32, and
``logits``. Inside: the pixels cast to float32 and divided by 255 when the run normalised its
inputs, then the network's layers: ``Gemm`` (+ ``Relu``) for the fc layers, ``Conv`` in NCHW
with the kernels turned from xpnet's (k, k, c_in, c_out) to ONNX's (c_out, c_in, k, k),
``MaxPool``/``AveragePool`` 2 x 2, and the image turned back to xpnet's channels-last order
before it is flattened, so the first fc layer's weights apply as they are. Weights are stored
in float32 (a float64 checkpoint is rounded once).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..nn.conv import AvgPool2d, Conv2d, Flatten, MaxPool2d
from ..nn.layers import Dense, ReLU

OPSET = 17
INPUT, OUTPUT, LOGITS = "images", "probabilities", "logits"


def network_graph(network, params, *, normalize: bool, name: str = "xpnet"):
    """The ``onnx.ModelProto`` of ``network`` (an :class:`~xpnet.nn.architecture.Architecture`) with
    host ``params`` ``[(W, b), ...]``; ``normalize``: divide the pixels by 255 first."""
    from onnx import TensorProto, helper, numpy_helper

    height, width, channels = network.image_shape
    nodes, weights = [], []
    counter = itertools.count()

    def fresh(stem: str) -> str:
        return f"{stem}_{next(counter)}"

    def constant(stem: str, array) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array), fresh(stem)))
        return weights[-1].name

    def node(op: str, inputs: list[str], **attributes) -> str:
        out = fresh(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    current = node("Cast", [INPUT], to=TensorProto.FLOAT)
    if normalize:
        current = node("Div", [current, constant("scale", np.array(255.0, dtype=np.float32))])
    convolutional = network.is_convolutional
    shape = (-1, height, width, channels) if convolutional else (-1, height * width * channels)
    current = node("Reshape", [current, constant("shape", np.array(shape, dtype=np.int64))])
    if convolutional:
        current = node("Transpose", [current], perm=[0, 3, 1, 2])  # NHWC -> NCHW
    remaining = iter(params)
    for layer in network.layers(dropout=False):
        current = _layer(layer, current, remaining, node, constant)
    nodes.append(helper.make_node("Identity", [current], [LOGITS]))
    nodes.append(helper.make_node("Softmax", [LOGITS], [OUTPUT], axis=1))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["n", height, width] if channels == 1
                                       else ["n", height, width, channels])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n", network.classes]),
         helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["n", network.classes])],
        weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="xpnet")
    model.ir_version = 8  # read by onnxruntime releases of the last years
    return model


def _layer(layer, current: str, remaining, node, constant) -> str:
    """The nodes of one xpnet layer after ``current``; the name of its output."""
    if isinstance(layer, Dense):
        W, b = next(remaining)
        weights = constant("W", np.asarray(W, np.float32))
        return node("Gemm", [current, weights, constant("b", np.asarray(b, np.float32))])
    if isinstance(layer, ReLU):
        return node("Relu", [current])
    if isinstance(layer, Conv2d):
        W, b = next(remaining)
        kernel = np.transpose(np.asarray(W, np.float32), (3, 2, 0, 1))  # (k, k, c_in, c_out) -> (c_out, c_in, k, k)
        return node("Conv", [current, constant("W", kernel), constant("b", np.asarray(b, np.float32))],
                    kernel_shape=[layer.kernel, layer.kernel], pads=[layer.pad] * 4)
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        return node("MaxPool" if isinstance(layer, MaxPool2d) else "AveragePool", [current], kernel_shape=[2, 2],
                    strides=[2, 2])
    if isinstance(layer, Flatten):
        back = node("Transpose", [current], perm=[0, 2, 3, 1])  # NCHW -> NHWC: xpnet flattens channels last
        return node("Flatten", [back], axis=1)
    raise ValueError(f"no ONNX form for the layer {type(layer).__name__}")
