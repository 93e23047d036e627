#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer pass over every unit test (label `unit`,
# the fuzz corpora's replay tests included), in its own build folder. Only the unit test
# binaries are built. Run by CI (.ci/run) after README's test command.
# Env: ASAN_BUILD_DIR (default build-asan), JOBS (default nproc), ASAN_TESTS (a regex of unit
#      test names to build and run instead of all), CTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTARTAN_BUILD_TESTS=ON \
  -DTARTAN_SANITIZE=address,undefined >/dev/null
# The unit tests' executables: a test is named after its target (tartan_add_test), except
# fuzz_<name>_replay, which runs fuzz_<name>.
TESTS=${ASAN_TESTS:-.}
targets=$(ctest --test-dir "$BUILD_DIR" -L unit -R "$TESTS" -N | sed -n 's/^ *Test *#[0-9]*: //p' |
  sed 's/^\(fuzz_.*\)_replay$/\1/' | sort -u)
[ -n "$targets" ] || { echo "asan: no unit tests found" >&2; exit 1; }
cmake --build "$BUILD_DIR" -j "$JOBS" --target $targets
# OpenBLAS's threads are not ASan's business and only slow the pass down.
OPENBLAS_NUM_THREADS=1 \
  ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  ctest --test-dir "$BUILD_DIR" -L unit -R "$TESTS" --output-on-failure -j "$JOBS" ${CTEST_ARGS:-}
