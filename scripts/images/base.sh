#!/usr/bin/env bash
# Builds the local Debian bookworm base image (localhost/sip-ai-bridge/debian:bookworm)
# from Debian's own repository with debootstrap, for machines that reach no container
# registry. Skipped when the image is already there (--force rebuilds it).
# Elsewhere the Containerfiles build FROM debian:bookworm-slim and this is not needed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ "$(id -u)" -eq 0 ] || images_die "debootstrap needs root: run as root (or sudo)"
command -v debootstrap >/dev/null || images_die "debootstrap missing: bash scripts/bootstrap.sh images"
if [ "${1:-}" != "--force" ] && podman image exists "$IMAGES_LOCAL_BASE"; then
  images_say "base image $IMAGES_LOCAL_BASE present"
  exit 0
fi
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$(mktemp -d /var/tmp/sip-ai-bridge-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
images_say "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
start=$(date +%s)
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; rm -f "$root.log"; images_die "debootstrap failed"; }
rm -f "$root.log"
# What debian:bookworm-slim also leaves out: package lists and caches are fetched by
# each Containerfile's own apt-get update.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | podman import \
  --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD=["/bin/bash"]' - "$IMAGES_LOCAL_BASE" >/dev/null
images_say "base image $IMAGES_LOCAL_BASE built in $(($(date +%s) - start)) s"
