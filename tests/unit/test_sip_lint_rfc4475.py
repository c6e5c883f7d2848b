"""``harness sip-lint`` over the messages of RFC 4475 (tests/unit/data/rfc4475/, see its
README): 3.1.1's valid messages pass, with body problems and RFC 2543 leftovers as warnings;
3.1.2's invalid messages fail with a finding naming the defect; ``--strict`` fails warnings.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from harness.cli import main
from harness.sip.lint import lint_message
from tests.support.paths import DATA
from tests.support.sip_lint_cli import sip_lint

RFC4475 = DATA / "rfc4475"

# 3.1.1.1-3.1.1.13: name -> the warnings lint must give (in order), nothing else failing
VALID = {
    "wsinv": ["branch-cookie", "sdp-rtpmap-syntax"],  # branch=390skdjuw; a=rtpmap:31 LPC
    "intmeth": [],
    "esc01": ["sdp-rtpmap-syntax"],
    "escnull": [],
    "esc02": [],
    "lwsdisp": [],
    "longreq": ["branch-missing", "sdp-rtpmap-syntax"],  # top Via sip33.example.com
    "dblreq": ["trailing-bytes"],  # the INVITE after the REGISTER's Content-Length: 0
    "semiuri": [],
    "transports": [],
    "mpart01": [],
    "unreason": ["sdp-rtpmap-syntax"],
    "noreason": [],
}

# 3.1.2.1-3.1.2.19: name -> (code, words the first error must contain)
INVALID = {
    "badinv01": ("parse", "Via 'SIP/2.0/UDP 192.0.2.15;;,;,,': empty element"),
    "clerr": ("parse", "Content-Length 9999 but body has 154 bytes"),
    "ncl": ("parse", "bad Content-Length '-999'"),
    "scalar02": ("parse", "CSeq number 36893488147419103232 is larger than 2**31-1"),
    "scalarlg": ("parse", "CSeq number 9292394834772304023312 is larger than 2**31-1"),
    "quotbal": ("parse", "unterminated quoted string"),
    "ltgtruri": ("parse", "bad Request-URI '<sip:user@example.com>'"),
    "lwsruri": ("parse", "'INVITE sip:user@example.com; lr SIP/2.0' is not 'METHOD SP"),
    "lwsstart": ("parse", "'INVITE  sip:user@example.com  SIP/2.0' is not 'METHOD SP"),
    "trws": ("parse", "'OPTIONS sip:remote-target@example.com SIP/2.0  ' is not 'METHOD SP"),
    "escruri": ("parse", "must not contain headers"),
    "baddate": ("date-format", "'Fri, 01 Jan 2010 16:00:00 EST' is not an RFC 1123 date in GMT"),
    "regbadct": ("contact-syntax", "a URI containing '?' must be enclosed in <>"),
    "badaspec": ("parse", "whitespace inside <...>"),
    "baddn": ("parse", "display name 'Bell, Alexander' must be quoted"),
    "badvers": ("parse", "unknown SIP version 'SIP/7.0'"),
    "mismatch01": ("parse", "CSeq method 'INVITE' does not match request method 'OPTIONS'"),
    "mismatch02": ("parse", "CSeq method 'INVITE' does not match request method 'NEWMETHOD'"),
    "bigcode": ("parse", "bad status code '4294967301'"),
}

# 3.1.4's messages a receiver answers 400: a header missing, repeated or ambiguous
INVALID_314 = {
    "insuf": ("parse", "missing mandatory headers: To, From, Call-ID"),
    "multi01": ("parse", "'Call-ID' appears 2 times"),
    "mcl01": ("parse", "'Content-Length' appears 2 times"),
}

# 3.1.3, the rest of 3.1.4, 3.2: syntactically valid; the warnings lint gives
OTHER_VALID = {
    "badbranch": ["branch-cookie-only"],
    "unkscm": [],
    "novelsc": [],
    "bext01": [],
    "invut": [],
    "regaut01": [],
    "bcast": ["sdp-rtpmap-syntax"],
    "zeromf": [],
    "cparam01": [],
    "cparam02": [],
    "regescrt": [],
    "sdp01": ["sdp-rtpmap-syntax"],
    "inv2543": [
        "content-length-missing",
        "branch-missing",
        "max-forwards-missing",
        "from-tag-missing",
        "contact-missing",
    ],
}


def data(name: str) -> bytes:
    return (RFC4475 / f"{name}.dat").read_bytes()


def test_the_data_is_the_rfcs_49_messages_with_crlf_line_ends() -> None:
    names = {p.stem for p in RFC4475.glob("*.dat")}
    expected = {*VALID, *INVALID, *INVALID_314, *OTHER_VALID, "unksm2"}
    assert names == expected and len(names) == 13 + 19 + 1 + 15 + 1
    for name in names - {"baddn", "insuf"}:  # no empty line: the header block never ends
        head = data(name).split(b"\r\n\r\n", 1)[0]
        assert b"\n" not in head.replace(b"\r\n", b""), name
    assert data("baddn").endswith(b"l: 0\r\n\r\n")


@pytest.mark.parametrize("name", list(VALID))
def test_valid_message_passes_with_its_warnings(name: str) -> None:
    result = lint_message(data(name))
    assert result.ok, [str(f) for f in result.findings]
    assert [f.code for f in result.findings if f.severity == "warning"] == VALID[name]


@pytest.mark.parametrize("name", list(INVALID) + list(INVALID_314))
def test_invalid_message_fails_naming_its_defect(name: str) -> None:
    code, words = {**INVALID, **INVALID_314}[name]
    result = lint_message(data(name))
    assert not result.ok
    first = next(f for f in result.findings if f.severity == "error")
    assert first.code == code and words in first.message, str(first)


@pytest.mark.parametrize("name", list(OTHER_VALID))
def test_other_sections_syntactically_valid_messages_pass(name: str) -> None:
    result = lint_message(data(name))
    assert result.ok, [str(f) for f in result.findings]
    assert [f.code for f in result.findings if f.severity == "warning"] == OTHER_VALID[name]


@pytest.mark.xfail(
    strict=True,
    reason="harness/sip/uri.py accepts only sip, sips and tel URIs in From (RFC 4475 3.1.4.4)",
)
def test_unknown_schemes_in_header_fields_pass() -> None:
    assert lint_message(data("unksm2")).ok


def test_sdp_warnings_name_the_body_and_rfc2543_warnings_the_sender() -> None:
    findings = {f.code: f for f in lint_message(data("wsinv")).findings}
    assert findings["sdp-rtpmap-syntax"].message.startswith("SDP: m=video: bad a=rtpmap:31 LPC")
    assert findings["branch-cookie"].line == 12
    assert "RFC 2543 element" in findings["branch-cookie"].message
    inv2543 = {f.code: f for f in lint_message(data("inv2543")).findings}
    assert "RFC 2543 allowed it" in inv2543["from-tag-missing"].message


# -- the rules behind these verdicts, on the seed-like messages of test_sip_lint -------

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx1\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Contact: <sip:alice@192.0.2.1>\r\n"
    b"Call-ID: c1@192.0.2.1\r\n"
    b"CSeq: 1 INVITE\r\n"
)


def with_body(ctype: str, body: bytes, head: bytes = INVITE) -> bytes:
    return head + f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def severities(msg: bytes) -> list[tuple[str, str]]:
    return [(f.severity, f.code) for f in lint_message(msg).findings]


def test_rfc2543_leftovers_are_warnings_only_from_an_rfc2543_sender() -> None:
    bare = INVITE.replace(b";tag=a1", b"").replace(b"Max-Forwards: 70\r\n", b"")
    bare = bare.replace(b"Contact: <sip:alice@192.0.2.1>\r\n", b"") + b"Content-Length: 0\r\n\r\n"
    assert severities(bare) == [
        ("error", "max-forwards-missing"),
        ("error", "from-tag-missing"),
        ("error", "contact-missing"),
    ]
    for via, first in ((b";branch=z9hG4bKx1", "branch-missing"), (b"z9hG4bK", "branch-cookie")):
        legacy = bare.replace(via, b"")
        assert severities(legacy) == [
            ("warning", first),
            ("warning", "max-forwards-missing"),
            ("warning", "from-tag-missing"),
            ("warning", "contact-missing"),
        ]
    # a To tag the responder must add is no RFC 2543 leftover
    ringing = b"SIP/2.0 180 Ringing\r\n" + bare.split(b"\r\n", 1)[1].replace(b"z9hG4bK", b"")
    assert ("error", "to-tag-missing") in severities(ringing)


def test_body_problems_are_warnings() -> None:
    bad_sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"  # no t=
    assert severities(with_body("application/sdp", bad_sdp)) == [("warning", "sdp-parse")]
    message = lint_message(with_body("application/sdp", bad_sdp)).findings[0].message
    assert message.startswith("SDP body does not parse: ")
    no_rtpmap = (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 96\r\na=sendrecv\r\na=inactive\r\n"
    )
    assert severities(with_body("application/sdp", no_rtpmap)) == [
        ("warning", "sdp-direction"),
        ("warning", "sdp-rtpmap-missing"),
    ]
    # a body without Content-Type is the message's problem: still an error
    untyped = INVITE + b"Content-Length: 3\r\n\r\nabc"
    assert severities(untyped) == [("error", "content-type-missing")]


def test_multipart_structure() -> None:
    part = b"--b1\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
    assert severities(with_body("multipart/mixed;boundary=b1", part + b"--b1--\r\n")) == []
    assert severities(with_body('multipart/mixed; boundary="b1"', part + b"--b1--")) == []
    assert severities(with_body("multipart/mixed", part + b"--b1--\r\n")) == [
        ("warning", "multipart")
    ]
    unclosed = lint_message(with_body("multipart/mixed;boundary=b1", part)).findings
    assert [(f.code, f.message, f.line) for f in unclosed] == [
        ("multipart", "no close delimiter '--b1--'", 9)
    ]
    wrong = lint_message(with_body("multipart/mixed;boundary=zz", part + b"--b1--\r\n")).findings
    assert [f.message for f in wrong] == ["no part starts with the boundary 'zz'"]


# -- the command, as a user runs it ------------------------------------------------------

HARNESS = Path(sys.executable).with_name("harness")  # .venv/bin/harness


def files(names: Iterable[str]) -> list[str]:
    return [str(RFC4475 / f"{name}.dat") for name in names]


def test_cli_accepts_every_valid_message_and_rejects_every_invalid_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sip-lint", "-q", *files(VALID)]) == 0
    out = capsys.readouterr().out
    assert out.count(": OK ") == 13 and "INVALID" not in out
    assert main(["sip-lint", "-q", *files(INVALID)]) == 1
    out = capsys.readouterr().out
    assert out.count(": INVALID ") == 19 and ": OK " not in out
    assert f"{RFC4475 / 'baddate.dat'}: INVALID line 8: Date 'Fri, 01 Jan 2010 16:00:00 EST'" in out


def test_cli_strict_turns_warnings_into_failures(capsys: pytest.CaptureFixture[str]) -> None:
    wsinv = str(RFC4475 / "wsinv.dat")
    assert main(["sip-lint", wsinv]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{wsinv}: OK INVITE sip:vivekg@chair-dnrc.example.com")
    assert [line.rsplit(" ", 1)[-1] for line in out[1:]] == [
        "[branch-cookie]",
        "[sdp-rtpmap-syntax]",
    ]
    assert main(["sip-lint", wsinv, "--strict"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{wsinv}: INVALID line 12: top Via branch '390skdjuw' lacks the z9hG4bK magic cookie: "
        "an RFC 2543 element (RFC 3261 8.1.1.7)"
    )
    # a message without warnings stays valid under --strict; ignored warnings do not count
    assert main(["sip-lint", str(RFC4475 / "intmeth.dat"), "--strict"]) == 0
    assert main(["sip-lint", wsinv, "--strict", "--ignore", "branch-cookie,sdp-rtpmap-syntax"]) == 0
    capsys.readouterr()


def test_process_strict_exit_codes() -> None:
    run = sip_lint

    longreq = "tests/unit/data/rfc4475/longreq.dat"
    proc = run(longreq)
    assert proc.returncode == 0 and proc.stdout.startswith(f"{longreq}: OK INVITE ")
    assert "[branch-missing]" in proc.stdout
    proc = run(longreq, "--strict")
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{longreq}: INVALID line 7: top Via has no branch")
