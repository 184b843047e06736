#!/usr/bin/env bash
# CPU lane: install as the README says, with PyTorch's CPU build and JAX's CPU wheels, and run the whole suite.
# GPU tests skip themselves with the reason; real-data tests run where XPNET_DATA_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -e '.[test,jax]'
python -m pip install "${XPNET_TORCH_SPEC:-torch==2.13.0}" --index-url "${XPNET_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" \
  || python -m pip install "${XPNET_TORCH_SPEC:-torch==2.13.0}"
python -m pytest
# The GPU lane's parity command on two pairs of correct CPU backends, float64 then float32: the
# tolerances must pass them with room to spare (their measured gaps are in ci/parity.py).
python ci/parity.py --backends numpy,torch,jax,array-api-strict --dataset synthetic:60000 --epochs 2
