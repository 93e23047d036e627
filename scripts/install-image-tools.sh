#!/usr/bin/env bash
# Installs the daemonless container tools that scripts/build-images.sh and the `slow` image test
# (tests/integration/images) use, from Debian 12's archive: buildah (builds), podman (runs,
# imports the base), debootstrap (makes the base), crun and runc (OCI runtimes), podman-compose
# and docker-compose (`docker-compose config` validates docker/compose.yaml against the Compose
# schema). Not needed by CI (scripts/install-deps.sh does not call it).
# Idempotent. Needs root (or sudo).
set -euo pipefail

packages=(buildah podman debootstrap crun runc containernetworking-plugins uidmap podman-compose docker-compose)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-image-tools: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-image-tools: installing ${missing[*]}"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
