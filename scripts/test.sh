#!/usr/bin/env bash
# README's test command: configure, build and run the unit and integration tests.
# Env: BUILD_DIR (default build), JOBS (default nproc), CTEST_ARGS (extra ctest arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
bash scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTARTAN_BUILD_TESTS=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" -L 'unit|integration' --output-on-failure -j "$JOBS" ${CTEST_ARGS:-}
