"""Role recognition on the harness's own captures, given roles, --roles parsing, and a
generated capture where the Mediation Server cannot be recognised."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.recognise import (
    RolesOptionError,
    parse_roles_option,
    recognise,
    xmpp_servers,
)
from harness.capture import open_capture
from harness.roles import ASTERISK, MEDIATION, SKYPE, SOFTPHONE, XMPP
from tests.support.sipcall import CallCapture, message

DATA = Path(__file__).parent / "data" / "deployment"
NET = "192.168.100"
UA_ASTERISK = "Server: Asterisk PBX 22.10.1"
UA_LYNC = "RTCC/3.5.0.0 MediationServer"

# capture -> role -> (host number, the start of the rule that named it)
EXPECTED: dict[str, dict[str, tuple[int, str]]] = {
    "test_outbound_softphone_calls_lync_twelve_steps": {
        SOFTPHONE: (40, "places a call through the gateway over UDP (frame 8)"),
        ASTERISK: (10, UA_ASTERISK),
        MEDIATION: (20, f"Server: {UA_LYNC} (frame 16)"),
    },
    "test_inbound_lync_calls_extension_1000": {
        SOFTPHONE: (40, "REGISTERs with the gateway (frame 8)"),
        ASTERISK: (10, UA_ASTERISK),
        MEDIATION: (20, f"User-Agent: {UA_LYNC} (frame 12)"),
    },
    "test_lync_dials_1001_reaches_skype_test_number_and_hears_echo": {
        ASTERISK: (10, UA_ASTERISK),
        MEDIATION: (20, f"User-Agent: {UA_LYNC}"),
        SKYPE: (30, 'Proxy-Authenticate: realm="sip.skype.com" (frame 16)'),
    },
    "test_lync_dials_1002_reaches_echo123_through_skype_for_asterisk": {
        ASTERISK: (10, UA_ASTERISK),
        MEDIATION: (20, f"User-Agent: {UA_LYNC}"),
        SKYPE: (30, "Server: Skype SIP"),
    },
    "test_channels_exhausted_is_refused_by_skype": {
        ASTERISK: (10, UA_ASTERISK),
        MEDIATION: (20, f"User-Agent: {UA_LYNC}"),
        SKYPE: (30, 'Proxy-Authenticate: realm="sip.skype.com"'),
    },
    "test_registration_is_challenged_answered_and_refreshed": {
        ASTERISK: (10, "User-Agent: Asterisk PBX 22.10.1"),
        SKYPE: (30, 'WWW-Authenticate: realm="sip.skype.com" (frame 22)'),
    },
    "test_skype_user_calls_lync_as_anonymous_caller": {
        ASTERISK: (10, UA_ASTERISK),
        MEDIATION: (20, f"Server: {UA_LYNC}"),
        SKYPE: (30, "User-Agent: Skype SIP"),
    },
    "test_ivr_option_routes_as_the_seed_says_5": {
        ASTERISK: (10, "User-Agent: Asterisk PBX 22.10.1"),
        MEDIATION: (20, f"Server: {UA_LYNC}"),
        XMPP: (50, "takes TCP connections on port 5222"),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_roles_recognised_with_the_right_rule(name: str) -> None:
    cap = open_capture(DATA / f"{name}.pcap")
    found = recognise(cap.sip_messages(), xmpp_hosts=xmpp_servers(cap))
    got = {e.role: (e.address, e.rule) for e in found.evidence}
    assert set(got) == set(EXPECTED[name])
    for role, (number, rule) in EXPECTED[name].items():
        assert got[role][0] == f"{NET}.{number}"
        assert got[role][1].startswith(rule), got[role][1]
        assert found.address_of(role) == f"{NET}.{number}"
        assert found.roles.name(f"{NET}.{number}") == role
    # evidence in the ladder's column order
    order = [SOFTPHONE, ASTERISK, MEDIATION, SKYPE, XMPP]
    assert [e.role for e in found.evidence] == [r for r in order if r in got]


def test_given_roles_win_over_recognised_ones() -> None:
    sip = open_capture(DATA / "test_outbound_softphone_calls_lync_twelve_steps.pcap").sip_messages()
    # Swap two hosts on purpose: what is given is what counts.
    given = parse_roles_option(f"asterisk={NET}.20,mediation={NET}.10")
    found = recognise(sip, given)
    assert found.address_of(ASTERISK) == f"{NET}.20"
    assert found.address_of("mediation") == f"{NET}.10"
    assert {e.role: e.rule for e in found.evidence}[ASTERISK] == "given"
    assert found.address_of(SOFTPHONE) is None or found.address_of(SOFTPHONE) != f"{NET}.20"


def test_one_given_role_leaves_the_others_to_the_rules() -> None:
    sip = open_capture(DATA / "test_inbound_lync_calls_extension_1000.pcap").sip_messages()
    found = recognise(sip, {f"{NET}.40": SOFTPHONE})
    rules = {e.role: e.rule for e in found.evidence}
    assert rules[SOFTPHONE] == "given"
    assert rules[ASTERISK].startswith(UA_ASTERISK)


def test_parse_roles_option() -> None:
    assert parse_roles_option("asterisk=10.0.0.1, mediation=10.0.0.2,skype=::1") == {
        "10.0.0.1": ASTERISK, "10.0.0.2": MEDIATION, "::1": SKYPE}


@pytest.mark.parametrize(("text", "names"), [
    ("pbx=10.0.0.1", ["'pbx'", "asterisk=IP"]),
    ("asterisk=10.0.0.300", ["'10.0.0.300'", "asterisk"]),
    ("asterisk=10.0.0.1,mediation", ["'mediation'", "'='"]),
    ("asterisk=10.0.0.1,asterisk=10.0.0.2", ["asterisk given twice"]),
    ("asterisk=10.0.0.1,mediation=10.0.0.1", ["10.0.0.1 given for two roles"]),
    ("", ["nothing given"]),
])
def test_parse_roles_option_names_the_bad_part(text: str, names: list[str]) -> None:
    with pytest.raises(RolesOptionError) as err:
        parse_roles_option(text)
    for part in names:
        assert part in str(err.value)


def _no_lync_identity(tmp_path: Path) -> Path:
    """A softphone call through the gateway to a trunk peer that says nothing about itself
    (no Server/User-Agent, UDP 5060, not 5068)."""
    cap = CallCapture()
    invite = [("Via", f"SIP/2.0/UDP {NET}.40:5060;branch=z9hG4bK1"),
              ("From", f"<sip:1000@{NET}.10>;tag=a"), ("To", f"<sip:+14255550150@{NET}.10>"),
              ("Call-ID", "leg1"), ("CSeq", "1 INVITE"), ("User-Agent", "Some Phone 1.0")]
    cap.sip("softphone", "asterisk", message(f"INVITE sip:+14255550150@{NET}.10 SIP/2.0", invite))
    trunk = [("Via", f"SIP/2.0/UDP {NET}.10:5060;branch=z9hG4bK2"),
             ("From", f"<sip:1000@{NET}.10>;tag=b"), ("To", f"<sip:+14255550150@{NET}.20>"),
             ("Call-ID", "leg2"), ("CSeq", "1 INVITE"), ("User-Agent", "Asterisk PBX 16.2.1")]
    cap.sip("asterisk", "mediation", message(f"INVITE sip:+14255550150@{NET}.20 SIP/2.0", trunk))
    return cap.write(tmp_path / "no_lync.pcap")


def test_no_mediation_server_recognised_is_left_out(tmp_path: Path) -> None:
    sip = open_capture(_no_lync_identity(tmp_path)).sip_messages()
    found = recognise(sip)
    assert found.address_of(MEDIATION) is None
    assert MEDIATION not in {e.role for e in found.evidence}
    assert found.address_of(ASTERISK) == f"{NET}.10"
    assert found.address_of(SOFTPHONE) == f"{NET}.40"
    # Naming it is the fix the engine suggests.
    named = recognise(sip, parse_roles_option(f"mediation={NET}.20"))
    assert named.address_of(MEDIATION) == f"{NET}.20"


def test_structural_rules_without_identities() -> None:
    """Server/User-Agent headers gone: the trunk port and who talks to whom still tell."""
    from dataclasses import replace

    from harness.sip import parse_message

    sip = open_capture(DATA / "test_outbound_softphone_calls_lync_twelve_steps.pcap").sip_messages()
    bare = []
    for m in sip:
        lines = [ln for ln in m.data.split(b"\r\n")
                 if not ln.lower().startswith((b"server:", b"user-agent:"))]
        data = b"\r\n".join(lines)
        bare.append(replace(m, data=data, message=parse_message(data)))
    rules = {e.role: e.rule for e in recognise(bare).evidence}
    assert rules[MEDIATION].startswith("takes SIP over TCP on port 5068")
    assert rules[ASTERISK].startswith("talks SIP with the Mediation Server and with others")
    assert rules[SOFTPHONE].startswith("places a call through the gateway over UDP")
    assert SKYPE not in rules
