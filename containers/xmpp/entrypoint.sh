#!/bin/sh
# Creates the seed's two Google Talk accounts, then runs Prosody in the foreground with its
# log on stdout. `prosodyctl register` sets the password of an existing account, so a
# restarted container (same /var/lib/prosody) simply ends up with the same accounts.
#   asterisk@gmail.test: the seed's "<gTalk username>@gmail.com" (Asterisk's jabber.conf)
#   sara@gmail.test:     the Google Talk user of the seed's [gtalk-out] (Sara Davis)
set -eu
rm -f /tmp/xmpp-c2s-verified  # the healthcheck verifies the protocol again after a restart
config=${PROSODY_CONFIG:-/etc/prosody-harness/prosody.cfg.lua}
domain=gmail.test
if [ ! -r "$config" ]; then
    echo "xmpp: no Prosody config at $config (bind-mount fixtures/prosody at /etc/prosody-harness)" >&2
    exit 1
fi
register() {
    prosodyctl --config "$config" register "$1" "$domain" "$2" \
        || { echo "xmpp: could not register $1@$domain" >&2; exit 1; }
    echo "xmpp: account $1@$domain ready"
}
register asterisk "${ASTERISK_XMPP_PASSWORD:-contoso-xmpp}"
register sara "${SARA_XMPP_PASSWORD:-sara-xmpp}"
exec prosody --config "$config" "$@"
