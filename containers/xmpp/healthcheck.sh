#!/bin/bash
# The xmpp service's readiness probe. The first success needs a real exchange: c2s on
# 127.0.0.1:5222 answers a client stream header for gmail.test with its stream features,
# offering STARTTLS (what Asterisk's res_xmpp needs with usetls=yes, as the seed has it)
# and SASL PLAIN on the plain stream (what the host-side bot uses). After that,
# a listening socket on port 5222 in /proc/net/tcp is enough, so that the check does not put
# two "Client connected/disconnected" lines into Prosody's log every second.
# Bash's /dev/tcp only: the image has no netcat.
set -u
domain=${1:-gmail.test}
marker=/tmp/xmpp-c2s-verified

listening() {
    # local port 5222 (0x1466) in state LISTEN (0A)
    awk 'NR > 1 && $2 ~ /:1466$/ && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

if [ -e "$marker" ]; then
    listening && { echo "c2s listening on 5222"; exit 0; }
    echo "c2s no longer listening on 5222"; exit 1
fi

{ exec 3<>/dev/tcp/127.0.0.1/5222; } 2>/dev/null || { echo "no connection to 127.0.0.1:5222"; exit 1; }
printf "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" "$domain" >&3
reply=""
while IFS= read -r -t 3 -d '>' -u 3 part; do
    reply+="$part>"
    [[ $reply == *"</stream:features>"* ]] && break
done
printf '</stream:stream>' >&3 2>/dev/null
exec 3<&-
if [[ $reply != *"<stream:stream"* ]]; then echo "no stream header from 127.0.0.1:5222"; exit 1; fi
if [[ $reply != *"urn:ietf:params:xml:ns:xmpp-tls"* ]]; then echo "c2s up, but STARTTLS not offered (no certificate for $domain?): $reply"; exit 1; fi
if [[ $reply != *"<mechanism>PLAIN</mechanism>"* ]]; then echo "c2s up, but SASL PLAIN not offered: $reply"; exit 1; fi
: > "$marker"
echo "c2s up for $domain, STARTTLS offered, SASL PLAIN allowed on the plain stream"
