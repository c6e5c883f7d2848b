"""baresip's ctrl_tcp on bytes: netstring framing, commands, responses and events as
baresip 1.0 sends them, reginfo's text; and the driver over a socket pair standing in for
baresip (events before a response are kept; waits end at their deadline)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from harness.topology.baresip import BaresipError, BaresipPhone, account_lines, aor_of
from harness.topology.baresip_ctrl import (
    CtrlProtocolError,
    CtrlSession,
    Event,
    NetstringDecoder,
    Response,
    encode_command,
    encode_netstring,
    parse_message,
    registrations,
)
from tests.support.paths import ROOT

# as baresip 1.0's ctrl_tcp encodes them (odict: "event" is a JSON true)
ESTABLISHED = (b'{"event":true,"type":"CALL_ESTABLISHED","class":"call",'
               b'"accountaor":"sip:1000@192.168.100.10","direction":"outgoing",'
               b'"peeruri":"sip:+14255550150@192.168.100.10","id":"2a6f1c"}')
REGINFO = ("\n--- User Agents (1) ---\n> sip:1000@192.168.100.10                     "
           "\x1b[32mOK \x1b[;m sip:192.168.100.10 Expires 3600s\n\n")


def frame(obj: dict[str, object]) -> bytes:
    return encode_netstring(json.dumps(obj).encode())


def response(token: str, data: str = "", ok: bool = True) -> bytes:
    return frame({"response": True, "ok": ok, "data": data, "token": token})


def event(type_: str, call_id: str | None = "c1", **more: object) -> bytes:
    body: dict[str, object] = {"event": True, "type": type_, "class": "call", **more}
    if call_id is not None:
        body["id"] = call_id
    return frame(body)


# ---------------------------------------------------------------- framing


def test_netstring_round_trip() -> None:
    assert encode_netstring(b"hello") == b"5:hello,"
    assert encode_netstring(b"") == b"0:,"
    assert NetstringDecoder().feed(b"5:hello,0:,") == [b"hello", b""]


def test_frames_split_anywhere_are_reassembled() -> None:
    stream = encode_netstring(ESTABLISHED) + encode_netstring(b"{}")
    for cut in range(1, len(stream)):
        decoder = NetstringDecoder()
        frames = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert frames == [ESTABLISHED, b"{}"], cut


def test_a_byte_at_a_time() -> None:
    decoder = NetstringDecoder()
    frames = [f for b in encode_netstring(b"a:b,c") for f in decoder.feed(bytes([b]))]
    assert frames == [b"a:b,c"]


@pytest.mark.parametrize("data, says", [
    (b"5:hello;", "must end in ','"),
    (b"x:abc,", "length must be"),
    (b"05:hello,", "no leading zeros"),
    (b"1234567890:", "length must be"),
    (b"{\"command\"", "starts with its length"),
])
def test_bad_framing_is_one_clear_error(data: bytes, says: str) -> None:
    with pytest.raises(CtrlProtocolError, match=says):
        NetstringDecoder().feed(data)


# ---------------------------------------------------------------- messages


def test_command_encoding() -> None:
    raw = encode_command("dial", "+14255550150", "7")
    length, _, rest = raw.partition(b":")
    assert int(length) == len(rest) - 1 and rest.endswith(b",")
    assert json.loads(rest[:-1]) == {"command": "dial", "params": "+14255550150", "token": "7"}
    assert json.loads(NetstringDecoder().feed(encode_command("accept", None, "8"))[0]) == {
        "command": "accept", "token": "8"}
    with pytest.raises(ValueError, match="one word"):
        encode_command("dial now", None, "9")


def test_session_numbers_its_commands() -> None:
    session = CtrlSession()
    assert session.command("reginfo")[0] == "1"
    token, data = session.command("hangup")
    assert token == "2" and b'"token": "2"' in data


def test_event_as_baresip_sends_it() -> None:
    message = parse_message(ESTABLISHED)
    assert isinstance(message, Event)
    assert (message.type, message.cls, message.direction, message.call_id) == (
        "CALL_ESTABLISHED", "call", "outgoing", "2a6f1c")
    assert message.brief() == "CALL_ESTABLISHED outgoing sip:+14255550150@192.168.100.10"


def test_event_as_documented_and_without_call() -> None:
    message = parse_message(b'{"event":"true","class":"register","type":"REGISTER_OK",'
                            b'"accountaor":"sip:1000@gw","param":"200 OK"}')
    assert isinstance(message, Event)
    assert message.call_id is None and message.brief() == "REGISTER_OK (200 OK)"


def test_responses() -> None:
    assert parse_message(b'{"response":true,"ok":false,"data":"No such file","token":"3"}'
                         ) == Response(False, "No such file", "3")
    assert parse_message(b'{"response":true,"ok":true,"data":""}') == Response(True, "", None)


@pytest.mark.parametrize("frame_, says", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"hello": 1}', "neither a response nor an event"),
])
def test_bad_messages(frame_: bytes, says: str) -> None:
    with pytest.raises(CtrlProtocolError, match=says):
        parse_message(frame_)


def test_reginfo_text() -> None:
    assert registrations(REGINFO) == {"sip:1000@192.168.100.10": "OK"}
    waiting = REGINFO.replace("\x1b[32mOK \x1b[;m", "\x1b[33mzzz\x1b[;m")
    assert registrations(waiting) == {"sip:1000@192.168.100.10": "zzz"}
    assert registrations("\n--- User Agents (0) ---\n\n") == {}


def test_the_fixture_account_rendered() -> None:
    text = (ROOT / "fixtures" / "baresip" / "accounts").read_text()
    (line,) = account_lines(text, {"GATEWAY_ADDR": "192.168.100.10"})
    assert aor_of(line) == "sip:1000@192.168.100.10"
    assert ";auth_pass=1000;" in line and ";audio_codecs=pcmu;" in line


def test_aor_of_an_accounts_line() -> None:
    line = '"Test User" <sip:1000@192.168.100.10;transport=udp>;auth_pass=1000'
    assert aor_of(line) == "sip:1000@192.168.100.10"
    assert aor_of("sip:1000@gw") == "sip:1000@gw"


# ---------------------------------------------------------------- the driver on a socket pair


@pytest.fixture
def wired() -> Iterator[tuple[BaresipPhone, socket.socket]]:
    """The phone connected to one end; the test plays baresip on the other."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    phone = BaresipPhone(host="test", port=0, timeout_s=0.3, sock=ours)
    yield phone, theirs
    phone.close()
    theirs.close()


