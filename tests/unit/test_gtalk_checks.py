"""The Jingle, ICE and RTP checks of a Google Talk call on a real capture (Lync dials
9501, Sara answers, Asterisk 16): they pass on it, and each fails on the fault it is
there to catch (faults injected into the captured stanzas and STUN messages). The stanzas
are read from the capture as the flows read them: the Google Talk user's c2s stream, in
clear in the XMPP server's namespace while Asterisk 16's own stream is TLS."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from harness.analysis.ice_rules import IceParty, check_ice, parse_stun, stun_messages
from harness.analysis.jingle_media import check_jingle_media
from harness.analysis.jingle_rules import (
    RTP,
    StanzaLike,
    check_jingle,
    jingle_actions,
)
from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from harness.flows.gtalk_session import user_stanzas
from harness.gateway.adapter import parse_xmpp_buddies, parse_xmpp_connections
from tests.support.paths import ROOT

DATA = ROOT / "tests/unit/data/gtalk"
PCAP = DATA / "9501_answer_asterisk16-chansip.pcap"
ROLES = {"asterisk@gmail.test": "Asterisk", "sara@gmail.test": "Google Talk user"}
ADDRESSES = {"Asterisk": "192.168.121.10", "Google Talk user": "192.168.121.1"}
SARA = "sara@gmail.test/harness"


def stanzas() -> list[StanzaLike]:
    return user_stanzas(open_capture(PCAP), ADDRESSES["Google Talk user"], SARA)


def judge(items: list[StanzaLike], reason: str = "gone") -> tuple[Verdict, object]:
    v = Verdict("9501", PCAP)
    session = check_jingle(v, jingle_actions(items), ROLES, initiator="Asterisk",
                           outcome="answered", terminated_by="Asterisk", reason=reason,
                           addresses=ADDRESSES)
    return v, session


def failed(v: Verdict) -> set[str]:
    return {r.subject for r in v.failures}


def test_captured_exchange_passes_every_jingle_check():
    v, session = judge(stanzas())
    assert v.ok, v.report()
    assert len(v.results) > 15


def test_the_users_stream_is_read_with_senders_and_receivers():
    actions = jingle_actions(stanzas())
    assert [(a.action, a.sender, a.receiver, a.ack) for a in actions] == [
        ("session-initiate", "asterisk@gmail.test/asterisk-xmpp", SARA, "result"),
        ("transport-info", "asterisk@gmail.test/asterisk-xmpp", SARA, "result"),
        ("session-info", SARA, "asterisk@gmail.test/asterisk-xmpp", "result"),
        ("session-accept", SARA, "asterisk@gmail.test/asterisk-xmpp", "result"),
        ("session-terminate", "asterisk@gmail.test/asterisk-xmpp", SARA, "result"),
    ]


def test_no_stanza_of_the_user_in_a_capture_fails_the_session():
    v, _ = judge(user_stanzas(open_capture(PCAP), "192.168.121.99", SARA))
    assert "session-initiate" in failed(v), v.report()


def test_chan_motif_reason_fails_where_xep_0166_says_success():
    v, _ = judge(stanzas(), reason="success")
    assert failed(v) == {"session-terminate reason (XEP-0166 7.4)"}


def test_unanswered_iq_fails():
    items = [s for s in stanzas() if not (s.element.get("type") == "result"
                                          and s.src.startswith("asterisk"))]
    v, _ = judge(items)
    assert "IQ results" in failed(v), v.report()


def test_offer_without_pcmu_fails():
    items = stanzas()
    init = next(s for s in items if s.element.find(".//{*}jingle") is not None)
    desc = init.element.find(f".//{{{RTP}}}description")
    assert desc is not None
    for pt in list(desc):
        if pt.get("name") == "PCMU":
            desc.remove(pt)
    v, _ = judge(items)
    assert {"offered payload types", "PCMU payload id"} <= failed(v), v.report()


def test_no_session_accept_fails():
    items = [s for s in stanzas() if 'action="session-accept"' not in ET.tostring(
        s.element, encoding="unicode")]
    v, _ = judge(items)
    assert "session-accept" in failed(v)


def test_ice_and_rtp_pass_on_the_capture():
    v, session = judge(stanzas())
    counts = check_jingle_media(v, open_capture(PCAP), session)  # type: ignore[arg-type]
    assert v.ok, v.report()
    assert counts["Asterisk"] > 50 and counts["Google Talk user"] > 50
    assert any(r.subject.startswith("nomination") for r in v.results)


def parties() -> tuple[IceParty, IceParty]:
    v, session = judge(stanzas())
    out = []
    for role, (ufrag, pwd, cands) in session.transports.items():  # type: ignore[attr-defined]
        out.append(IceParty(role, ufrag, pwd, tuple(cands), role == "Asterisk"))
    a, b = out
    return a, b


def test_wrong_password_fails_integrity():
    a, b = parties()
    v = Verdict("ice", PCAP)
    check_ice(v, stun_messages(open_capture(PCAP)), a, dataclasses.replace(b, pwd="x" * 22))
    assert any(s.startswith("request integrity Asterisk -> ") for s in failed(v)), v.report()


def test_unanswered_checks_fail():
    a, b = parties()
    msgs = [m for m in stun_messages(open_capture(PCAP)) if m.kind != "success"]
    v = Verdict("ice", PCAP)
    check_ice(v, msgs, a, b)
    assert {f for f in failed(v) if f.startswith("Binding success")} == {
        f"Binding success {x} -> {y} component {c}" for x, y in (
            ("Asterisk", "Google Talk user"), ("Google Talk user", "Asterisk")) for c in (1, 2)
    }, v.report()


def test_swapped_roles_fail():
    a, b = parties()
    v = Verdict("ice", PCAP)
    check_ice(v, stun_messages(open_capture(PCAP)), dataclasses.replace(a, controlling=False),
              dataclasses.replace(b, controlling=True))
    assert {f for f in failed(v) if f.startswith("role attribute")}, v.report()


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x00\x00" + b"\x00" * 16,
                                  b"\xc0" + b"\x00" * 19])
def test_not_stun(data):
    assert parse_stun(data) is None


def test_troubleshooting_views_as_asterisk_prints_them():
    buddies = parse_xmpp_buddies(
        "XMPP buddy lists\nClient: gtalk_account\n\tBuddy:\tsara@gmail.test\n"
        "\t\tResource: harness\n\t\t\tnode: http://slixmpp.com/ver/1.17.0\n"
        "\t\t\tversion: Hy0d0QU7POkzMxlo7ZjliIsIfps=\n\t\t\tGoogle Talk capable: no\n"
        "\t\t\tJingle capable: yes\n")
    (res,) = buddies["gtalk_account"]["sara@gmail.test"]
    assert (res.name, res.jingle, res.google) == ("harness", True, False)
    assert parse_xmpp_buddies("Client: gtalk_account\n\tBuddy:\tsara@gmail.test\n") == {
        "gtalk_account": {"sara@gmail.test": []}}
    assert parse_xmpp_connections(
        "Jabber Users and their status:\n       [gtalk_account] asterisk@gmail.test     "
        "- Connected\n----\n   Number of clients: 1\n") == {"gtalk_account": "Connected"}
