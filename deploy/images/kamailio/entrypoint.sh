#!/bin/sh
# Entrypoint of sip-ai-bridge/kamailio (see its Containerfile). Renders the configuration
# from the environment (the variables of docs/configuration.md: DATABASE_URL,
# PROXY_SHARED_SECRET, SIP_*, KAMAILIO_*, RTPENGINE_NG_PORT, ...), then execs Kamailio in
# the foreground as PID 1 with the arguments the local stack uses (kamailioArgs).
set -eu
command="${1:-run}"
cfg_dir="${KAMAILIO_CFG_OUT:-/run/kamailio/cfg}"
mkdir -p "$cfg_dir" "$STATE_DIR/kamailio"
render() {
  node /app/dist/scripts/images/kamailio-config.js --out "$1"
}
case "$command" in
  run)
    args="$(render "$cfg_dir")"
    # One argument a line; none contains a newline (kamailioValues refuses them).
    old_ifs="$IFS"; IFS='
'
    # shellcheck disable=SC2086
    set -- $args
    IFS="$old_ifs"
    exec kamailio "$@" ;;
  check)
    render "$cfg_dir" >/dev/null
    exec kamailio -c -E -f "$cfg_dir/kamailio.cfg" ;;
  render)
    [ $# -eq 2 ] || { echo "usage: render <dir>" >&2; exit 2; }
    render "$2" >/dev/null
    echo "$2/kamailio.cfg" ;;
  *)
    exec "$@" ;;
esac