def sent_commands(theirs: socket.socket) -> list[dict[str, object]]:
    theirs.setblocking(False)
    try:
        data = theirs.recv(65536)
    finally:
        theirs.setblocking(True)
    return [json.loads(f) for f in NetstringDecoder().feed(data)]


def test_events_before_a_response_are_kept(wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, theirs = wired
    theirs.sendall(event("CALL_RINGING") + event("CALL_ESTABLISHED") + response("1"))
    assert phone.dial("+14255550150").ok
    assert sent_commands(theirs) == [
        {"command": "dial", "params": "+14255550150", "token": "1"}]
    established = phone.wait_established()
    assert established.ok and established.seen == ["CALL_RINGING"]
    assert phone.call_id == "c1"


def test_a_closed_call_fails_the_wait_and_is_remembered(
        wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, theirs = wired
    theirs.sendall(event("CALL_CLOSED", param="486 Busy Here"))
    result = phone.wait_established()
    assert not result.ok and "486 Busy Here" in result.describe()
    assert phone.wait_closed().ok  # the same event, already here


def test_a_wait_ends_at_its_deadline(wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, _ = wired
    result = phone.wait_closed(timeout_s=0.05)
    assert not result.ok and "no such event within 0.05 s" in result.describe()


def test_registered_already_or_on_its_event(wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, theirs = wired
    theirs.sendall(response("1", REGINFO))
    assert phone.wait_registered("sip:1000@192.168.100.10").ok
    waiting = REGINFO.replace("\x1b[32mOK \x1b[;m", "zzz")
    theirs.sendall(response("2", waiting) + frame({
        "event": True, "class": "register", "type": "REGISTER_OK",
        "accountaor": "sip:1000@192.168.100.10", "param": "200 OK"}))
    result = phone.wait_registered("sip:1000@192.168.100.10")
    assert result.ok and result.event is not None and result.event.type == "REGISTER_OK"


def test_answering_an_incoming_call(wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, theirs = wired
    theirs.sendall(event("CALL_INCOMING", "in1", direction="incoming") + response("1")
                   + event("CALL_ESTABLISHED", "in1"))
    assert phone.answer().ok and phone.call_id == "in1"
    assert [c["command"] for c in sent_commands(theirs)] == ["accept"]


def test_a_refused_command_and_a_silent_baresip(
        wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, theirs = wired
    theirs.sendall(response("1", "command not found", ok=False))
    refused = phone.hold()
    assert not refused.ok and "command not found" in refused.describe()
    with pytest.raises(BaresipError, match="waiting for the response to 'hangup'"):
        phone.hangup()


def test_baresip_going_away_is_one_clear_error(
        wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, theirs = wired
    theirs.close()
    with pytest.raises(BaresipError, match="has exited, or another client connected"):
        phone.command("reginfo")


def test_not_connected() -> None:
    with pytest.raises(BaresipError, match=r"connect\(\) first"):
        BaresipPhone().hangup()


def test_the_connection_ending_while_waiting(wired: tuple[BaresipPhone, socket.socket]) -> None:
    phone, theirs = wired
    theirs.shutdown(socket.SHUT_WR)  # baresip's side ends, as when it exits
    with pytest.raises(BaresipError, match="closed the control connection while waiting"):
        phone.wait_closed()
