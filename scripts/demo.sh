#!/usr/bin/env bash
# README's main command: build Tartan, start a local cluster on 127.0.0.1 (encoder, two
# indexer shards, router — each with /metrics), ingest BEIR SciFact, run a few searches and
# `tartanctl eval`, print the results, and LEAVE THE CLUSTER RUNNING.
#   bash scripts/demo.sh          # set up, start, ingest, search, evaluate
#   bash scripts/demo.sh stop     # stop the cluster
#   bash scripts/demo.sh status   # cluster status
# Env: TARTAN_DATA_DIR (corpus + tokenizer; default ../shared/data when present, else
# downloaded into .tartan/data), TARTAN_MODEL (a real PyLate checkpoint folder; default: the
# lexical test model written by `tartanctl make-test-model --lexical`), DEMO_DOCS (limit the
# number of documents ingested; default all 5,183), DEMO_EXACT=1 (also evaluate exact
# brute-force MaxSim, the reference; slow), DEMO_RERANK_STORE=0 (shards without the f16
# rerank store: final scores on the compressed vectors, 256 fewer bytes per token on disk),
# BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=${TARTAN_STATE_DIR:-$ROOT/.tartan/demo}
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) BIN=$BUILD_DIR/bin ;; *) BIN=$ROOT/$BUILD_DIR/bin ;; esac
ROUTER_PORT=${ROUTER_PORT:-50050}
ENCODER_PORT=${ENCODER_PORT:-50051}
SHARD_PORTS=(${SHARD0_PORT:-50061} ${SHARD1_PORT:-50062})
export TARTAN_ROUTER=127.0.0.1:$ROUTER_PORT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_cluster() {
  [ -d "$STATE/pids" ] || { echo "no demo cluster is running"; return 0; }
  for pidfile in "$STATE"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" && echo "stopping $(basename "$pidfile" .pid) (pid $pid)"
    fi
  done
  for pidfile in "$STATE"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"
  done
  echo "demo cluster stopped (data kept in $STATE)"
}

case "${1:-run}" in
  stop) stop_cluster; exit 0 ;;
  status) "$BIN/tartanctl" status; exit $? ;;
  run) ;;
  *) echo "usage: $0 [run|stop|status]" >&2; exit 2 ;;
esac

say "1/6 dependencies (Debian packages)"
bash scripts/install-deps.sh

say "2/6 build"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target tartan-encoder tartan-indexer tartan-router tartanctl

say "3/6 data"
if [ -z "${TARTAN_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data/scifact-beir" ]; then
  TARTAN_DATA_DIR=$(cd "$ROOT/../shared/data" && pwd)
fi
TARTAN_DATA_DIR=${TARTAN_DATA_DIR:-$ROOT/.tartan/data}
export TARTAN_DATA_DIR
bash scripts/fetch-data.sh "$TARTAN_DATA_DIR"
SCIFACT=$TARTAN_DATA_DIR/scifact-beir
echo "data: $TARTAN_DATA_DIR"

say "4/6 model"
if [ -n "${TARTAN_MODEL:-}" ]; then
  MODEL=$TARTAN_MODEL
  echo "using the checkpoint in $MODEL"
else
  MODEL=$STATE/lexical-model
  if [ ! -f "$MODEL/model.safetensors" ]; then
    "$BIN/tartanctl" make-test-model --lexical --out "$MODEL" --vocab-from "$TARTAN_DATA_DIR/modernbert-tokenizer"
  fi
  cat <<'NOTE'
NOTE: trained weights cannot ship with Tartan. This demo runs the *lexical test model*: a real
ModernBERT-shaped PyLate checkpoint whose attention and MLP output projections are zero, so each
token's vector is its own (normalised, projected) embedding and MaxSim becomes exact term
matching. The whole real path runs (tokenizer, transformer, Dense, PyLate rules, compressed
index, fan-out). For real quality: TARTAN_MODEL=/path/to/GTE-ModernColBERT-v1 bash scripts/demo.sh
NOTE
fi
DIM=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['out_features'])" "$MODEL/1_Dense/config.json")

