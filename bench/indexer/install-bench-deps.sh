#!/usr/bin/env bash
# Dependencies of the peer benchmark (bench/indexer/peer_bench.py) only, not of CI: faiss
# (Debian's python3-faiss 1.7.3) for the IVF-PQ peer, numpy for exact MaxSim, and the Python gRPC
# stack for the client that talks to tartan-indexer. Idempotent; needs root (or sudo).
set -euo pipefail

packages=(python3 python3-numpy python3-faiss python3-grpcio python3-grpc-tools python3-protobuf)

bash "$(dirname "$0")"/../../scripts/apt-install.sh install-bench-deps "${packages[@]}"
