#!/usr/bin/env bash
# The GPU lane: the whole GPU verdict in one command, on a machine with an NVIDIA GPU and driver.
#
#   bash ci/gpu.sh [ci/gpu_report.py options]    # writes gpu-report.md; exit status 1 if a check failed
#   bash ci/gpu.sh --prepare DIR [--cuda cuda12,cuda13|none] [--python-version 3.12] [--platform TAG]...
#   bash ci/gpu.sh --wheelhouse DIR [ci/gpu_report.py options]   # offline, from DIR made by --prepare
#   bash ci/gpu.sh --no-install [ci/gpu_report.py options]       # the packages are there already
#   bash ci/gpu.sh --smoke [--wheelhouse DIR | --no-install] [ci/gpu_smoke.py options]
#
# Makes a venv (.venv-gpu, or $XPNET_GPU_VENV, made by $XPNET_GPU_PYTHON, default python3),
# installs xpnet with the CuPy build for the driver's CUDA major version (XPNET_CUDA_EXTRA=cuda12
# or cuda13 overrides) and the test extra, then runs ci/gpu_report.py: GPUs and versions, the gpu
# tests, numpy-vs-cupy parity in float64 and float32, the seed presets beside NumPy (with
# XPNET_DATA_DIR) and the bench. It then installs .[jax-cuda12] or .[jax-cuda13] and runs the same
# report for JAX, compiled by XLA, into gpu-report-jax.md (XPNET_GPU_JAX=0 skips it).
#
# Without a package registry: --prepare DIR, on a machine with one, downloads every wheel the lane
# needs (--only-binary; several GB per CUDA major: CuPy's CUDA toolkit, JAX's CUDA plugin) for the
# target's Python and platform (default: the preparing python's) and writes DIR/xpnet-wheelhouse.txt;
# --wheelhouse DIR installs from DIR alone (pip --no-index). --no-install runs the checkout with
# $XPNET_GPU_PYTHON as it is (an NGC container, a cluster module). A package that is missing is one
# line naming it, and the report is still written for what could run. The checkout is first on
# PYTHONPATH in every mode. --smoke installs CuPy and JAX in one go and runs ci/gpu_smoke.py (its
# report: gpu-smoke.md) instead of the report. This script's own flags come before any other.
set -euo pipefail

# The float32 parity tolerances assume IEEE float32 matrix products. CuPy uses TF32 only when
# CUPY_TF32=1; NVIDIA_TF32_OVERRIDE=0 turns TF32 off in cuBLAS and cuDNN for every library in
# the process, a CUDA build of PyTorch included. XLA also fuses matrix products into kernels of
# its own, which take JAX's matmul precision instead: "highest" is IEEE float32 there too.
# Exported before any test or parity run.
export CUPY_TF32=0 NVIDIA_TF32_OVERRIDE=0 JAX_DEFAULT_MATMUL_PRECISION=highest

MANIFEST=xpnet-wheelhouse.txt
# pyproject.toml's build-system: the editable install builds xpnet from the wheelhouse too.
BUILD_REQUIREMENT="setuptools>=64"

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

usage_error() {
  echo "error: $*" >&2
  exit 2
}

# Reads this script's own leading flags into the globals below; the rest go to the report (or smoke) script.
parse_args() {
  mode=lane source=registry source_flag="" dir="" cudas="cuda12,cuda13" target_python=""
  platforms=() prepare_flags=() rest=()
  local flag
  while [ "$#" -gt 0 ]; do
    flag=$1
    case "$flag" in
      --smoke) mode=smoke; shift; continue ;;
      --no-install) set_source none "$flag"; shift; continue ;;
      --prepare|--wheelhouse|--cuda|--python-version|--platform) ;;
      *) break ;;
    esac
    if [ "$#" -lt 2 ] || [ -z "$2" ]; then
      usage_error "$flag needs a value"
    fi
    case "$flag" in
      --prepare) set_source prepare "$flag"; dir=$2 ;;
      --wheelhouse) set_source wheelhouse "$flag"; dir=$2 ;;
      --cuda) cudas=$2; prepare_flags+=("$flag") ;;
      --python-version) target_python=$2; prepare_flags+=("$flag") ;;
      --platform) platforms+=("$2"); prepare_flags+=("$flag") ;;
    esac
    shift 2
  done
  rest=("$@")
  check_own_flags_first
  check_flags
}

# A flag of this script after the report's options would reach the report as a stray argument,
# and the lane would install from the registry instead (several GB with --quick --wheelhouse DIR).
check_own_flags_first() {
  local flag
  for flag in ${rest[@]+"${rest[@]}"}; do
    case "$flag" in
      --smoke|--no-install|--prepare|--wheelhouse|--cuda|--python-version|--platform)
        usage_error "$flag is ci/gpu.sh's own flag and goes before '${rest[0]}':" \
          "bash ci/gpu.sh $flag ... ${rest[0]} ..." ;;
    esac
  done
}

