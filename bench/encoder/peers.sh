#!/usr/bin/env bash
# Tartan's encoder and its peers side by side, one run, same machine, same random checkpoints
# (ModernBERT-base and Ettin-32M shapes written by encoder_bench), same workloads (one 32-token
# query; 8 documents of 180 tokens):
#   - Tartan encoder_bench (fp32, bf16, int8; oneDNN's raw matmul as the peak anchor)
#   - PyTorch eager fp32 and bf16 autocast (peers_torch.py, a re-implementation checked against
#     Tartan's fp32 output)
#   - ONNX Runtime fp32 and dynamic int8 (peers_ort.js on the graph peers_torch.py exports;
#     int8 graph from quantize_int8.py)
#
#   bash bench/encoder/peers.sh [BUILD_DIR=build-enc] [THREADS=1,2] [MODELS=base,ettin32m]
#        [PRECISIONS=fp32,bf16,int8]
# Needs bench/encoder/install-bench-deps.sh and encoder_bench built (-DTARTAN_BUILD_BENCH=ON).
# Every section prints the load average first: the figures are only comparable when it is low;
# the "CPU time" columns (tokens per CPU-second per thread) hold up better on a busy machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build-enc}"
threads="${2:-1,2}"
models="${3:-base,ettin32m}"
precisions="${4:-fp32,bf16,int8}"
min_seconds="${MIN_SECONDS:-1}"
work="$(mktemp -d /tmp/tartan-encoder-peers.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "# encoder peers, $(date -u +%FT%TZ), commit $(git -C "$here" rev-parse --short HEAD)"
lscpu | grep -E "^(Model name|CPU\(s\)|Flags)" | sed -E 's/^Flags:.*/flags: '"$(grep -o -w -E 'avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"'/'
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset}"

echo; echo "## Tartan ($(uptime | sed 's/.*load/load/'))"
nice "$build/bin/encoder_bench" --keep_models="$work" --models="$models" --threads="$threads" \
  --precisions="$precisions" --max_length=180 --min_seconds="$min_seconds" 2>/dev/null

echo; echo "## PyTorch ($(uptime | sed 's/.*load/load/'))"
echo "| engine | model | workload | threads | ms/batch (median wall) | tokens/s (wall) | tokens/s (CPU time) |"
echo "|---|---|---|---:|---:|---:|---:|"
nice /usr/bin/python3 "$here/peers_torch.py" "$work" --models="$models" --threads="$threads" \
  --min_seconds="$min_seconds" 2> >(grep -v -i warning >&2)

echo; echo "## ONNX Runtime ($(uptime | sed 's/.*load/load/'))"
IFS=, read -r -a model_list <<< "$models"
for m in "${model_list[@]}"; do
  nice /usr/bin/python3 "$here/quantize_int8.py" "$work/$m/model.onnx" "$work/$m/model.int8.onnx"
done
echo "| engine | model | workload | threads | ms/batch (median wall) | tokens/s (wall) | tokens/s (CPU time) |"
echo "|---|---|---|---:|---:|---:|---:|"
nice node "$here/peers_ort.js" "$work" "$models" "$threads" "$min_seconds"
echo; echo "done ($(uptime | sed 's/.*load/load/'))"
