#!/bin/bash
# NG protocol ping (bencoded {"command":"ping"} after a cookie) on loopback; healthy when
# rtpengine answers {"result":"pong"} within 2 s. bash's /dev/udp gives a connected socket.
port="${RTPENGINE_NG_PORT:-22223}"
exec 3<>"/dev/udp/127.0.0.1/$port" || exit 1
printf 'hc d7:command4:pinge' >&3
reply=""
# read times out (no newline ends the datagram) and keeps what arrived in $reply.
read -r -t 2 -u 3 reply || true
[[ "$reply" == *"6:result4:pong"* ]] || { echo "rtpengine: no pong on 127.0.0.1:$port" >&2; exit 1; }
