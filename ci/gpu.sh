#!/usr/bin/env bash
# The GPU lane: the whole GPU verdict in one command, on a machine with an NVIDIA GPU and driver.
#
#   bash ci/gpu.sh [ci/gpu_report.py options]    # writes gpu-report.md; exit status 1 if a check failed
#
# Makes a venv (.venv-gpu, or $XPNET_GPU_VENV), installs xpnet with the CuPy build for the
# driver's CUDA major version (XPNET_CUDA_EXTRA=cuda12 or cuda13 overrides) and the test extra,
# then runs ci/gpu_report.py: GPUs and versions, the gpu tests, numpy-vs-cupy parity in float64
# and float32, the seed presets beside NumPy (with XPNET_DATA_DIR) and the bench. With a CUDA 12
# driver it then installs .[jax-cuda12] and runs the same report for JAX, compiled by XLA, into
# gpu-report-jax.md (XPNET_GPU_JAX=0 skips it).
set -euo pipefail

# The float32 parity tolerances assume IEEE float32 matrix products. CuPy uses TF32 only when
# CUPY_TF32=1; NVIDIA_TF32_OVERRIDE=0 turns TF32 off in cuBLAS and cuDNN for every library in
# the process, a CUDA build of PyTorch included. XLA also fuses matrix products into kernels of
# its own, which take JAX's matmul precision instead: "highest" is IEEE float32 there too.
# Exported before any test or parity run.
export CUPY_TF32=0 NVIDIA_TF32_OVERRIDE=0 JAX_DEFAULT_MATMUL_PRECISION=highest

# The CuPy extra for this machine's driver: nvidia-smi's banner names the newest CUDA the driver
# supports ("CUDA Version: 12.4"), and a CuPy built for that major version, or an older one, runs.
# A wedged driver can hang nvidia-smi, so it gets XPNET_NVIDIA_SMI_TIMEOUT seconds (default 60);
# coreutils' timeout signals its whole process group, then kills it 5 s later.
cuda_extra() {
  local banner major status=0 limit=${XPNET_NVIDIA_SMI_TIMEOUT:-60}
  banner=$(timeout -k 5 "$limit" nvidia-smi 2>&1) || status=$?
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "error: nvidia-smi did not answer within $limit s (a hung driver?); check the GPU, or set" \
      "XPNET_CUDA_EXTRA=cuda12 or cuda13 to install without asking it" >&2
    return 1
  elif [ "$status" -ne 0 ]; then
    echo "error: nvidia-smi failed (no NVIDIA driver here?): ${banner%%$'\n'*};" \
      "set XPNET_CUDA_EXTRA=cuda12 or cuda13 to install anyway" >&2
    return 1
  fi
  major=$(printf '%s\n' "$banner" | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\..*/\1/p' | head -n 1)
  if [ -z "$major" ]; then
    echo "error: nvidia-smi shows no 'CUDA Version'; set XPNET_CUDA_EXTRA=cuda12 or cuda13" >&2
    return 1
  elif [ "$major" -lt 12 ]; then
    echo "error: the driver supports CUDA $major, and CuPy 14 needs CUDA 12 or newer; update the NVIDIA driver" >&2
    return 1
  elif [ "$major" -eq 12 ]; then
    echo cuda12
  else
    echo cuda13
  fi
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local extra=${XPNET_CUDA_EXTRA:-} venv=${XPNET_GPU_VENV:-.venv-gpu}
  if [ -z "$extra" ]; then
    extra=$(cuda_extra) || exit 2
  fi
  case "$extra" in
    cuda12|cuda13) ;;
    *) echo "error: XPNET_CUDA_EXTRA must be cuda12 or cuda13, got '$extra'" >&2; exit 2 ;;
  esac
  echo "CuPy extra: $extra; venv: $venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -e ".[$extra,test]"
  local status=0
  "$venv/bin/python" ci/gpu_report.py --out "${XPNET_GPU_REPORT:-gpu-report.md}" "$@" || status=$?
  # JAX on CUDA, compiled by XLA: the same checks, in a report of its own (XPNET_GPU_JAX=0 skips it).
  if [ "${XPNET_GPU_JAX:-1}" != 0 ] && [ "$status" -lt 128 ]; then
    if [ "$extra" = cuda12 ]; then
      "$venv/bin/python" -m pip install -e ".[jax-cuda12]" || status=1
      "$venv/bin/python" ci/gpu_report.py --backend jax --device cuda \
        --out "${XPNET_GPU_JAX_REPORT:-gpu-report-jax.md}" "$@" || status=$?
    else
      echo "JAX report skipped: xpnet's .[jax-cuda12] extra needs a CUDA 12 driver, and this one is $extra"
    fi
  fi
  return "$status"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