set_source() {
  if [ "$source_flag" = "$2" ]; then
    usage_error "$2 is given twice; give it once"
  elif [ -n "$source_flag" ]; then
    usage_error "$source_flag and $2 cannot be combined; choose one"
  fi
  source=$1 source_flag=$2
}

check_flags() {
  if [ "$source" != prepare ] && [ "${#prepare_flags[@]}" -gt 0 ]; then
    usage_error "${prepare_flags[0]} goes with --prepare DIR only"
  fi
  case "$source" in
    prepare)
      if [ "$mode" = smoke ]; then
        usage_error "--prepare and --smoke cannot be combined: --prepare DIR downloads what --smoke needs too"
      elif [ "${#rest[@]}" -gt 0 ]; then
        usage_error "--prepare takes --cuda, --python-version and --platform only, not '${rest[0]}'"
      elif [[ ! "$cudas" =~ ^(none|cuda1[23](,cuda1[23])?)$ ]]; then
        usage_error "--cuda takes cuda12, cuda13, cuda12,cuda13 or none, not '$cudas'"
      elif [ -n "$target_python" ] && [[ ! "$target_python" =~ ^3\.[0-9]+$ ]]; then
        usage_error "--python-version takes the target's Python as 3.N, such as 3.12, not '$target_python'"
      elif ! mkdir -p -- "$dir" 2>/dev/null; then
        usage_error "cannot make the wheelhouse folder $dir; choose another --prepare DIR"
      fi ;;
    wheelhouse)
      if [ ! -d "$dir" ]; then
        usage_error "the wheelhouse $dir is not a folder; make it with ci/gpu.sh --prepare $dir on a machine with a registry"
      fi ;;
  esac
  if [ -n "$dir" ]; then
    dir=$(cd -- "$dir" && pwd)  # the lane runs in the checkout, the caller may not
  fi
}

# One line of the wheelhouse's manifest, "NAME: value"; nothing where there is no manifest. A
# carriage return (the folder copied through Windows) is dropped: "3.12\r" is not Python 3.12.
manifest_field() {
  if [ -f "$dir/$MANIFEST" ]; then
    sed -n "/^$1: /{s/^$1: //;s/\r\$//;p;q;}" "$dir/$MANIFEST"
  fi
}

# Downloads into $dir the wheels of .[cudaNN,jax-cudaNN,test] for each CUDA major asked for (or
# .[test] alone), with setuptools to build xpnet offline, and writes the manifest --wheelhouse reads.
prepare_wheelhouse() {
  local python=${XPNET_GPU_PYTHON:-python3} options=(download --dest "$dir" --only-binary=:all:)
  local platform extras major prepared="" failed="" sets=()
  if [ -n "$target_python" ]; then
    options+=(--python-version "$target_python")
  fi
  python_for_pip "$python"
  for platform in ${platforms[@]+"${platforms[@]}"}; do
    options+=(--platform "$platform")
  done
  if [ "$cudas" = none ]; then
    sets=(test)
  else
    for major in ${cudas//,/ }; do
      sets+=("$major,jax-$major,test")
    done
  fi
  echo "Preparing $dir for Python $target_python (${platforms[*]:-the platform of this machine}): ${sets[*]}" \
    "(CuPy's CUDA toolkit and JAX's CUDA plugin are several GB per CUDA major)"
  for extras in "${sets[@]}"; do
    if "$python" -m pip "${options[@]}" ".[$extras]" "$BUILD_REQUIREMENT"; then
      prepared+=" ${extras//,/ }"
    else
      failed+=" .[$extras]"
    fi
  done
  write_manifest "$prepared"
  if [ -n "$failed" ]; then
    echo "error: pip could not download${failed} (its output is above); $dir/$MANIFEST lists what it holds:" \
      "$(manifest_field extras)" >&2
    return 1
  fi
  echo "Prepared $dir: $(manifest_field extras); on the GPU machine: bash ci/gpu.sh --wheelhouse $dir"
}

# Checks that the preparing python runs, and makes the target's Python its own unless --python-version said.
python_for_pip() {
  local version
  if ! version=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
    usage_error "$1 does not run; set XPNET_GPU_PYTHON to the python whose pip downloads the wheels"
  fi
  target_python=${target_python:-$version}
}

# The manifest: for which Python and platforms the wheels are, and which of xpnet's extras they
# hold, merged with an earlier manifest for the same target (another CUDA major prepared before).
write_manifest() {
  local extras=$1 platform_text=${platforms[*]:-as the preparing machine} earlier extra merged=""
  if [ "$(manifest_field python)" = "$target_python" ] && [ "$(manifest_field platforms)" = "$platform_text" ]; then
    earlier=$(manifest_field extras)
    extras="$earlier $extras"
  fi
  for extra in $extras; do
    if [[ " $merged " != *" $extra "* ]]; then
      merged+="${merged:+ }$extra"
    fi
  done
  printf '%s\n' "# Wheels for xpnet's GPU lane, made by ci/gpu.sh --prepare; read by ci/gpu.sh --wheelhouse." \
    "python: $target_python" "platforms: $platform_text" "extras: $merged" \
    "prepared: $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dir/$MANIFEST.partial"
  mv -f -- "$dir/$MANIFEST.partial" "$dir/$MANIFEST"
}

# The CuPy extra for this lane, in the global $extra: XPNET_CUDA_EXTRA, else the driver's. The
# smoke check runs without one (its CPU dry run); the report's lane exits 2.
choose_extra() {
  extra=${XPNET_CUDA_EXTRA:-}
  if [ -z "$extra" ] && ! extra=$(cuda_extra); then
    if [ "$mode" != smoke ]; then
      exit 2
    fi
    echo "no CUDA extra installed: the smoke check runs what it can without a GPU" >&2
    return
  fi
  case "$extra" in
    cuda12|cuda13) ;;
    *) usage_error "XPNET_CUDA_EXTRA must be cuda12 or cuda13, got '$extra'" ;;
  esac
}

