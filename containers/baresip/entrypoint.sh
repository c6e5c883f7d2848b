#!/bin/sh
# Renders the softphone's configuration (bind-mounted at /fixtures: config and accounts)
# into baresip's folder with this topology's addresses, then runs baresip in the
# foreground with its SIP trace (-s) on the container's log.
set -eu
: "${GATEWAY_ADDR:?set GATEWAY_ADDR to the gateway's address (Asterisk, .10 of the subnet)}"
: "${SOFTPHONE_ADDR:?set SOFTPHONE_ADDR to this container's own address (.40 of the subnet)}"
CTRL_PORT="${CTRL_PORT:-4444}"
for f in config accounts; do
    [ -f "/fixtures/$f" ] || { echo "baresip: /fixtures/$f is missing: mount fixtures/baresip at /fixtures" >&2; exit 2; }
done
mkdir -p /etc/baresip-harness
for f in config accounts; do
    sed -e "s|\${GATEWAY_ADDR}|${GATEWAY_ADDR}|g" \
        -e "s|\${SOFTPHONE_ADDR}|${SOFTPHONE_ADDR}|g" \
        -e "s|\${CTRL_PORT}|${CTRL_PORT}|g" \
        "/fixtures/$f" > "/etc/baresip-harness/$f"
done
: > /etc/baresip-harness/contacts
[ "${1:-}" = render ] && exit 0
exec baresip -f /etc/baresip-harness -s "$@"
