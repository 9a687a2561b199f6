#!/bin/bash
# NG protocol ping (bencoded {"command":"ping"} after a cookie) on RTPENGINE_NG_LISTEN_ADDRESS; healthy when
# rtpengine answers {"result":"pong"} within 2 s. bash's /dev/udp gives a connected socket;
# dd reads the reply datagram whole (bash's read takes a byte and drops the rest of it).
port="${RTPENGINE_NG_PORT:-22223}"
# The ng socket's own address; a wildcard bind answers on loopback.
host="${RTPENGINE_NG_LISTEN_ADDRESS:-127.0.0.1}"
case "$host" in 0.0.0.0 | ::) host=127.0.0.1 ;; esac
exec 3<>"/dev/udp/$host/$port" || exit 1
printf 'hc d7:command4:pinge' >&3
reply="$(timeout 2 dd bs=4096 count=1 status=none <&3)" || true
[[ "$reply" == *"6:result4:pong"* ]] || { echo "rtpengine: no pong on $host:$port" >&2; exit 1; }