make_venv() {
  local python=${XPNET_GPU_PYTHON:-python3}
  venv=${XPNET_GPU_VENV:-.venv-gpu}
  if [ ! -x "$venv/bin/python" ] && ! "$python" -m venv "$venv"; then
    usage_error "$python -m venv $venv failed (above); install Python's venv module (Debian, Ubuntu: apt install" \
      "python3-venv), set XPNET_GPU_PYTHON to another python, or run with --no-install"
  fi
  py=$venv/bin/python
}

# Makes xpnet with the EXTRAs (empty ones left out) importable by $py, as $source says: pip from
# the registry, pip from the wheelhouse, or nothing. Missing packages are one line each; returns 1
# only when pip failed (the report's device check says what a missing package means).
install() {
  local wanted=() extra
  for extra in "$@"; do
    if [ -n "$extra" ]; then
      wanted+=("$extra")
    fi
  done
  case "$source" in
    none) say_missing_modules "${wanted[@]}" ;;
    wheelhouse) install_offline "${wanted[@]}" ;;
    *) pip_install "${wanted[@]}" ;;
  esac
}

pip_install() {
  local spec
  spec=".[$(IFS=,; echo "$*")]"
  if ! "$py" -m pip install -e "$spec"; then
    echo "error: pip install -e $spec failed (its output is above); the report covers what could run" >&2
    return 1
  fi
}

has_module() {
  "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)' "$1" 2>/dev/null
}

# The module whose presence shows an extra is installed.
extra_module() {
  case "$1" in
    test) echo pytest ;;
    jax-*) echo "jax_${1#jax-}_plugin" ;;
    *) echo cupy ;;
  esac
}

# What the wheelhouse lacks and $py lacks too is one line each and left out; the rest is installed.
install_offline() {
  local kept=() extra wheel cuda
  for extra in "$@"; do
    if [[ " $wheelhouse_extras " == *" $extra "* ]] || has_module "$(extra_module "$extra")"; then
      kept+=("$extra")
      continue
    fi
    case "$extra" in
      test) wheel="test extra (pytest)" cuda="" ;;
      jax-*) wheel="jax-${extra#jax-}-plugin wheel" cuda=" --cuda ${extra#jax-}" ;;
      *) wheel="cupy-${extra}x wheel" cuda=" --cuda $extra" ;;
    esac
    echo "$(extra_module "$extra") is not installed and the wheelhouse $dir has no $wheel; run" \
      "ci/gpu.sh --prepare $dir$cuda on a machine with a registry" >&2
  done
  if [ "${#kept[@]}" -eq 0 ]; then
    return 0
  fi
  if ! "$py" -m pip install --no-index --find-links "$dir" -e ".[$(IFS=,; echo "${kept[*]}")]"; then
    echo "error: pip could not install .[$(IFS=,; echo "${kept[*]}")] from the wheelhouse $dir (its output is" \
      "above); the report covers what could run" >&2
    return 1
  fi
}

# What the wheelhouse's manifest says it holds, in $wheelhouse_extras (without a manifest, every
# extra the lane asks for), and one line when it was prepared for another Python than $py.
read_wheelhouse() {
  local python
  wheelhouse_extras=$(manifest_field extras)
  python=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo unknown)
  if [ ! -f "$dir/$MANIFEST" ]; then
    wheelhouse_extras="test cuda12 cuda13 jax-cuda12 jax-cuda13"
    echo "the wheelhouse $dir has no $MANIFEST (ci/gpu.sh --prepare writes one): trying every extra" >&2
  elif [ "$(manifest_field python)" != "$python" ]; then
    echo "the wheelhouse $dir holds wheels for Python $(manifest_field python) and $py is Python $python;" \
      "run ci/gpu.sh --prepare $dir --python-version $python on a machine with a registry" >&2
  fi
}

