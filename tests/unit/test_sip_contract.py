"""The contract of harness.sip as a whole: standard library only, no I/O, public names."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import ROOT

MODULES = [
    "harness.sip",
    "harness.sip.errors",
    "harness.sip.headers",
    "harness.sip.parsing",
    "harness.sip.message",
    "harness.sip.framing",
    "harness.sip.uri",
    "harness.sip.sdp_fields",
    "harness.sip.sdp_media",
    "harness.sip.sdp",
    "harness.sip.auth",
    "harness.sip.builder",
    "harness.sip.lint_findings",
    "harness.sip.lint_headers",
    "harness.sip.lint_sdp",
    "harness.sip.lint",
    "harness.sip.transport",
    "harness.sip.matching",
    "harness.sip.transaction",
    "harness.sip.dialog",
    "harness.cli.sip_lint",
]


def test_imports_with_the_standard_library_only_and_no_io_modules():
    """Run in a python with no site-packages (-S -I), as in a bare python3 container."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        + "".join(f"import {name}\n" for name in MODULES)
        + "bad = sorted(m for m in ('asyncio', 'socket', 'selectors', 'ssl', 'numpy', 'docker')"
        " if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_contract_names_exist():
    from harness.sip import auth, builder, errors, framing, message, sdp, uri

    assert issubclass(errors.SipParseError, ValueError)
    assert issubclass(errors.SdpParseError, errors.SipParseError)
    for name in ("Header", "Headers", "Request", "Response", "parse_message"):
        assert hasattr(message, name)
    for name in ("get", "get_all", "values", "add", "set", "remove"):
        assert callable(getattr(message.Headers, name))
    for prop in ("call_id", "cseq", "from_tag", "to_tag", "via_branch", "content_length"):
        assert hasattr(message.Request, prop) and hasattr(message.Response, prop)
    assert callable(message.Request.sdp) and callable(message.Request.serialize)
    assert callable(framing.StreamFramer.feed)
    for name in ("SipUri", "NameAddr", "Via", "parse_via"):
        assert hasattr(uri, name)
    for name in ("SessionDescription", "MediaDescription", "Origin", "Connection"):
        assert hasattr(sdp, name)
    for name in ("parse_challenge", "build_authorization", "verify"):
        assert callable(getattr(auth, name))
    for name in ("new_tag", "new_branch", "make_response"):
        assert callable(getattr(builder, name))


def test_contract_constructor_shapes():
    from harness.sip import Headers, Request, Response
    from harness.sip.sdp import Connection, MediaDescription, Origin, SessionDescription, Timing

    req = Request("OPTIONS", "sip:a@b", Headers(), b"", "SIP/2.0")
    resp = Response(200, "OK", Headers(), b"", "SIP/2.0")
    assert req.raw is None and resp.raw is None
    origin = Origin("-", "1", 1, "IN", "IP4", "192.0.2.1")
    media = MediaDescription("audio", 4000, "RTP/AVP", ["0"], Connection(), [], [])
    sdp = SessionDescription(0, origin, "-", None, [], Timing(), [], [media])
    assert sdp.media[0].session is sdp
