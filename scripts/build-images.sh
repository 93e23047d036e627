#!/usr/bin/env bash
# Builds the Tartan images (tartan-encoder, tartan-indexer, tartan-router, tartanctl, and tartan:
# all four binaries, for single-image deployments such as the Helm chart) from
# docker/Dockerfile with buildah: no Docker daemon, --isolation=chroot, vfs storage. Works where
# no base-image registry is reachable: the base is debootstrap'd from Debian's archive
# (`debootstrap --variant=minbase bookworm`) and imported as a local image, which overrides the
# Dockerfile's digest-pinned BUILD_IMAGE/RUNTIME_IMAGE arguments.
#
# The build context is `git archive $REF` (committed files only, as a fresh clone would have).
#   bash scripts/install-image-tools.sh   # once: buildah, podman, debootstrap, crun, runc
#   bash scripts/build-images.sh          # -> localhost/tartan-encoder:dev, ... (see TAG)
# Env:
#   REF            the commit to build (default HEAD)
#   TAG            image tag (default dev)
#   VERSION        org.opencontainers.image.version (default <CMake project version>+g<commit>)
#   JOBS           ninja -j inside the build (default: all cores)
#   TARGETS        subset of "encoder indexer router tartanctl tartan" (default all five)
#   BASE_IMAGE     use this local image as base instead of the debootstrap one
#   DEBIAN_MIRROR  archive for debootstrap (default http://deb.debian.org/debian)
#   TOKENIZER_DIR  a local copy of the ModernBERT tokenizer files (default ../shared/data/
#                  modernbert-tokenizer when present): mounted into the build and fetched by
#                  file:// URL instead of https (the Dockerfile checks SHA-256 either way)
#   STORAGE_ROOT   containers storage root (default: the system one, /var/lib/containers/storage)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TAG=${TAG:-dev}
TARGETS=${TARGETS:-encoder indexer router tartanctl tartan}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_TAG=localhost/tartan-base/debian:bookworm-minbase

for tool in buildah podman debootstrap git; do
  command -v "$tool" >/dev/null || {
    echo "build-images: $tool not found; run scripts/install-image-tools.sh" >&2
    exit 1
  }
done
[ "$(id -u)" -eq 0 ] || { echo "build-images: run as root (buildah chroot isolation)" >&2; exit 1; }

storage=(--storage-driver=vfs)
[ -n "${STORAGE_ROOT:-}" ] && storage+=(--root="$STORAGE_ROOT")

# Reproducible metadata: everything derives from the commit, not from the clock.
REF=${REF:-HEAD}
REVISION=$(git rev-parse "$REF^{commit}")
EPOCH=$(git log -1 --format=%ct "$REVISION")
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
PROJECT_VERSION=$(git show "$REVISION:CMakeLists.txt" | sed -n 's/^project(tartan VERSION \([0-9.]*\).*/\1/p')
VERSION=${VERSION:-${PROJECT_VERSION}+g$(git rev-parse --short=12 "$REVISION")}

# --- base image -------------------------------------------------------------------------------
if [ -n "${BASE_IMAGE:-}" ]; then
  base=$BASE_IMAGE
elif buildah "${storage[@]}" inspect --type image "$BASE_TAG" >/dev/null 2>&1; then
  base=$BASE_TAG
  echo "build-images: base $BASE_TAG present (podman rmi it to rebuild)"
else
  base=$BASE_TAG
  work=$(mktemp -d /var/tmp/tartan-base.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "build-images: debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  # Like the official image: updates and security suites, no docs/man pages installed later.
  cat >"$work/rootfs/etc/apt/sources.list" <<EOS
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOS
  cat >"$work/rootfs/etc/dpkg/dpkg.cfg.d/tartan-slim" <<'EOS'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOS
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar --numeric-owner -C "$work/rootfs" -c . |
    podman "${storage[@]}" import --change 'CMD ["bash"]' - "$BASE_TAG" >/dev/null
  echo "build-images: imported $BASE_TAG"
fi

# --- context: committed files only --------------------------------------------------------------
context=$(mktemp -d /var/tmp/tartan-context.XXXXXX)
trap 'rm -rf "$context" ${work:+"$work"}' EXIT
git archive --format=tar "$REVISION" | tar -x -C "$context"

extra=()
TOKENIZER_DIR=${TOKENIZER_DIR:-$ROOT/../shared/data/modernbert-tokenizer}
if [ -f "$TOKENIZER_DIR/tokenizer.json" ]; then
  extra+=(--volume "$(cd "$TOKENIZER_DIR" && pwd):/mnt/tokenizer:ro"
          --build-arg TOKENIZER_URL=file:///mnt/tokenizer)
fi
[ -n "${JOBS:-}" ] && extra+=(--build-arg "JOBS=$JOBS")

for target in $TARGETS; do
  case $target in
    encoder | indexer | router) image=localhost/tartan-$target:$TAG ;;
    tartanctl | tartan) image=localhost/$target:$TAG ;;
    *) echo "build-images: unknown target $target" >&2; exit 2 ;;
  esac
  echo "build-images: $image (target $target, version $VERSION)"
  # --format docker: OCI image configs have no HEALTHCHECK field; Docker's keeps it.
  buildah "${storage[@]}" build --isolation=chroot --layers --format docker \
    --network host \
    --build-arg "BUILD_IMAGE=$base" --build-arg "RUNTIME_IMAGE=$base" \
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED" \
    "${extra[@]}" \
    --ignorefile "$context/docker/Dockerfile.dockerignore" \
    -f "$context/docker/Dockerfile" --target "$target" -t "$image" "$context"
done
buildah "${storage[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E 'tartan' || true