# --no-install: each module the EXTRAs stand for (and xpnet's own dependencies, with the test
# extra) that $py cannot import is one line.
say_missing_modules() {
  local extra module modules=()
  for extra in "$@"; do
    case "$extra" in
      test) modules+=(numpy array_api_compat tqdm threadpoolctl pytest) ;;
      jax-*) modules+=(jax) ;;
      *) modules+=(cupy) ;;
    esac
  done
  for module in "${modules[@]}"; do
    if ! has_module "$module"; then
      echo "$module is not installed for $py, and --no-install installs nothing; install it there, or run" \
        "ci/gpu.sh --wheelhouse DIR" >&2
    fi
  done
}

# Runs $py with the checkout's xpnet first on its path: --no-install has no other, and the lane
# still runs the code under test where an editable install failed. (Not for pip, which would
# take the checkout for an installed xpnet.)
in_checkout() {
  XPNET_GPU_SH_PID=$$ PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" run_passing_signals "$py" "$@"
}

# Runs "$@" and passes SIGINT, SIGTERM and SIGHUP on to it (the report then marks itself
# interrupted and stops its check), then exits 128 + the signal's number once it has ended.
# Without this, a signal sent to this script alone ended bash at once and left the report
# running on the GPU, never marked interrupted. SIGKILL cannot be passed on: the report asks
# Linux for a SIGTERM when the process XPNET_GPU_SH_PID names dies. Bash runs a command in the
# background with SIGINT and SIGQUIT ignored, which the report's checks would inherit (xpnet
# then takes an ignored Ctrl-C as the caller's choice): the subshell restores them first.
run_passing_signals() {
  local status=0
  stopped=0
  (trap - INT QUIT; exec "$@") &
  child=$!
  trap 'pass_on INT 2' INT
  trap 'pass_on TERM 15' TERM
  trap 'pass_on HUP 1' HUP
  while :; do
    status=0
    wait "$child" || status=$?
    if ! kill -0 "$child" 2>/dev/null; then  # else the wait ended early, at a trapped signal
      break
    fi
  done
  trap - INT TERM HUP
  if [ "$stopped" -ne 0 ]; then
    exit $((128 + stopped))
  fi
  return "$status"
}

pass_on() {
  stopped=$2
  kill -s "$1" "$child" 2>/dev/null || true
}

run_lane() {
  local status=0
  install "$extra" test || status=1
  in_checkout ci/gpu_report.py --out "${XPNET_GPU_REPORT:-gpu-report.md}" ${rest[@]+"${rest[@]}"} \
    || status=$?
  # JAX on CUDA, compiled by XLA: the same checks, in a report of its own (XPNET_GPU_JAX=0 skips it).
  # A 13.x driver would run JAX's cu12 wheels too; each major gets its own extra all the same.
  if [ "${XPNET_GPU_JAX:-1}" != 0 ] && [ "$status" -lt 128 ]; then
    install "jax-$extra" || status=1
    in_checkout ci/gpu_report.py --backend jax --device cuda --out "${XPNET_GPU_JAX_REPORT:-gpu-report-jax.md}" \
      ${rest[@]+"${rest[@]}"} || status=$?
  fi
  return "$status"
}

# The smoke check (ci/gpu_smoke.py): CuPy and JAX installed in one go, one report.
run_smoke() {
  local status=0
  install ${extra:+"$extra" "jax-$extra"} test || status=1
  in_checkout ci/gpu_smoke.py --out "${XPNET_GPU_SMOKE_REPORT:-gpu-smoke.md}" ${rest[@]+"${rest[@]}"} || status=$?
  return "$status"
}

main() {
  parse_args "$@"
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  if [ "$source" = prepare ]; then
    prepare_wheelhouse
    return
  fi
  extra=""
  if [ "$source" = none ]; then
    py=${XPNET_GPU_PYTHON:-python3}
    if ! command -v "$py" >/dev/null; then
      usage_error "$py not found; set XPNET_GPU_PYTHON to the python that has xpnet's packages"
    fi
    extra=cuda  # nothing is installed, so no CUDA major is asked for: "cuda" names CuPy and JAX alike
    echo "installing nothing: $py runs the checkout"
  else
    choose_extra
    make_venv
    echo "CuPy extra: ${extra:-none}; venv: $venv; packages from ${dir:-the registry}"
    if [ "$source" = wheelhouse ]; then
      read_wheelhouse
    fi
  fi
  if [ "$mode" = smoke ]; then
    run_smoke
  else
    run_lane
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
