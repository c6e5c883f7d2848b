"""Sans-I/O parts of the Skype for SIP simulator: rules, codec choice, digest, registrar,
wire format and the A-law tone."""

from __future__ import annotations

from typing import Any

import pytest

from harness.peers.common.behaviour import BehaviourError
from harness.peers.skype.registrar import DigestAuthority, Registrar
from harness.peers.skype.rules import (
    SkypeBehaviour,
    caller_identity,
    choose_codec,
    is_e164,
    is_skype_name,
    same_number,
    uri_user,
)
from harness.peers.skype.wire import CodecTone, linear_to_alaw, offer_media, warning
from harness.sip.auth import build_authorization
from harness.sip.builder import make_request, via_value
from harness.sip.matching import server_key
from harness.sip.sdp import SessionDescription
from harness.sip.transport import mark_received

PROFILE = "99051000107808"


def test_e164_and_skype_names() -> None:
    assert is_e164("+17606604690") and is_e164("+12345678")
    assert not is_e164("17606604690") and not is_e164("+1234567") and not is_e164("+1" * 9)
    assert is_skype_name("echo123") and is_skype_name("bob_skype") and is_skype_name("a.b_c.d")
    assert (
        not is_skype_name("12345678") and not is_skype_name("echo") and not is_skype_name("x" * 33)
    )
    assert uri_user("sip:%2B17606604690;npdi@sip.skype.com") == "+17606604690"
    assert uri_user("tel:+17606604690") == "+17606604690"
    assert uri_user("sip:sip.skype.com") is None


def _invite(from_user: str, extra: list[tuple[str, str]] | None = None):
    return make_request(
        "INVITE",
        "sip:+17606604690@sip.skype.com",
        from_=f"<sip:{from_user}@sip.skype.com>;tag=1",
        to="<sip:+17606604690@sip.skype.com>",
        call_id="c1",
        cseq=1,
        via=via_value("UDP", "192.168.100.10", 5060, branch="z9hG4bKx", rport=True),
        headers=extra,
    )


def test_caller_identity_prefers_pai_then_rpid_then_from() -> None:
    assert caller_identity(_invite(PROFILE)) == (PROFILE, "From")
    rpid = [("Remote-Party-ID", '"X" <sip:+1555@h>;party=calling')]
    assert caller_identity(_invite(PROFILE, rpid)) == ("+1555", "Remote-Party-ID")
    pai = [("P-Asserted-Identity", "<tel:+1666>"), *rpid]
    assert caller_identity(_invite(PROFILE, pai)) == ("+1666", "P-Asserted-Identity")
    assert same_number("+" + PROFILE, PROFILE) and same_number(PROFILE, PROFILE)
    assert not same_number(" " + PROFILE, PROFILE) and not same_number(None, PROFILE)


def _audio(formats: str, extra: str = ""):
    text = (
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
        f"m=audio 4000 RTP/AVP {formats}\r\n{extra}"
    )
    return SessionDescription.parse(text).media[0]


def test_choose_codec_first_acceptable_in_offer_order() -> None:
    te = "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    choice = choose_codec(_audio("9 8 0 18 101", te))
    assert choice is not None and (choice.name, choice.payload_type) == ("PCMA", 8)
    assert (choice.telephone_event_pt, choice.telephone_event_fmtp) == (101, "0-15")
    dyn = "a=rtpmap:96 G729/8000\r\na=fmtp:96 annexb=no\r\n"
    choice = choose_codec(_audio("96 0", dyn))
    assert choice is not None and (choice.name, choice.payload_type, choice.fmtp) == (
        "G729",
        96,
        "annexb=no",
    )
    assert choose_codec(_audio("9 3")) is None
    assert choose_codec(_audio("0 8"), ("PCMA",)).name == "PCMA"  # type: ignore[union-attr]


def test_behaviour_validation() -> None:
    b = SkypeBehaviour(channels=4).merged({"limit_status": 486, "echo_numbers": "+15550001111"})
    assert b.limit_status == 486 and b.echo_numbers == ("+15550001111",) and b.channels == 4
    assert b.to_json()["echo_numbers"] == ["+15550001111"]
    bads: tuple[Any, ...] = (
        {"limit_status": 200},
        {"channels": -1},
        {"echo_to": "nowhere"},
        {"offer_codecs": ["G722"]},
        {"sfa_echo_names": ["x"]},
        {"dtmf": "X"},
        {"answer_delay_ms": None},
        {"challenge_invites": 1},
        [],
    )
    for bad in bads:
        with pytest.raises(BehaviourError):
            SkypeBehaviour().merged(bad)
    assert (
        SkypeBehaviour().merged({"reject_status_for_caller_id": None}).reject_status_for_caller_id
        is None
    )


