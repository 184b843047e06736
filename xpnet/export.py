"""``python -m xpnet.export CHECKPOINT OUT.onnx``: a trained network as an ONNX graph.

Any xpnet network (softmax regression, MLPs, CNNs) leaves xpnet as one ``.onnx`` file that
onnxruntime, and the tools that read ONNX, run without xpnet: input ``images``, uint8
(n, height, width) as the datasets hold them (the scaling to [0, 1] is inside the graph);
outputs ``probabilities`` (n, classes) and ``logits``, float32
(:mod:`xpnet.inference.onnx_graph`). Needs the ``onnx`` package: ``pip install -e '.[export]'``.
Exit status: 0, 2 on bad usage, 1 on any other expected error (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import CommandParser, run_command
from .errors import UsageError, XpnetError
from .files import check_output_file, write_output
from .inference.terminal import echo, escaped_errors, printable
from .training.checkpoint import load_checkpoint
from .training.checkpoint_folder import is_folder, newest_usable


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m xpnet.export",
                           description="Write a checkpoint's network as an ONNX graph (uint8 images in, "
                                       "class probabilities out).")
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a .npz or .safetensors checkpoint, or a folder of them (the newest is used)")
    parser.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write (replaced atomically)")
    return parser


def export_checkpoint(checkpoint, out) -> Path:
    """Write the network of ``checkpoint`` (a path, or a folder of checkpoints) to ``out`` (.onnx); its path."""
    check_output_file(out, "OUT.onnx", (".onnx",))
    try:
        from .inference.onnx_graph import network_graph
        import onnx
    except ImportError:
        raise XpnetError("exporting to ONNX needs the onnx package; install it with: "
                         "pip install -e '.[export]' (or pip install onnx)") from None
    path = Path(checkpoint)
    _, loaded = newest_usable(path, lambda line: None) if is_folder(path) else (path, load_checkpoint(path))
    network = loaded.network()
    graph = network_graph(network, loaded.params, normalize=bool(loaded.config.get("normalize", True)),
                          name=f"xpnet {network.title()}")
    onnx.checker.check_model(graph)
    return write_output(out, graph.SerializeToString(), fix="choose another OUT.onnx")


def _run(args: argparse.Namespace) -> None:
    path = Path(args.checkpoint)
    if not path.exists():
        raise UsageError(f"CHECKPOINT {args.checkpoint} does not exist; give a checkpoint file or folder")
    written = export_checkpoint(args.checkpoint, args.out)
    echo(f"ONNX graph written to {printable(str(written))}: input 'images' uint8 (n, height, width), "
         "outputs 'probabilities' and 'logits' (n, classes) float32")


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), escaped_errors(_run), argv)


if __name__ == "__main__":
    sys.exit(main())
