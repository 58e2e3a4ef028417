#!/usr/bin/env bash
# Builds the Moor container image offline from the project's release binaries.
#
#   deploy/docker/build-image.sh [TAG]        # default TAG: moor:latest
#
# No image is pulled: the image is `FROM scratch` with the stripped binaries (moord, moorctl,
# moor-sitesim, moor-agent) and exactly the shared libraries `ldd` names for them, copied from this
# machine. Binaries come from MOOR_BIN_DIR, else $CARGO_TARGET_DIR/release, else
# /var/tmp/moor-target/release (`make build` puts them there).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
tag="${1:-moor:latest}"
bin_dir="${MOOR_BIN_DIR:-${CARGO_TARGET_DIR:-/var/tmp/moor-target}/release}"
binaries=(moord moorctl moor-sitesim moor-agent)

die() { echo "build-image: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed; install docker.io (Debian) and start the engine"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (docker info failed); start it (systemctl start docker) or set DOCKER_HOST"
for tool in ldd strip; do
  command -v "$tool" >/dev/null || die "$tool is missing; apt-get install binutils libc-bin"
done
for b in "${binaries[@]}"; do
  [ -x "$bin_dir/$b" ] || die "$bin_dir/$b not found; build first with 'make build' (or set MOOR_BIN_DIR)"
done

ctx="$(mktemp -d "${TMPDIR:-/tmp}/moor-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/libs" "$ctx/data"
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp -a "$here/rootfs" "$ctx/rootfs"
mkdir -p "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"

for b in "${binaries[@]}"; do
  # Release binaries carry line tables (~480 MB for the first three); the image needs none of it.
  strip --strip-debug -o "$ctx/bin/$b" "$bin_dir/$b"
  # `ldd` prints "libx.so => /path (0x...)" and the loader as "/lib64/ld-linux... (0x...)".
  missing="$(ldd "$bin_dir/$b" | grep 'not found' || true)"
  [ -z "$missing" ] || die "$b needs libraries this machine lacks: $missing"
  ldd "$bin_dir/$b" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$ctx/libs$(dirname "$lib")"
    cp -L "$lib" "$ctx/libs$lib"
  done
done

# The public CA bundle of this machine, so Git sources over https can verify their servers
# (moord's Git client reads the system store). Without it, https sources fail with a
# certificate error; file:// sources would need a git binary, which the image does not have.
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca_bundle" ] || die "$ca_bundle not found: apt-get install ca-certificates (https Git sources need it)"
mkdir -p "$ctx/rootfs/etc/ssl/certs"
cp -L "$ca_bundle" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"

echo "build-image: context $(du -sh "$ctx" | cut -f1) ($(find "$ctx/libs" -type f | wc -l) libraries); building $tag"
# The legacy builder and BuildKit both build this file. `--network none`: the build cannot
# fetch anything, so a build that succeeds here is an offline build.
docker build --network none -t "$tag" "$ctx"
echo "build-image: built $tag"
