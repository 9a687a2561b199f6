#!/usr/bin/env bash
# Installs what `npm start` / `npm test` need and builds the TypeScript.
#   bootstrap.sh node    npm packages + build (enough for `npm run token`)
#   bootstrap.sh stack   the above + Debian packages: Kamailio, rtpengine, PostgreSQL, SIPp, openssl (the SIP TLS certificate)
#   bootstrap.sh images  the npm step + podman, buildah, debootstrap, runc and .local/containers/containers.conf
#                        (what scripts/images/build.sh and the image tests need; see deploy/images/README.md)
# Idempotent: anything already present is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-stack}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

# --- Node.js ---
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"

# --- npm packages: install when missing or when package-lock.json changed since ---
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- Debian packages ---
if [ "$mode" = "stack" ] || [ "$mode" = "images" ]; then
  if [ "$mode" = "stack" ]; then
    packages=(kamailio kamailio-postgres-modules kamailio-json-modules kamailio-extra-modules
              kamailio-utils-modules kamailio-tls-modules rtpengine-daemon postgresql sip-tester baresip-core espeak-ng
              openssl ca-certificates)
  else
    # runc, not crun: crun fails on this kind of host's hybrid cgroup hierarchy. catatonit:
    # `podman kube play` builds its pod's pause image from it (no registry to pull one).
    packages=(podman buildah debootstrap runc uidmap catatonit ca-certificates)
  fi
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing Debian packages (${missing[*]}) and apt-get is not available: install them by hand on this system"
    if [ "$(id -u)" -eq 0 ]; then sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
    else die "missing Debian packages (${missing[*]}); run as root or with passwordless sudo, or: sudo apt-get install -y ${missing[*]}"
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/sip-ai-bridge-apt.log 2>&1; then
      "${sudo[@]}" apt-get update -q >>/tmp/sip-ai-bridge-apt.log 2>&1 || die "apt-get update failed (see /tmp/sip-ai-bridge-apt.log)"
      "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/sip-ai-bridge-apt.log 2>&1 \
        || die "apt-get install failed (see /tmp/sip-ai-bridge-apt.log)"
    fi
    # The packages' own services would hold the SIP and NG ports this stack uses.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      for unit in kamailio rtpengine-daemon; do
        if printf '%s\n' "${missing[@]}" | grep -qx "${unit}"; then
          "${sudo[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
        fi
      done
    fi
  fi
  if [ "$mode" = "stack" ]; then
    [ "$(id -u)" -eq 0 ] || die "the local stack runs Kamailio, rtpengine and PostgreSQL administration as root: run as root (or sudo npm start)"
  fi
fi

# --- containers.conf for every podman/buildah call of this project (scripts/images/env.sh exports it) ---
if [ "$mode" = "images" ]; then
  conf=.local/containers/containers.conf
  mkdir -p "$(dirname "$conf")"
  # Explicit ulimits below the host's hard limits: podman's defaults ask for more than
  # this kind of host allows (nofile hard 20000) and every container start fails.
  hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
  nofile=16384; nproc=4096
  [ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -ge "$nofile" ] || nofile=$hard_nofile
  [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -ge "$nproc" ] || nproc=$hard_nproc
  want=$(printf '%s\n' \
    '# Written by scripts/bootstrap.sh images; every podman/buildah call of the project uses it (CONTAINERS_CONF).' \
    '[containers]' \
    "default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]" \
    '' \
    '[engine]' \
    'runtime = "runc"')
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    say "writing $conf"
    printf '%s\n' "$want" >"$conf"
  fi
fi

# --- build: only when a source changed since the last successful build ---
# The stamp is written after tsc succeeds; any TypeScript source, tsconfig.json or the
# installed packages being newer than it means a rebuild (tsc --incremental then
# recompiles only what changed). `npm run token` on an unchanged tree skips it.
stamp=dist/.build-stamp
sources=(services scripts tests bench harness db)
if [ ! -f "$stamp" ] || [ tsconfig.json -nt "$stamp" ] || [ node_modules/.package-lock.json -nt "$stamp" ] \
   || [ -n "$(find "${sources[@]}" \( -name '*.ts' -o -type d \) -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  say "building TypeScript"
  npx tsc -p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo
  touch "$stamp"
fi
