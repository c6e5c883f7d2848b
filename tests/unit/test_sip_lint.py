"""harness.sip.lint and ``harness sip-lint``: findings, framing, exit codes, output."""

from __future__ import annotations

import pytest

from harness.sip.lint import lint_bytes, lint_message, split_input
from tests.support.sip_samples import LINT_HEAD as HEAD
from tests.support.sip_samples import LINT_SDP as SDP
from tests.support.sip_samples import (
    LYNC_LEG,
    SEED_FILES,
    crlf,
    seed,
)
from tests.support.sip_samples import lint_sample as m


def codes(data: bytes, **kwargs) -> list[str]:
    return [f.code for f in lint_message(data, **kwargs).findings]


def test_seed_trace_is_clean_except_lyncs_bare_contact():
    for path in SEED_FILES:
        result = lint_message(path.read_bytes(), transport="tcp")
        expected = ["contact-uri-params"] if path.name.startswith("03") else []
        assert [f.code for f in result.findings] == expected, path.name
    finding = lint_message(seed("03")).findings[0]
    assert finding.severity == "warning" and finding.line == 7
    assert "transport, maddr are header parameters" in finding.message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (m(), []),
        (m(HEAD.replace("Max-Forwards: 70\n", "")), ["max-forwards-missing"]),
        (m(HEAD.replace(";tag=as6f893afb", "")), ["from-tag-missing"]),
        (
            m(HEAD.replace("Contact: <sip:1000@192.168.100.10;transport=TCP>\n", "")),
            ["contact-missing"],
        ),
        (
            m(HEAD.replace("Contact: <sip:1000@192.168.100.10;transport=TCP>", "Contact: *")),
            ["contact-syntax"],
        ),
        (
            m(HEAD.replace("<sip:1000@192.168.100.10;transport=TCP>", "sip:a@b?x=y")),
            ["contact-syntax"],
        ),
        (m(HEAD.replace(";transport=TCP>", ">;expires=99999999999")), ["expires-range"]),
        (m(HEAD.replace("branch=z9hG4bK0bb3ed94", "branch=0bb3ed94")), ["branch-cookie"]),
        (m(HEAD.replace(";branch=z9hG4bK0bb3ed94", "")), ["branch-missing"]),
        (m(length=False), ["content-length-missing"]),
        (m(extra="Date: Fri, 01 Jan 2010 16:00:00 EST\n"), ["date-format"]),
        (m(extra="Date: Sun, 13 Jun 2010 22:22:42 GMT\n"), []),
        (m(extra="Session-Expires: 60;refresher=uac\n"), ["session-timer"]),
        (m(extra="Min-SE: soon\n"), ["session-timer"]),
        (m(extra="Session-Expires: 1800\nMin-SE: 90\n"), []),
        (
            m(extra="Content-Type: application/sdp\nContent-Type: application/sdp\n", body=SDP),
            ["duplicate-header"],
        ),
        (m(body=SDP), ["content-type-missing"]),
        (m(extra="Content-Type: application/sdp\n", body=SDP), []),
        (m(extra="Route: <sip:p1;lr>, sip:p2?x=1\n"), ["route-syntax"]),
        (m(HEAD.replace("Call-ID: c@192.168.100.10", "Call-ID: a b")), ["call-id"]),
        (m(HEAD.replace("Max-Forwards: 70", "Max-Forwards: 0")), ["max-forwards-zero"]),
        (
            m(HEAD.replace("INVITE sip:", "invite sip:").replace("102 INVITE", "102 invite")),
            ["method-case"],
        ),
        (m(HEAD.replace(" SIP/2.0\n", " sip/2.0\n", 1)), ["version-case"]),
        (m().replace(b"\r\n", b"\n"), ["line-ends"]),
        (b"\r\n" + m(), ["leading-crlf"]),
        (m(HEAD.replace("Max-Forwards: 70", "Max-Forwards:\n 70")), ["folding"]),
        (m() + b"junk", ["trailing-bytes"]),
        (m(HEAD.replace("Via: SIP/2.0/TCP", "Via SIP/2.0/TCP")), ["parse"]),
    ],
)
def test_rules(data, expected):
    assert codes(data) == expected


