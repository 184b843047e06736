#!/usr/bin/env bash
# GPU lane, for a runner with an NVIDIA GPU: the gpu-marked tests on CuPy, then a
# numpy-vs-cupy parity run and the seed presets on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -e ".[${XPNET_CUDA_EXTRA:-cuda12},test]"
python -c "import xpnet.backend as b; p = b.cuda_problem(); print('CUDA:', p or 'usable'); raise SystemExit(1 if p else 0)"
# pytest exits 5 when it collects nothing: a GPU-only selection with no GPU tests is a skip, not a failure.
status=0
python -m pytest -m gpu || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then exit "$status"; fi
python ci/parity.py --backends numpy,cupy --dataset synthetic:60000 --epochs 2
if [ -n "${XPNET_DATA_DIR:-}" ]; then
  python -m xpnet.train --preset seed001 --device cuda
fi
