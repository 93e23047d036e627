#!/usr/bin/env bash
# Installs every build, test and demo dependency of Tartan from Debian 12's archive.
# Idempotent (scripts/apt-install.sh skips what is installed). Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates clang-format
  clang-14 libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libopenblas-dev libdnnl-dev libtbb-dev
  prometheus-cpp-dev nlohmann-json3-dev libcli11-dev libre2-dev libicu-dev libutf8proc-dev
  libsqlite3-dev libxxhash-dev prometheus
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-grpcio python3-grpc-tools python3-protobuf python3-numpy python3-yaml python3-jsonschema
)

exec bash "$(dirname "$0")/apt-install.sh" install-deps "${packages[@]}"
