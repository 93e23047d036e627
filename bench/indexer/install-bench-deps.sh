#!/usr/bin/env bash
# Dependencies of the peer benchmark (bench/indexer/peer_bench.py) only, not of CI: faiss
# (Debian's python3-faiss 1.7.3) for the IVF-PQ peer, numpy for exact MaxSim, and the Python gRPC
# stack for the client that talks to tartan-indexer. Idempotent; needs root (or sudo).
set -euo pipefail

packages=(python3 python3-numpy python3-faiss python3-grpcio python3-grpc-tools python3-protobuf)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-bench-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-bench-deps: installing ${missing[*]}"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
