#!/usr/bin/env bash
# Installs missing Debian packages, downloads the default model into the cache, and builds
# `lim` and the tests into build/. Safe to rerun: each step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/fetch-model.sh >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
