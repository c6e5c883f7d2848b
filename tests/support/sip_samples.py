"""Shared samples for the harness.sip unit tests: the seed trace, reconstructed byte-exact.

The seed chapter's messages (fixtures/sip/seed/) had their URIs hidden by the web page the
text was copied from; the files restore them (``sip:+14255550150@192.168.100.20`` etc.).
Their bodies match the Content-Length values printed in the seed (312, 259, 271, 267) with
CRLF line ends, once the INVITE's two lost ``a=rtpmap`` lines (3 GSM, 8 PCMA) are restored.
"""

from __future__ import annotations

from tests.support.paths import SEED_SIP_DIR

SEED_DIR = SEED_SIP_DIR
SEED_FILES = sorted(SEED_DIR.glob("*.sip"))


def seed(name: str) -> bytes:
    """The bytes of fixtures/sip/seed/<name>*.sip (name: a prefix such as ``"05"``)."""
    found = [p for p in SEED_FILES if p.name.startswith(name)]
    assert len(found) == 1, f"no single seed file for {name!r}: {found}"
    return found[0].read_bytes()


def crlf(text: str) -> bytes:
    """``text`` (written with LF) as bytes with CRLF line ends."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


#: The Lync leg (Asterisk <-> Mediation Server, TCP) in wire order, as one stream.
LYNC_LEG = ["01", "02", "03", "04", "05", "06", "07", "08", "09"]

OPTIONS = crlf(
    """OPTIONS sip:1000@192.168.100.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.100.40:5060;branch=z9hG4bK-opt-1
Max-Forwards: 70
From: <sip:probe@192.168.100.40>;tag=p1
To: <sip:1000@192.168.100.10>
Call-ID: opt-1@192.168.100.40
CSeq: 1 OPTIONS
Content-Length: 0

"""
)


# sip-lint's rule tests: an INVITE of the seed's Lync leg to vary, and an SDP body
LINT_HEAD = """INVITE sip:+14255550150@192.168.100.20 SIP/2.0
Via: SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bK0bb3ed94
Max-Forwards: 70
From: <sip:1000@192.168.100.10>;tag=as6f893afb
To: <sip:+14255550150@192.168.100.20>
Contact: <sip:1000@192.168.100.10;transport=TCP>
Call-ID: c@192.168.100.10
CSeq: 102 INVITE
"""


def lint_sample(
    head: str = LINT_HEAD, extra: str = "", body: str = "", length: bool = True
) -> bytes:
    """A message for sip-lint's rules: the head, extra headers, the body and (unless told
    not to) a correct Content-Length, with CRLF line ends."""
    body_bytes = crlf(body) if body else b""
    text = head + extra
    if length:
        text += f"Content-Length: {len(body_bytes)}\n"
    return crlf(text + "\n") + body_bytes


LINT_SDP = """v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 4000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
"""

