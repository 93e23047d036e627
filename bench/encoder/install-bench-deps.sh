#!/usr/bin/env bash
# Dependencies of bench/encoder/peers.sh only (not CI): PyTorch and ONNX from Debian's archive,
# ONNX Runtime from the npm registry (onnxruntime-node ships its own libonnxruntime).
# Idempotent. The npm package goes to $TARTAN_BENCH_DEPS (default ~/.cache/tartan-bench) so
# node_modules never lands in the source tree. --ignore-scripts: the CPU libraries ship in the
# package; its install script only fetches GPU providers from github.com (unreachable here).
set -euo pipefail
deps_dir="${TARTAN_BENCH_DEPS:-$HOME/.cache/tartan-bench}"
need=()
for pkg in python3-torch python3-onnx python3-numpy nodejs; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need[@]}"
fi
mkdir -p "$deps_dir"
if [[ ! -d "$deps_dir/node_modules/onnxruntime-node" ]]; then
  (cd "$deps_dir" && npm install --no-audit --no-fund --ignore-scripts onnxruntime-node@1.20.1)
fi
echo "bench deps ready: torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), onnx $(/usr/bin/python3 -c 'import onnx; print(onnx.__version__)'), onnxruntime-node in $deps_dir"
