"""harness.gateway.adapter: Asterisk's answers (in the form Asterisk 22 on PJSIP and
Asterisk 16 on chan_sip write them) read into what the suite asks, and its waiting over a
scripted session."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import pytest

from harness.gateway.adapter import (
    GatewayAdapter,
    GatewayError,
    chan_sip_peer_state,
    pjsip_peer_state,
)
from harness.gateway.ami import Connection, Event, Response

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def response(data: bytes, action: str = "X") -> Response:
    conn = Connection()
    conn.receive(BANNER)
    conn.send_action(action)
    (message,) = conn.receive(data)
    assert isinstance(message, Response)
    return message


def endpoint(*contacts: tuple[str, str, str, str]) -> Response:
    """PJSIPShowEndpoint's answer, as Asterisk 22 writes it: (URI, Status, RoundtripUsec,
    RegExpire) per contact."""
    parts = [
        b"Response: Success\r\nActionID: harness-1\r\nEventList: start\r\n"
        b"Message: Following are Events for each object associated with the Endpoint\r\n\r\n",
        b"Event: EndpointDetail\r\nActionID: harness-1\r\nObjectName: x\r\n"
        b"DeviceState: Unavailable\r\n\r\n",
    ]
    for uri, status, rtt, expire in contacts:
        parts.append(
            f"Event: ContactStatusDetail\r\nActionID: harness-1\r\nAOR: x\r\nURI: {uri}\r\n"
            f"UserAgent: \r\nRegExpire: {expire}\r\nStatus: {status}\r\n"
            f"RoundtripUsec: {rtt}\r\nEndpointName: x\r\n\r\n".encode()
        )
    parts.append(
        b"Event: EndpointDetailComplete\r\nActionID: harness-1\r\nEventList: Complete\r\n"
        b"ListItems: 2\r\n\r\n"
    )
    return response(b"".join(parts), "PJSIPShowEndpoint")


TRUNK = "sip:192.168.100.20:5068;transport=tcp"


@pytest.mark.parametrize(
    "contacts, reachable, rtt, contact",
    [
        ([(TRUNK, "Reachable", "1234", "0")], True, 1.234, None),
        ([(TRUNK, "Unreachable", "N/A", "0")], False, None, None),
        ([(TRUNK, "NonQualified", "N/A", "0")], None, None, None),
        ([(TRUNK, "Unknown", "N/A", "0")], None, None, None),
        ([], None, None, None),
        ([("sip:1000@192.168.100.40:5060", "NonQualified", "N/A", "1796322717")], None, None,
         "sip:1000@192.168.100.40:5060"),
        ([(TRUNK, "Unreachable", "N/A", "0"), ("sip:b", "Reachable", "800", "0")], True, 0.8,
         None),
    ],
)
def test_pjsip_peer_state(contacts, reachable, rtt, contact):
    state = pjsip_peer_state("x", endpoint(*contacts))
    assert (state.reachable, state.rtt_ms, state.contact) == (reachable, rtt, contact)
    assert state.driver == "pjsip" and "EndpointDetail" in state.raw
    assert state.status == (", ".join(c[1] for c in contacts) or "no contact")


def test_pjsip_unknown_endpoint():
    error = response(b"Response: Error\r\nActionID: harness-1\r\n"
                     b"Message: Unable to retrieve endpoint nobody\n\r\n\r\n")
    with pytest.raises(GatewayError, match="no PJSIP endpoint 'nobody'.*pjsip show endpoints"):
        pjsip_peer_state("nobody", error)


def showpeer_bytes(status: str, contact: str = "", expire: str = "-1 seconds") -> bytes:
    """SIPshowpeer's answer (chan_sip, Asterisk 16), the fields the adapter reads."""
    return (
        "Response: Success\r\nActionID: harness-1\r\nChanneltype: SIP\r\n"
        "ObjectName: to_lync\r\nChanObjectType: peer\r\nAddress-IP: 192.168.100.20\r\n"
        f"Address-Port: 5068\r\nRegExpire: {expire}\r\nStatus: {status}\r\nSIP-Useragent: \r\n"
        f"Reg-Contact: {contact}\r\nQualifyFreq: 60000 ms\r\n\r\n"
    ).encode()


