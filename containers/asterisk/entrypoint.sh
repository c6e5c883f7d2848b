#!/bin/sh
# Renders the fixtures (bind-mounted at /fixtures) into /etc/asterisk, filling in the
# addresses of this compose topology, then runs Asterisk in the foreground.
# `entrypoint.sh render` only renders (used by tests that swap a fixture and reload).
set -eu
render() {
    mkdir -p /etc/asterisk
    rm -f /etc/asterisk/*.conf
    for f in /fixtures/*.conf; do
        sed -e "s|\${ASTERISK_ADDR}|${ASTERISK_ADDR}|g" \
            -e "s|\${MEDIATION_ADDR}|${MEDIATION_ADDR}|g" \
            -e "s|\${SOFTPHONE_ADDR}|${SOFTPHONE_ADDR}|g" \
            -e "s|\${SKYPE_ADDR}|${SKYPE_ADDR}|g" \
            -e "s|\${XMPP_ADDR}|${XMPP_ADDR}|g" \
            "$f" > "/etc/asterisk/$(basename "$f")"
    done
}
render
[ "${1:-}" = render ] && exit 0
exec asterisk -f -n "$@"