say "5/6 start the cluster on 127.0.0.1"
if [ -d "$STATE/pids" ] && ls "$STATE"/pids/*.pid >/dev/null 2>&1; then
  echo "a previous demo cluster is running; stopping it first"
  stop_cluster
fi
METRICS_BASE=${METRICS_BASE:-9100}  # router, encoder, shard 0, shard 1 = base + 0..3
for port in $ROUTER_PORT $ENCODER_PORT "${SHARD_PORTS[@]}" $(seq "$METRICS_BASE" $((METRICS_BASE + 3))); do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port is in use; set ROUTER_PORT / ENCODER_PORT / SHARD0_PORT / SHARD1_PORT / METRICS_BASE" >&2
    exit 1
  fi
done
mkdir -p "$STATE/pids" "$STATE/logs"
start() {  # name, binary, args...
  local name=$1; shift
  nohup "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
  echo "started $name (pid $!): log $STATE/logs/$name.log"
}
start encoder "$BIN/tartan-encoder" --model="$MODEL" --host=127.0.0.1 --grpc_port="$ENCODER_PORT" --metrics_port=$((METRICS_BASE + 1)) --threads="$(nproc)"
# One codec for both shards, trained once on a sample of the corpus (tartanctl train-codec):
# the shards then score a document alike, so the router's merged top-k ranks as one index
# would, and new documents are indexed from the first write instead of brute-forced until a
# shard has enough to train on.
CODEC=$STATE/codec.tseg
if [ ! -f "$CODEC" ]; then
  /usr/bin/python3 - "$SCIFACT" 500 >"$STATE/codec-sample.jsonl" <<'PY'
import glob, json, sys
folder, n = sys.argv[1], int(sys.argv[2])
lines = []  # corpus.jsonl, or its parts corpus.partK-of-N.jsonl
for path in sorted(glob.glob(folder + "/corpus*.jsonl")):
    lines += open(path, encoding="utf-8").read().splitlines()
step = max(1, len(lines) // n)
for line in lines[::step][:n]:
    d = json.loads(line)
    text = (d.get("title", "") + " " + d["text"]).strip()
    print(json.dumps({"text": text}))
PY
  "$BIN/tartanctl" encode --model "$MODEL" --documents --threads "$(nproc)" \
    <"$STATE/codec-sample.jsonl" >"$STATE/codec-sample-vectors.jsonl"
  # The centroid count follows the whole index: the sample's tokens scaled to the corpus.
  index_tokens=$(/usr/bin/python3 -c "
import glob, json, sys
docs = sum(1 for p in glob.glob(sys.argv[1] + '/corpus*.jsonl') for _ in open(p))
rows = sum(len(json.loads(line)['embeddings']) for line in open(sys.argv[2]))
print(rows * docs // 500)" "$SCIFACT" "$STATE/codec-sample-vectors.jsonl")
  "$BIN/tartanctl" train-codec --vectors "$STATE/codec-sample-vectors.jsonl" --out "$CODEC" \
    --index-tokens "$index_tokens"
fi
shard_list=""
store=()
[ "${DEMO_RERANK_STORE:-1}" != 0 ] && store=(--rerank_store)
for i in 0 1; do
  start "indexer$i" "$BIN/tartan-indexer" --index_dir="$STATE/shard$i" --dim="$DIM" --host=127.0.0.1 \
    --grpc_port="${SHARD_PORTS[$i]}" --metrics_port=$((METRICS_BASE + 2 + i)) --shard_name="shard$i" \
    --codec_file="$CODEC" --allow_exact_search "${store[@]}"
  shard_list+="${shard_list:+,}127.0.0.1:${SHARD_PORTS[$i]}"
done
start router "$BIN/tartan-router" --encoder=127.0.0.1:"$ENCODER_PORT" --shards="$shard_list" \
  --host=127.0.0.1 --grpc_port="$ROUTER_PORT" --metrics_port="$METRICS_BASE" \
  --allow_exact_search  # exact brute force (tartanctl --exact) is off unless allowed
ready=""
for _ in $(seq 1 300); do
  if "$BIN/tartanctl" status >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "the cluster did not become healthy within 60 s; last log lines:" >&2
  tail -n 5 "$STATE"/logs/*.log >&2
  stop_cluster
  exit 1
fi
"$BIN/tartanctl" status

say "6/6 ingest SciFact, search, evaluate"
limit=()
[ -n "${DEMO_DOCS:-}" ] && limit=(--limit "$DEMO_DOCS")
"$BIN/tartanctl" ingest --input "$SCIFACT" --restart "${limit[@]}"
"$BIN/tartanctl" status
for q in "0-dimensional biomaterials show inductive properties." \
         "Vitamin D deficiency is associated with multiple sclerosis." \
         "Aspirin reduces the risk of colorectal cancer."; do
  echo; echo "query: $q"
  "$BIN/tartanctl" search --query "$q" --k 5
done
echo
echo "evaluation on SciFact test queries (compressed index):"
"$BIN/tartanctl" eval --beir "$SCIFACT" --json-out "$STATE/eval-index.json"
if [ -n "${DEMO_EXACT:-}" ]; then  # brute force over every token: about 1 s per query here
  echo "evaluation on SciFact test queries (exact brute-force MaxSim, the reference):"
  "$BIN/tartanctl" eval --beir "$SCIFACT" --exact --json-out "$STATE/eval-exact.json"
fi

cat <<EOF2

The cluster is still running on 127.0.0.1:
  router  $TARTAN_ROUTER (metrics http://127.0.0.1:$METRICS_BASE/metrics)
  encoder 127.0.0.1:$ENCODER_PORT (metrics :$((METRICS_BASE + 1)))   shards $shard_list (metrics :$((METRICS_BASE + 2)), :$((METRICS_BASE + 3)))
Try:  $BUILD_DIR/bin/tartanctl search --query "your question"
Stop: bash scripts/demo.sh stop
EOF2