def showpeer(status: str, contact: str = "", expire: str = "-1 seconds") -> Response:
    return response(showpeer_bytes(status, contact, expire), "SIPshowpeer")


@pytest.mark.parametrize(
    "status, reachable, rtt",
    [
        ("OK (1 ms)", True, 1.0),
        ("LAGGED (2500 ms)", True, 2500.0),
        ("UNREACHABLE", False, None),
        ("UNKNOWN", None, None),
        ("Unmonitored", None, None),
    ],
)
def test_chan_sip_peer_state(status, reachable, rtt):
    state = chan_sip_peer_state("to_lync", showpeer(status))
    assert (state.status, state.reachable, state.rtt_ms, state.contact) == (
        status, reachable, rtt, None)
    assert state.summary().startswith(f"to_lync (chan_sip): {status}")


def test_chan_sip_registered_softphone_and_unknown_peer():
    state = chan_sip_peer_state(
        "1000", showpeer("Unmonitored", "sip:1000@192.168.100.40", "70 seconds"))
    assert state.contact == "sip:1000@192.168.100.40"
    # after Expires: 0, Asterisk 16 still shows the old Reg-Contact, with RegExpire -1
    gone = chan_sip_peer_state("1000", showpeer("Unmonitored", "sip:1000@192.168.100.40"))
    assert gone.contact is None
    missing = response(b"Response: Error\r\nActionID: harness-1\r\nMessage: Peer not found\r\n\r\n")
    with pytest.raises(GatewayError, match="no chan_sip peer 'x' \\(Peer not found\\)"):
        chan_sip_peer_state("x", missing)


class FakeSession:
    """Answers actions from a script and hands out events from a queue."""

    def __init__(self, answers: dict[str, list[bytes]], events: Sequence[bytes] = ()) -> None:
        self.answers = {k: deque(v) for k, v in answers.items()}
        self.events = deque(self._event(e) for e in events)
        self.asked: list[tuple[str, dict[str, object]]] = []
        self.fully_booted = True

    @staticmethod
    def _event(data: bytes) -> Event:
        conn = Connection()
        conn.receive(BANNER)
        (event,) = conn.receive(data)
        assert isinstance(event, Event)
        return event

    def action(self, name: str, **fields: object) -> Response:
        self.asked.append((name, fields))
        return response(self.answers[name].popleft(), name)

    def command(self, cli: str) -> str:
        return "\n".join(self.action("Command", Command=cli).output)

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float) -> Event | None:
        while self.events:
            event = self.events.popleft()
            if predicate(event):
                return event
        return None

    def close(self) -> None:
        pass


def channels(*uids: str) -> bytes:
    items = b"".join(
        f"Event: CoreShowChannel\r\nActionID: harness-1\r\nUniqueid: {u}\r\n\r\n".encode()
        for u in uids
    )
    return (
        b"Response: Success\r\nActionID: harness-1\r\nEventList: start\r\n\r\n" + items
        + b"Event: CoreShowChannelsComplete\r\nActionID: harness-1\r\nEventList: Complete\r\n\r\n"
    )


def hangup(uid: str) -> bytes:
    return f"Event: Hangup\r\nUniqueid: {uid}\r\nCause: 16\r\n\r\n".encode()


def test_wait_idle_awaits_each_hangup_then_lists_again():
    # a Dial adds a channel (c) while a and b are up: idle only once c has gone too
    session = FakeSession(
        {"CoreShowChannels": [channels("a", "b"), channels("c"), channels()]},
        [hangup("x"), hangup("b"), hangup("a"), hangup("c")],
    )
    adapter = GatewayAdapter(session, driver="pjsip")
    assert adapter.wait_idle(5) is True
    assert [name for name, _ in session.asked] == ["CoreShowChannels"] * 3


