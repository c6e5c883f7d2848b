"""harness.gtalk.jingle: the Google Talk user's Jingle elements, built and read (sans I/O),
and read back from what chan_motif really sent (a recorded 9501 call on Asterisk 16)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.capture import open_capture
from harness.capture.xmpp import xmpp_stanzas
from harness.gtalk.jingle import (
    AUDIO,
    ICE_UDP_NS,
    JINGLE_NS,
    PCMU,
    TELEPHONE_EVENT,
    Candidate,
    JingleError,
    PayloadType,
    Transport,
    audio_content,
    common_payloads,
    find_jingle,
    jingle_element,
    parse_jingle,
)
from tests.support.paths import ROOT

CAPTURED = ROOT / "tests/unit/data/gtalk/9501_answer_asterisk16-chansip.pcap"


def recorded() -> list[ET.Element]:
    """The stanzas of Sara's c2s stream in a real capture (Lync dials 9501, she answers)."""
    return [s.element for s in xmpp_stanzas(open_capture(CAPTURED))
            if s.dst_host == "192.168.121.1" or s.src_host == "192.168.121.1"]


def test_session_initiate_round_trip():
    cands = (Candidate(1, "f1", "10.0.0.1", 4000, 2130706431, id="a"),
             Candidate(2, "f1", "10.0.0.1", 4001, 2130706430, id="b"))
    el = jingle_element("session-initiate", "s1", initiator="sara@gmail.test/harness",
                        contents=[audio_content(AUDIO, Transport("uf12", "p" * 22, cands))])
    back = parse_jingle(ET.fromstring(ET.tostring(el)))
    assert (back.action, back.sid, back.initiator) == ("session-initiate", "s1",
                                                       "sara@gmail.test/harness")
    assert back.payloads == AUDIO
    assert back.transport == Transport("uf12", "p" * 22, cands)
    assert back.contents[0].name == "audio" and back.contents[0].media == "audio"


def test_terminate_reason_and_ringing_info():
    term = parse_jingle(jingle_element("session-terminate", "s1", reason="decline"))
    assert term.reason == "decline"
    info = parse_jingle(jingle_element("session-info", "s1", info="ringing"))
    assert info.info == ("ringing",)


@pytest.mark.parametrize("action,reason", [("hang-up", None), ("session-terminate", "bye")])
def test_unknown_action_or_reason_is_refused(action, reason):
    with pytest.raises(ValueError, match="XEP-0166"):
        jingle_element(action, "s1", reason=reason)


@pytest.mark.parametrize("xml,message", [
    (f'<jingle xmlns="{JINGLE_NS}" sid="s"/>', "action"),
    (f'<jingle xmlns="{JINGLE_NS}" action="session-accept"/>', "sid"),
    (f'<jingle xmlns="{JINGLE_NS}" action="session-accept" sid="s"><content/></jingle>',
     "name"),
    (f'<jingle xmlns="{JINGLE_NS}" action="transport-info" sid="s"><content name="a">'
     f'<transport xmlns="{ICE_UDP_NS}"><candidate component="1" foundation="f" '
     f'ip="1.2.3.4" port="x" priority="1" protocol="udp" type="host"/></transport>'
     f'</content></jingle>', "port='x' is not a number"),
    ('<jingle xmlns="urn:example" action="a" sid="s"/>', "not a Jingle element"),
])
def test_unreadable_jingle_names_the_problem(xml, message):
    with pytest.raises(JingleError, match=message):
        parse_jingle(ET.fromstring(xml))


def test_common_payloads_keep_the_offer_order_and_ids():
    offered = (PayloadType(8, "PCMA"), PayloadType(96, "telephone-event"), PayloadType(0, "pcmu"))
    assert common_payloads(offered, AUDIO) == (PayloadType(96, "telephone-event"),
                                               PayloadType(0, "pcmu"))
    assert common_payloads((PayloadType(8, "PCMA"),), [PCMU]) == ()


def test_chan_motif_session_initiate_and_transport_info_as_recorded():
    """What Asterisk 16's chan_motif sent Sara: the initiate has payloads and an empty
    ICE-UDP transport; the candidates come in a transport-info."""
    jingles = [parse_jingle(j) for el in recorded() if (j := find_jingle(el)) is not None]
    actions = [j.action for j in jingles]
    assert actions[0] == "session-initiate" and "transport-info" in actions
    init = jingles[0]
    assert init.payloads == (PCMU, TELEPHONE_EVENT)
    assert init.transport == Transport(None, None, ())
    info = jingles[actions.index("transport-info")]
    assert info.transport is not None and info.transport.ufrag and info.transport.pwd
    assert sorted(c.component for c in info.candidates) == [1, 2]
    assert {c.type for c in info.candidates} == {"host"}
