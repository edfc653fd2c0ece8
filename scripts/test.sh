#!/usr/bin/env bash
# Sets everything up (see setup.sh) and runs the whole test suite with CTest. Tests that
# compare against the real default model find it through LIM_MODEL.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
LIM_MODEL="$(scripts/fetch-model.sh)"
export LIM_MODEL
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