def _register(auth: str | None, contact: str = "<sip:99051000107808@10.0.0.1:5060>", **kw):
    headers = [("Expires", str(kw.get("expires", 3600)))]
    if auth:
        headers.append(("Authorization", auth))
    return make_request(
        "REGISTER",
        "sip:sip.skype.com",
        from_=f"<sip:{PROFILE}@sip.skype.com>;tag=r",
        to=f"<sip:{PROFILE}@sip.skype.com>",
        call_id="reg",
        cseq=kw.get("cseq", 1),
        via=via_value("UDP", "10.0.0.1", 5060, branch="z9hG4bKr"),
        contact=contact,
        headers=headers,
    )


def test_digest_stale_nonce_and_registrar_rules() -> None:
    clock = [1000.0]
    authority = DigestAuthority("sip.skype.com", {PROFILE: "pw"}, clock=lambda: clock[0])
    registrar = Registrar(authority, "sip.skype.com")
    out = registrar.register(_register(None), "10.0.0.1:5060", clock[0], 3600, None)
    assert out.status == 401
    challenge = dict(out.headers)["WWW-Authenticate"]
    auth = build_authorization(challenge, "REGISTER", "sip:sip.skype.com", PROFILE, "pw")
    out = registrar.register(_register(auth, expires=30), "10.0.0.1:5060", clock[0], 3600, 60)
    assert out.status == 423 and dict(out.headers)["Min-Expires"] == "60"
    out = registrar.register(_register(auth, expires=7200), "10.0.0.1:5060", clock[0], 3600, 60)
    assert out.status == 200 and out.record is not None and out.record.expires_granted == 3600
    clock[0] += 301  # the nonce is too old now: right password, stale challenge
    out = registrar.register(_register(auth), "10.0.0.1:5060", clock[0], 3600, None)
    assert out.status == 401 and "stale=TRUE" in dict(out.headers)["WWW-Authenticate"]
    fresh = build_authorization(
        dict(out.headers)["WWW-Authenticate"], "REGISTER", "sip:sip.skype.com", PROFILE, "pw"
    )
    out = registrar.register(_register(fresh, contact="*", expires=0), "x", clock[0], 3600, None)
    assert out.status == 200 and registrar.current(clock[0]) == []
    out = registrar.register(_register(fresh, contact="*", expires=5), "x", clock[0], 3600, None)
    assert out.status == 400


def test_wire_helpers() -> None:
    assert warning("sip.skype.com", 'say "hi"') == ("Warning", '399 sip.skype.com "say \\"hi\\""')
    lines = offer_media(4000, ["G729", "PCMU", "PCMA"])
    assert lines[0] == "m=audio 4000 RTP/AVP 18 0 8 101"
    assert "a=rtpmap:18 G729/8000" in lines and "a=fmtp:101 0-16" in lines
    # G.711 A-law reference values (ITU-T G.711 / Sun g711.c)
    assert [linear_to_alaw(s) for s in (0, -1, 32767, -32768, 1000)] == [
        0xD5,
        0x55,
        0xAA,
        0x2A,
        0xFA,
    ]
    assert len(CodecTone("PCMA").frame()) == 160 and len(CodecTone("G729").frame()) == 20


def test_udp_server_key_and_received() -> None:
    req = _invite(PROFILE)
    key = server_key(req)
    assert key == ("3261", "z9hG4bKx", "192.168.100.10:5060", "INVITE")
    target = mark_received(req, ("10.9.9.9", 40000))
    assert target == ("10.9.9.9", 40000)
    assert (req.headers.get("Via") or "").endswith(";received=10.9.9.9;rport=40000")
    plain = make_request(
        "OPTIONS",
        "sip:h",
        from_="<sip:a@h>;tag=1",
        to="<sip:h>",
        call_id="x",
        cseq=1,
        via=via_value("UDP", "host.example", 5062, branch="z9hG4bKy"),
    )
    assert mark_received(plain, ("10.0.0.2", 1234)) == ("10.0.0.2", 5062)
    assert (plain.headers.get("Via") or "").endswith(";received=10.0.0.2")


def test_a_call_asks_for_the_skype_for_asterisk_side_by_name():
    from harness.peers.skype.gateway_call import CallRequest

    ask = CallRequest.parse({"to": "14255550150", "via": "sfa", "from": "skype.caller",
                             "anonymous": False}, "99051000107808")
    assert (ask.to, ask.via, ask.anonymous) == ("14255550150", "sfa", False)
    assert CallRequest.parse({}, "99051000107808").via == "sip"
    with pytest.raises(BehaviourError, match="via"):
        CallRequest.parse({"via": "pstn"}, "99051000107808")
    with pytest.raises(BehaviourError, match="use_registration"):
        CallRequest.parse({"via": "sfa", "use_registration": True}, "99051000107808")
