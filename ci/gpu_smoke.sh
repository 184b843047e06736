#!/usr/bin/env bash
# The GPU smoke check, a few minutes on one GPU: bash ci/gpu.sh --smoke, which see.
exec bash "$(dirname "$0")/gpu.sh" --smoke "$@"
