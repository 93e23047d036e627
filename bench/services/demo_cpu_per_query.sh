#!/usr/bin/env bash
# CPU time per query of each process of the running demo cluster (`bash scripts/demo.sh`),
# across one `tartanctl eval` of SciFact's 300 test queries (k=100): utime+stime from
# /proc/PID/stat before and after. CPU time, unlike wall-clock latency, stays comparable on a
# loaded machine. With an indexer binary as argument, the demo's two shards are first
# restarted on it (same flags and data), so two builds can be compared A/B, turn by turn:
#   bash bench/services/demo_cpu_per_query.sh [INDEXER_BINARY]
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=${TARTAN_STATE_DIR:-.tartan/demo}
BIN=${BUILD_DIR:-build}/bin
DATA=${TARTAN_DATA_DIR:-../shared/data}
[ -d "$STATE/pids" ] || { echo "no demo cluster: run bash scripts/demo.sh first" >&2; exit 1; }
if [ $# -ge 1 ]; then
  for i in 0 1; do
    pidfile=$STATE/pids/indexer$i.pid
    pid=$(cat "$pidfile")
    args=()
    while IFS= read -r -d '' a; do args+=("$a"); done < "/proc/$pid/cmdline"
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    "$1" "${args[@]:1}" >>"$STATE/logs/indexer$i.log" 2>&1 &
    echo $! >"$pidfile"
  done
  for _ in $(seq 1 150); do "$BIN/tartanctl" status >/dev/null 2>&1 && break; sleep 0.2; done
  for q in vitamin aspirin cancer cells genes; do "$BIN/tartanctl" search --query "$q" >/dev/null; done
fi
declare -A before
for f in "$STATE"/pids/*.pid; do
  before[$f]=$(awk '{print $14 + $15}' "/proc/$(cat "$f")/stat")
done
"$BIN/tartanctl" eval --beir "$DATA/scifact-beir" | tail -1
ticks=$(getconf CLK_TCK)
for f in "$STATE"/pids/*.pid; do
  after=$(awk '{print $14 + $15}' "/proc/$(cat "$f")/stat")
  echo "$(basename "$f" .pid): $(( (after - ${before[$f]}) * 1000 / ticks / 300 )) ms CPU per query"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
