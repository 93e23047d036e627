#!/usr/bin/env bash
# Installs the daemonless container tools that scripts/build-images.sh and the `slow` image test
# (tests/integration/images) use, from Debian 12's archive: buildah (builds), podman (runs,
# imports the base), debootstrap (makes the base), crun and runc (OCI runtimes), podman-compose
# and docker-compose (`docker-compose config` validates docker/compose.yaml against the Compose
# schema). Not needed by CI (scripts/install-deps.sh does not call it).
# Idempotent. Needs root (or sudo).
set -euo pipefail

packages=(buildah podman debootstrap crun runc containernetworking-plugins uidmap podman-compose docker-compose)

bash "$(dirname "$0")"/apt-install.sh install-image-tools "${packages[@]}"