def test_wait_idle_false_when_a_channel_stays_up():
    session = FakeSession({"CoreShowChannels": [channels("a"), channels("a")]}, [hangup("b")])
    assert GatewayAdapter(session, driver="pjsip").wait_idle(0.1) is False


def test_driver_is_asked_once_when_not_given():
    peers = (
        b"Response: Success\r\nActionID: harness-1\r\nEventList: start\r\n\r\n"
        b"Event: PeerEntry\r\nActionID: harness-1\r\nObjectName: to_lync\r\n"
        b"Status: OK (1 ms)\r\n\r\n"
        b"Event: PeerlistComplete\r\nActionID: harness-1\r\nEventList: Complete\r\n\r\n"
    )
    session = FakeSession({"SIPpeers": [peers], "SIPshowpeer": [showpeer_bytes("OK (3 ms)")]})
    adapter = GatewayAdapter(session)
    assert adapter.peer_state("to_lync").rtt_ms == 3.0
    assert adapter.driver == "chan_sip"
    assert [name for name, _ in session.asked] == ["SIPpeers", "SIPshowpeer"]
    unknown = b"Response: Error\r\nActionID: harness-1\r\nMessage: Invalid/unknown command: " \
              b"SIPpeers. Use Action: ListCommands to show available commands.\r\n\r\n"
    assert GatewayAdapter(FakeSession({"SIPpeers": [unknown]})).driver == "pjsip"


def test_reload_must_say_reloaded():
    ok = (b"Response: Success\r\nActionID: harness-1\r\nMessage: Command output follows\r\n"
          b"Output: Module 'res_pjsip.so' reloaded successfully.\r\n\r\n")
    missing = (b"Response: Success\r\nActionID: harness-1\r\nMessage: Command output follows\r\n"
               b"Output: No such module 'chan_nothing.so'\r\n\r\n")
    adapter = GatewayAdapter(FakeSession({"Command": [ok, missing]}), driver="pjsip")
    with pytest.raises(GatewayError, match="did not reload chan_nothing.so: No such module"):
        adapter.reload(("res_pjsip.so", "chan_nothing.so"))


def test_unknown_action_names_the_module_question():
    unknown = (b"Response: Error\r\nActionID: harness-1\r\nMessage: Invalid/unknown command: "
               b"PJSIPQualify. Use Action: ListCommands to show available commands.\r\n\r\n")
    adapter = GatewayAdapter(FakeSession({"PJSIPQualify": [unknown]}), driver="pjsip")
    with pytest.raises(GatewayError, match="does not know AMI action PJSIPQualify"):
        adapter.qualify("to_lync")


def test_health_line():
    settings = (b"Response: Success\r\nActionID: harness-1\r\nAMIversion: 11.0.0\r\n"
                b"AsteriskVersion: 22.10.1\r\n\r\n")
    status = (b"Response: Success\r\nActionID: harness-1\r\nCoreStartupDate: 2026-12-03\r\n"
              b"CoreStartupTime: 17:26:54\r\nCoreReloadDate: 2026-12-03\r\n"
              b"CoreReloadTime: 17:27:11\r\nCoreCurrentCalls: 0\r\n\r\n")
    adapter = GatewayAdapter(
        FakeSession({"CoreSettings": [settings], "CoreStatus": [status]}), driver="pjsip"
    )
    assert adapter.health() == (
        "Asterisk 22.10.1 (AMI 11.0.0), fully booted; up since 2026-12-03 17:26:54, last "
        "reload 2026-12-03 17:27:11; 0 calls up; SIP driver pjsip"
    )


def test_unknown_driver_is_refused():
    with pytest.raises(GatewayError, match="unknown SIP driver 'sip'"):
        GatewayAdapter(FakeSession({}), driver="sip")  # type: ignore[arg-type]
