#!/usr/bin/env bash
# Search vs peers (issue 11): builds what the benchmark needs, writes the corpora once (cached
# in $WORK), then runs bench/indexer/peer_bench.py on the structured and skewed synthetic
# corpora and on SciFact (tartanctl encode, lexical test model), and writes
# $WORK/results.{md,json}.
#   bash bench/indexer/run_peer_bench.sh                        # the engine at HEAD, 20k docs
#   ENGINE_REF=worktree bash bench/indexer/run_peer_bench.sh    # the engine as in the work tree
#   DOCS="20000 100000" bash bench/indexer/run_peer_bench.sh --router
# ENGINE_REF: a commit (default HEAD): its tree is exported with git archive to
# $BUILD_DIR/engine-<sha> and tartan-indexer/tartan-router are built there, so uncommitted
# work in progress never leaks into the figures; `worktree`: the work tree's build in $BUILD_DIR.
# Extra arguments go to peer_bench.py (see its --help). Env: BUILD_DIR (default build-sbench),
# WORK (default /tmp/sbench), DOCS (default 20000), QUERIES (default 300), SCIFACT=0 to skip it,
# TARTAN_DATA_DIR (default ../shared/data), OPENBLAS_CORETYPE (default Haswell, as in CI).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build-sbench}
WORK=${WORK:-/tmp/sbench}
DOCS=${DOCS:-20000}
QUERIES=${QUERIES:-300}
DATA=${TARTAN_DATA_DIR:-../shared/data}
ENGINE_REF=${ENGINE_REF:-HEAD}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}

bash bench/indexer/install-bench-deps.sh
configure() {  # source dir, build dir
  [ -f "$2/build.ninja" ] || cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTARTAN_BUILD_BENCH=ON >/dev/null
}
configure . "$BUILD_DIR"
nice cmake --build "$BUILD_DIR" -j2 --target tartanctl tartan-encoder corpus_dump
if [ "$ENGINE_REF" = worktree ]; then
  nice cmake --build "$BUILD_DIR" -j2 --target tartan-indexer tartan-router
  ENGINE_BIN=$BUILD_DIR/bin
  ENGINE_LABEL="work tree at $(git rev-parse --short HEAD)$(git status --porcelain services/indexer/lib services/indexer/*.cc | grep -q . && echo ' + uncommitted changes in services/indexer')"
else
  SHA=$(git rev-parse --short "$ENGINE_REF")
  SRC=$BUILD_DIR/engine-$SHA
  if [ ! -f "$SRC/CMakeLists.txt" ]; then
    mkdir -p "$SRC"
    git archive "$SHA" | tar -x -C "$SRC"
  fi
  configure "$SRC" "$SRC/build-sbench"
  nice cmake --build "$SRC/build-sbench" -j2 --target tartan-indexer tartan-router
  ENGINE_BIN=$SRC/build-sbench/bin
  ENGINE_LABEL="commit $SHA ($(git log -1 --format=%cs "$SHA"))"
fi
mkdir -p "$WORK"

corpora=()
for docs in $DOCS; do
  for kind in structured skewed; do
    dir=$WORK/$kind-$docs
    if [ ! -f "$dir/corpus.json" ]; then
      nice "$BUILD_DIR/bin/corpus_dump" --corpus="$kind" --docs="$docs" --queries="$QUERIES" --out="$dir"
    fi
    corpora+=(--corpus "$dir")
  done
done
if [ "${SCIFACT:-1}" != 0 ]; then
  if [ ! -f "$WORK/scifact/corpus.json" ]; then
    nice /usr/bin/python3 bench/indexer/scifact_vectors.py --bin "$BUILD_DIR/bin" --data "$DATA" --out "$WORK/scifact"
  fi
  corpora+=(--corpus "$WORK/scifact")
fi
uptime
/usr/bin/python3 bench/indexer/peer_bench.py --bin "$ENGINE_BIN" --tools-bin "$BUILD_DIR/bin" \
  --engine-label "$ENGINE_LABEL" --vocab "$DATA/modernbert-tokenizer" --queries "$QUERIES" --work "$WORK" \
  "${corpora[@]}" --json-out "$WORK/results.json" --markdown-out "$WORK/results.md" "$@"
