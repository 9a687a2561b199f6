#!/bin/bash
# NG protocol ping (bencoded {"command":"ping"} after a cookie) on loopback; healthy when
# rtpengine answers {"result":"pong"} within 2 s. bash's /dev/udp gives a connected socket;
# dd reads the reply datagram whole (bash's read takes a byte and drops the rest of it).
port="${RTPENGINE_NG_PORT:-22223}"
exec 3<>"/dev/udp/127.0.0.1/$port" || exit 1
printf 'hc d7:command4:pinge' >&3
reply="$(timeout 2 dd bs=4096 count=1 status=none <&3)" || true
[[ "$reply" == *"6:result4:pong"* ]] || { echo "rtpengine: no pong on 127.0.0.1:$port" >&2; exit 1; }