def test_response_rules():
    def resp(status: str, extra: str = "", to_tag: bool = True) -> bytes:
        head = HEAD.replace("INVITE sip:+14255550150@192.168.100.20 SIP/2.0", f"SIP/2.0 {status}")
        head = head.replace("Max-Forwards: 70\n", "")
        if to_tag:
            head = head.replace(
                "To: <sip:+14255550150@192.168.100.20>",
                "To: <sip:+14255550150@192.168.100.20>;tag=x",
            )
        return m(head, extra)

    assert codes(resp("100 Trying", to_tag=False)) == []
    assert codes(resp("180 Ringing", to_tag=False)) == ["to-tag-missing"]
    assert codes(
        resp("200 OK").replace(b"Contact: <sip:1000@192.168.100.10;transport=TCP>\r\n", b"")
    ) == ["contact-missing"]
    early = codes(
        resp("183 Session Progress").replace(
            b"Contact: <sip:1000@192.168.100.10;transport=TCP>\r\n", b""
        )
    )
    assert early == ["contact-missing"]
    assert codes(resp("183 Session Progress", "Require: 100rel\n")) == ["rseq"]
    assert codes(resp("183 Session Progress", "Require: 100rel\nRSeq: 1\n")) == []
    assert codes(crlf("SIP/2.0 200\n") + resp("200 OK").split(b"\r\n", 1)[1]) == ["reason-missing"]


def test_sdp_rules():
    def sdp_msg(sdp: str) -> bytes:
        return m(extra="Content-Type: application/sdp\n", body=sdp)

    def sdp_codes(sdp: str) -> list[str]:
        return codes(sdp_msg(sdp))

    assert sdp_codes(SDP) == []
    assert sdp_codes(SDP.replace("t=0 0\n", "")) == ["sdp-parse"]
    assert sdp_codes(SDP + "a=inactive\n") == ["sdp-direction"]
    assert sdp_codes(SDP.replace("m=audio", "a=sendonly\na=recvonly\nm=audio")) == ["sdp-direction"]
    assert sdp_codes(SDP.replace("a=rtpmap:101 telephone-event/8000\n", "")) == [
        "sdp-rtpmap-missing"
    ]
    assert sdp_codes(SDP + "a=rtpmap:8 PCMA/8000\na=fmtp:8 x\n") == [
        "sdp-rtpmap-unlisted",
        "sdp-fmtp-unlisted",
    ]
    assert sdp_codes(SDP + "a=rtpmap:0 PCMU\n") == ["sdp-rtpmap-syntax", "sdp-rtpmap-missing"]
    assert sdp_codes(SDP + "a=fmtp:x y\n") == ["sdp-fmtp-syntax"]
    assert sdp_codes(SDP + "a=ptime:x\n") == ["sdp-ptime"]
    assert sdp_codes(SDP + "a=rtcp:x\n") == ["sdp-rtcp"]
    assert sdp_codes(SDP.replace("0 101", "0 x")) == ["sdp-format"]
    assert sdp_codes(SDP.replace("192.0.2.1\nt=", "0.0.0.0\nt=")) == ["sdp-hold-address"]
    assert sdp_codes(SDP + "c=IN IP4 0.0.0.0\n") == ["sdp-hold-address"]
    assert sdp_codes(SDP + "m=application 9 UDP/BFCP *\n") == []
    finding = lint_message(sdp_msg(SDP + "a=inactive\n")).findings[0]
    assert finding.message.startswith("SDP: m=audio (media 1) has 2 direction attributes")


def test_transport_tcp_makes_missing_length_an_error():
    result = lint_message(m(length=False), transport="tcp")
    assert [(f.severity, f.code) for f in result.findings] == [("error", "content-length-missing")]
    assert not result.ok


def test_parse_error_finding_has_line_without_prefix():
    finding = lint_message(m(HEAD.replace("Via: SIP/2.0/TCP", "Via SIP/2.0/TCP"))).findings[0]
    assert (finding.severity, finding.line) == ("error", 2)
    assert finding.message == "header 'Via' has no colon"
    assert str(finding) == "line 2: error: header 'Via' has no colon [parse]"


def test_split_input_modes():
    stream = b"".join(seed(n) for n in LYNC_LEG)
    parts = split_input(stream)
    assert [p[1] for p in parts] == [seed(n) for n in LYNC_LEG]
    assert [p[0] for p in parts][:2] == [0, len(seed("01"))]
    assert split_input(stream, "datagram") == [(0, stream, None)]
    # a datagram without Content-Length is not a stream: auto falls back
    udp = m(length=False)
    assert split_input(udp) == [(0, udp, None)]
    framed = split_input(seed("01") + udp, "stream")
    assert framed[0] == (0, seed("01"), None)
    assert framed[1][2] == "header block has no Content-Length (mandatory over TCP)"
    with pytest.raises(ValueError):
        split_input(b"", "bogus")


def test_lint_bytes_stream_counts_and_keepalives():
    stream = b"\r\n\r\n".join(seed(n) for n in LYNC_LEG)
    results = lint_bytes(stream, mode="stream")
    assert [r.index for r in results] == list(range(1, 10))
    assert results[2].summary == "SIP/2.0 183 Session Progress"
    assert results[1].offset == len(seed("01")) + 4
    assert sum(len(r.findings) for r in results) == 1
    broken = lint_bytes(seed("01") + m(length=False), mode="stream")
    assert broken[-1].findings[0].code == "framing"


# -- the command ----------------------------------------------------------------------
