# Sourced by the image scripts: the project's podman settings and names.
# CONTAINERS_CONF points every podman/buildah call at the containers.conf that
# `scripts/bootstrap.sh images` writes (runtime runc, explicit ulimits below the host's
# hard limits); without it containers fail to start on this kind of host.
IMAGES_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$IMAGES_REPO_ROOT/.local/containers/containers.conf}"
# Tags: sip-ai-bridge/<name>:<version of package.json>.
IMAGES_VERSION="${IMAGES_VERSION:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$IMAGES_REPO_ROOT/package.json")}"
IMAGES_PREFIX="${IMAGES_PREFIX:-sip-ai-bridge}"
# The local Debian base built by base.sh (no registry is reachable on this kind of machine).
IMAGES_LOCAL_BASE="localhost/sip-ai-bridge/debian:bookworm"
images_say() { printf '[images] %s\n' "$*" >&2; }
images_die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }
