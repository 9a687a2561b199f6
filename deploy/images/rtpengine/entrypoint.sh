#!/bin/bash
# Entrypoint of sip-ai-bridge/rtpengine (see its Containerfile): fills the config template
# from the environment and runs rtpengine in the foreground, logging to stderr.
set -euo pipefail
relay_address="${RELAY_ADDRESS:-127.0.0.1}"
ng_port="${RTPENGINE_NG_PORT:-22223}"
ng_listen="${RTPENGINE_NG_LISTEN_ADDRESS:-127.0.0.1}"
port_min="${RTP_PORT_MIN:-10000}"
port_max="${RTP_PORT_MAX:-20000}"
table="${RTPENGINE_KERNEL_TABLE:--1}"
case "${LOG_LEVEL:-info}" in error) level=3 ;; warn) level=4 ;; debug) level=7 ;; *) level=6 ;; esac
for v in "$relay_address" "$ng_listen" "$ng_port" "$port_min" "$port_max" "$table"; do
  [[ "$v" =~ ^[A-Za-z0-9.:_-]+$ ]] || { echo "rtpengine: invalid setting '$v'" >&2; exit 2; }
done
dir=/run/rtpengine
mkdir -p "$dir"
# rtpengine takes an IPv6 listen-ng address in brackets.
case "$ng_listen" in *:*) ng_listen="[$ng_listen]" ;; esac
sed -e "s|{{INTERFACE}}|$relay_address|" -e "s|{{NG_LISTEN}}|$ng_listen|" -e "s|{{NG_PORT}}|$ng_port|" \
    -e "s|{{PORT_MIN}}|$port_min|" -e "s|{{PORT_MAX}}|$port_max|" \
    -e "s|{{PID_FILE}}|$dir/rtpengine.pid|" -e "s|{{LOG_LEVEL}}|$level|" \
    -e "s|^table = -1$|table = $table|" \
    /etc/sip-ai-bridge/rtpengine.conf.in >"$dir/rtpengine.conf"
if grep -q '{{' "$dir/rtpengine.conf"; then
  echo "rtpengine: unfilled placeholder in the template: $(grep -o '{{[A-Z_]*}}' "$dir/rtpengine.conf" | head -1)" >&2
  exit 2
fi
if [ "$table" = "-1" ]; then
  exec rtpengine --config-file="$dir/rtpengine.conf" --foreground --log-stderr "$@"
fi
# Kernel forwarding: the module must be loaded on the host, and we need root + NET_ADMIN.
[ -e /proc/rtpengine/control ] || { echo "rtpengine: RTPENGINE_KERNEL_TABLE=$table but the xt_RTPENGINE module is not loaded on this host (/proc/rtpengine/control missing); unset it for userspace forwarding" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "rtpengine: kernel forwarding needs root with NET_ADMIN (run the container as user 0)" >&2; exit 2; }
rule=(INPUT -p udp --dport "$port_min:$port_max" -j RTPENGINE --id "$table")
iptables -C "${rule[@]}" 2>/dev/null || iptables -I "${rule[@]}"
rtpengine --config-file="$dir/rtpengine.conf" --foreground --log-stderr "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
wait "$pid" || status=$?
wait "$pid" 2>/dev/null || true
iptables -D "${rule[@]}" 2>/dev/null || true
exit "${status:-0}"
