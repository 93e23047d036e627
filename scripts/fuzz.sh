#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, -fsanitize=fuzzer,address,undefined) in
# their own build folder and runs each for a bounded time, starting from the committed seeds
# (tests/fuzz/corpus/<target>) plus reference files from ../shared. A crash, leak, sanitizer
# report or timeout fails the script; the reproducer is kept under
# $BUILD_DIR/fuzz-artifacts/<target>/: fix the bug, then copy the file into
# tests/fuzz/corpus/<target>/ so the replay unit test (fuzz_<target>_replay) keeps it fixed.
# Run by CI (.ci/run) after the unit tests.
# Env: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_SECONDS per target (default 20),
#      FUZZ_TARGETS (space-separated names, default all), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc)}
SHARED=${TARTAN_SHARED_DIR:-$(pwd)/../shared}
ALL_TARGETS="tokenizer_text tokenizer_json model_config model_folder safetensors npy segment_file
  plaid_import request_checks indexer_service encoder_service router_service"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTARTAN_BUILD_TESTS=ON -DTARTAN_BUILD_FUZZERS=ON -DTARTAN_SHARED_DIR="$SHARED" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target $(printf 'fuzz_%s ' $TARGETS)

# Extra seeds from the shared reference data (not committed: ../shared is not ours to copy).
extra="$BUILD_DIR/fuzz-extra-seeds"
rm -rf "$extra"
# (The real tokenizer.json files are far over -max_len; the tokenizer_text target loads them.)
mkdir -p "$extra"/{model_config,npy,safetensors,plaid_import}
for f in "$SHARED"/data/*/config*.json "$SHARED"/golden/models/*/config.json; do
  cp "$f" "$extra/model_config/$(echo "$f" | tr / _)"
done
for f in "$SHARED"/data/pylate-rs-plaid-index/*.npy; do cp "$f" "$extra/npy/"; done
# Records of tests/fuzz/fuzz_support.h: name byte, 3-byte little-endian length, contents.
python3 - "$SHARED" "$extra" <<'PY'
import os, sys
shared, extra = sys.argv[1], sys.argv[2]
def record(i, path):
    data = open(path, "rb").read()
    return bytes([i]) + len(data).to_bytes(3, "little") + data
plaid = ["metadata.json", "centroids.npy", "bucket_cutoffs.npy", "bucket_weights.npy",
         "doclens.0.json", "0.codes.npy", "0.residuals.npy", "ivf.npy", "ivf_lengths.npy"]
src = os.path.join(shared, "data/pylate-rs-plaid-index")
with open(os.path.join(extra, "plaid_import/pylate-rs"), "wb") as out:
    for i, name in enumerate(plaid):
        out.write(record(i, os.path.join(src, name)))
for model in ("bert-colbert-tiny", "modernbert-colbert-tiny"):
    path = os.path.join(shared, "golden/models", model, "1_Dense/model.safetensors")
    if os.path.exists(path) and os.path.getsize(path) < (1 << 24):
        with open(os.path.join(extra, "safetensors", model), "wb") as out:
            out.write(record(0, path))
PY

failed=()
for t in $TARGETS; do
  work="$BUILD_DIR/fuzz-corpus/$t"        # grows across runs in this build folder
  artifacts="$BUILD_DIR/fuzz-artifacts/$t"
  mkdir -p "$work" "$artifacts"
  seeds=("tests/fuzz/corpus/$t")
  [ -d "$extra/$t" ] && seeds+=("$extra/$t")
  echo "fuzz: $t for ${SECONDS_PER_TARGET} s"
  if ! TARTAN_SHARED_DIR="$SHARED" ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$BUILD_DIR/bin/fuzz_$t" "$work" "${seeds[@]}" -max_total_time="$SECONDS_PER_TARGET" \
      -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$BUILD_DIR/fuzz-$t.log" 2>&1; then
    tail -60 "$BUILD_DIR/fuzz-$t.log"
    failed+=("$t")
  else
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$BUILD_DIR/fuzz-$t.log" |
      tr '\n' ' '
    echo
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (reproducers under $BUILD_DIR/fuzz-artifacts/)"
  exit 1
fi
echo "fuzz: ${SECONDS_PER_TARGET} s per target, no findings"
