#!/bin/sh
# Entrypoint of sip-ai-bridge/app (see its Containerfile). `exec` keeps node as PID 1 so
# SIGTERM reaches the service's own shutdown (runProcess), and the healthcheck can tell
# from /proc/1/cmdline which service to probe.
set -eu
command="${1:-control-plane}"
[ $# -gt 0 ] && shift
case "$command" in
  control-plane|media-gateway|demo-agent)
    exec node "/app/dist/services/$command/src/main.js" "$@" ;;
  migrate)
    exec node /app/dist/scripts/images/migrate.js "$@" ;;
  render-kamailio)
    [ $# -eq 1 ] || { echo "usage: render-kamailio <dir>" >&2; exit 2; }
    exec node /app/dist/scripts/images/kamailio-config.js --out "$1" ;;
  *)
    exec "$command" "$@" ;;
esac
