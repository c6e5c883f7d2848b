#!/bin/sh
# Healthy when baresip has bound SIP's UDP 5060 and listens on ctrl_tcp's port, read from
# /proc (a connection to ctrl_tcp would replace the harness's: baresip keeps one).
set -eu
sip=$(printf ':%04X ' 5060)
ctrl=$(printf ':%04X ' "${CTRL_PORT:-4444}")
grep -q "$sip" /proc/net/udp
# state 0A is LISTEN
awk -v p="$ctrl" 'index($2 " ", p) && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
