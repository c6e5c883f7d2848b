"""harness.gateway.ami (the AMI protocol on byte strings, as Asterisk 22 and older Asterisk
write them) and the client's queueing and errors over a socket pair."""

from __future__ import annotations

import socket

import pytest

from harness.gateway.ami import (
    MAX_PACKET,
    AmiProtocolError,
    Banner,
    Connection,
    Event,
    Response,
)
from harness.gateway.ami_client import AmiClient, AmiConnectionError, AmiError

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = (
    b"Response: Success\r\nActionID: harness-1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 9\r\nLastReload: 9\r\n"
    b"Status: Fully Booted\r\n\r\n"
)
# Asterisk 22: one Output header per line; CLI indentation kept after "Output: "
COMMAND_22 = (
    b"Response: Success\r\nActionID: harness-2\r\nMessage: Command output follows\r\n"
    b"Output: 0 active channels\r\nOutput: 0 active calls\r\nOutput:   2 calls processed\r\n"
    b"\r\n"
)
# Asterisk 13 and before: raw output (empty lines, colons) up to --END COMMAND--
COMMAND_13 = (
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: harness-3\r\n"
    b"Name/username             Host            Dyn Port     Status\n"
    b"to_lync                   192.168.100.20      5068     OK (2 ms)\n"
    b"\n"
    b"Time: 12:00:01\n"
    b"--END COMMAND--\r\n\r\n"
)
NEWCHANNEL = (
    b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/s@gtalk-call-00000000;1\r\n"
    b"Uniqueid: 1796319117.0\r\n\r\n"
)
CHANNELS = (
    b"Response: Success\r\nActionID: harness-4\r\nEventList: start\r\n"
    b"Message: Channels will follow\r\n\r\n"
    b"Event: CoreShowChannel\r\nActionID: harness-4\r\nChannel: Local/s@gtalk-call-00000001;1\r\n"
    b"Uniqueid: 1796319126.2\r\nApplication: Wait\r\n\r\n"
    + NEWCHANNEL
    + b"Event: CoreShowChannel\r\nActionID: harness-4\r\nChannel: Local/s@gtalk-call-00000001;2\r\n"
    b"Uniqueid: 1796319126.3\r\nApplicationData: gtalk_account,sara@gmail.test,5 - Conference\r\n"
    b"\r\n"
    b"Event: CoreShowChannelsComplete\r\nActionID: harness-4\r\nEventList: Complete\r\n"
    b"ListItems: 2\r\n\r\n"
)
# Asterisk ends some error messages with a stray LF before the packet's CRLF CRLF
NO_CONTACTS = b"Response: Error\r\nActionID: harness-5\r\nMessage: No Contacts found\n\r\n\r\n"
TRANSCRIPT = BANNER + LOGIN_OK + COMMAND_22 + COMMAND_13 + CHANNELS + NO_CONTACTS


def connection() -> Connection:
    conn = Connection()
    for name in ("Login", "Command", "Command", "CoreShowChannels", "PJSIPShowContacts"):
        conn.send_action(name)
    return conn


def summary(messages: list[Banner | Response | Event]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for m in messages:
        if isinstance(m, Banner):
            out.append(("banner", m.version))
        elif isinstance(m, Event):
            out.append(("event", m.name))
        else:
            out.append(("response", m.action_id or "", m.status, str(len(m.events))))
    return out


EXPECTED = [
    ("banner", "11.0.0"),
    ("response", "harness-1", "Success", "0"),
    ("event", "FullyBooted"),
    ("response", "harness-2", "Success", "0"),
    ("response", "harness-3", "Follows", "0"),
    ("event", "Newchannel"),
    ("response", "harness-4", "Success", "2"),
    ("response", "harness-5", "Error", "0"),
]


def test_whole_transcript_in_one_piece():
    messages = connection().receive(TRANSCRIPT)
    assert summary(messages) == EXPECTED
    login, booted = messages[1], messages[2]
    assert isinstance(login, Response) and login.ok and login.action == "Login"
    assert login.message == "Authentication accepted"
    assert isinstance(booted, Event) and booted["Status"] == "Fully Booted"


def test_split_at_every_position_gives_the_same_messages():
    whole = summary(connection().receive(TRANSCRIPT))
    for cut in range(len(TRANSCRIPT) + 1):
        conn = connection()
        got = conn.receive(TRANSCRIPT[:cut]) + conn.receive(TRANSCRIPT[cut:])
        assert summary(got) == whole, f"cut at {cut}"


def test_one_byte_at_a_time():
    conn = connection()
    got: list[Banner | Response | Event] = []
    for i in range(len(TRANSCRIPT)):
        got += conn.receive(TRANSCRIPT[i : i + 1])
    assert summary(got) == EXPECTED


def test_command_output_lines_asterisk_22():
    messages = connection().receive(BANNER + LOGIN_OK + COMMAND_22)
    response = messages[-1]
    assert isinstance(response, Response) and response.action == "Command"
    assert response.output == ("0 active channels", "0 active calls", "  2 calls processed")


def test_command_output_follows_form_old_asterisk():
    messages = connection().receive(BANNER + LOGIN_OK + COMMAND_22 + COMMAND_13)
    response = messages[-1]
    assert isinstance(response, Response) and response.status == "Follows" and response.ok
    assert response.action_id == "harness-3" and response["Privilege"] == "Command"
    assert response.output == (
        "Name/username             Host            Dyn Port     Status",
        "to_lync                   192.168.100.20      5068     OK (2 ms)",
        "",
        "Time: 12:00:01",
    )


def test_follows_output_glued_to_the_marker_and_empty():
    conn = Connection()
    conn.receive(BANNER)
    glued = b"Response: Follows\r\nPrivilege: Command\r\nNo such command 'x'--END COMMAND--\r\n\r\n"
    empty = b"Response: Follows\r\nActionID: 7\r\nPrivilege: Command\r\n--END COMMAND--\r\n\r\n"
    first, second = conn.receive(glued + empty)
    assert isinstance(first, Response) and first.output == ("No such command 'x'",)
    assert isinstance(second, Response) and second.output == () and second.action_id == "7"


def test_list_response_carries_its_events_and_lets_others_through():
    messages = connection().receive(TRANSCRIPT)
    listed = messages[6]
    assert isinstance(listed, Response) and listed.action == "CoreShowChannels"
    assert [e["Uniqueid"] for e in listed.events] == ["1796319126.2", "1796319126.3"]
    assert listed.complete is not None and listed.complete["ListItems"] == "2"
    assert listed.events[1]["ApplicationData"] == "gtalk_account,sara@gmail.test,5 - Conference"
    # the unsolicited event inside the list is given out on its own, before the list
    assert isinstance(messages[5], Event) and messages[5]["Channel"].endswith(";1")


def test_two_lists_at_once():
    conn = Connection()
    conn.receive(BANNER)
    a, _ = conn.send_action("CoreShowChannels")
    b, _ = conn.send_action("PJSIPShowEndpoint", Endpoint="to_lync")
    data = (
        f"Response: Success\r\nActionID: {a}\r\nEventList: start\r\n\r\n"
        f"Response: Success\r\nActionID: {b}\r\nEventList: start\r\n\r\n"
        f"Event: EndpointDetail\r\nActionID: {b}\r\nObjectName: to_lync\r\n\r\n"
        f"Event: CoreShowChannelsComplete\r\nActionID: {a}\r\nEventList: Complete\r\n\r\n"
        f"Event: ContactStatusDetail\r\nActionID: {b}\r\nStatus: Reachable\r\n\r\n"
        f"Event: EndpointDetailComplete\r\nActionID: {b}\r\nEventList: Complete\r\n\r\n"
    ).encode()
    first, second = conn.receive(data)
    assert isinstance(first, Response) and first.action_id == a and first.events == ()
    assert isinstance(second, Response) and second.action_id == b
    assert [e.name for e in second.events] == ["EndpointDetail", "ContactStatusDetail"]


def test_stray_lf_and_blank_lines_between_packets():
    conn = Connection()
    conn.receive(BANNER)
    (response,) = conn.receive(b"\r\n" + NO_CONTACTS)
    assert isinstance(response, Response) and not response.ok
    assert response.message == "No Contacts found"


def test_send_action_bytes():
    conn = Connection()
    action_id, data = conn.send_action(
        "Originate", Channel="Local/s@gtalk-call", Variable=["A=1", "B=2"], Timeout=3000
    )
    assert action_id == "harness-1"
    assert data == (
        b"Action: Originate\r\nActionID: harness-1\r\nChannel: Local/s@gtalk-call\r\n"
        b"Variable: A=1\r\nVariable: B=2\r\nTimeout: 3000\r\n\r\n"
    )
    assert conn.send_action("Ping")[0] == "harness-2"
    assert conn.send_action("Ping", ActionID="mine")[0] == "mine"


def test_keys_are_case_insensitive_and_values_keep_their_spaces():
    conn = Connection()
    conn.receive(BANNER)
    (event,) = conn.receive(b"Event: X\r\nSystemName: \r\nData:  two spaces\r\n\r\n")
    assert isinstance(event, Event)
    assert event.get("systemname") == "" and event["DATA"] == " two spaces"
    assert "Data" in event and "Nope" not in event
    with pytest.raises(KeyError, match="no 'Nope' field"):
        event["Nope"]


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not an Asterisk manager"),
        (b"HTTP/1.1 400 Bad Request\r\n", "not an Asterisk manager"),
        # a foreign banner is refused as soon as its first bytes disagree
        (b"SSH", "not an Asterisk manager"),
        (BANNER + b"Response: Success\r\ngarbage without colon\r\n\r\n", "is not 'Key: Value'"),
        (BANNER + b"\x00\x01\x02\r\n\r\n", "is not 'Key: Value'"),
        (BANNER + b"Foo: bar\r\n\r\n", "neither Response nor Event"),
        (BANNER + b"Response: Follows\r\nx\n--END COMMAND--\r\nEvent: Y\r\n\r\n",
         "not followed by an empty line"),
    ],
)
def test_garbage_raises_one_named_error(data, problem):
    conn = Connection()
    with pytest.raises(AmiProtocolError, match=problem):
        conn.receive(data)
    # the stream is out of step for good
    with pytest.raises(AmiProtocolError, match=problem):
        conn.receive(b"Event: X\r\n\r\n")


def test_endless_packet_is_refused():
    conn = Connection()
    conn.receive(BANNER)
    with pytest.raises(AmiProtocolError, match="without the end of an AMI packet"):
        conn.receive(b"Event: X\r\nData: " + b"x" * MAX_PACKET)


def test_action_fields_must_be_single_lines():
    with pytest.raises(AmiProtocolError, match="line break"):
        Connection().send_action("Command", Command="core show version\r\nAction: Logoff")
    with pytest.raises(AmiProtocolError, match="line break"):
        Connection().send_action("Ping\r\n")


def test_response_text_for_reports():
    listed = connection().receive(TRANSCRIPT)[6]
    assert isinstance(listed, Response)
    text = listed.text()
    assert text.startswith("Response: Success\nActionID: harness-4")
    assert "Event: CoreShowChannelsComplete" in text and "\r" not in text


# -- the client over a socket pair -------------------------------------------------------


def client_pair() -> tuple[AmiClient, socket.socket]:
    ours, theirs = socket.socketpair()
    conn = Connection()
    conn.receive(BANNER)
    return AmiClient(ours, "test", 5038, 1.0, Banner("11.0.0"), conn), theirs


def test_events_before_a_response_are_queued_not_lost():
    client, server = client_pair()
    server.sendall(
        NEWCHANNEL
        + b"Event: Hangup\r\nUniqueid: 1796319117.0\r\n\r\n"
        + b"Response: Success\r\nActionID: harness-1\r\nPing: Pong\r\n\r\n"
    )
    assert client.action("Ping")["Ping"] == "Pong"
    hangup = client.wait_for(lambda e: e.name == "Hangup", 0.5)
    assert hangup is not None and hangup["Uniqueid"] == "1796319117.0"
    # wait_for consumed the Newchannel it passed over
    assert client.drain_events() == []
    assert client.wait_for(lambda e: True, 0.05) is None
    client.close()
    server.close()


def test_command_error_and_closed_connection():
    client, server = client_pair()
    server.sendall(
        b"Response: Error\r\nActionID: harness-1\r\nMessage: Command output follows\r\n"
        b"Output: No such command 'bogus'\r\n\r\n"
    )
    with pytest.raises(AmiError, match="refused the CLI command 'bogus': No such command"):
        client.command("bogus")
    server.close()
    # a closed peer shows as a failed send or as end of stream, depending on the socket
    with pytest.raises(AmiConnectionError, match="test:5038: .*(closed the connection|pipe)"):
        client.action("Ping")
    with pytest.raises(AmiConnectionError, match="is closed"):
        client.action("Ping")


def test_no_answer_in_time_and_a_late_answer_is_dropped():
    client, server = client_pair()
    client.timeout = 0.05
    with pytest.raises(AmiConnectionError, match="did not answer Ping within 0.05 s"):
        client.action("Ping")
    server.sendall(
        b"Response: Success\r\nActionID: harness-1\r\n\r\n"
        b"Response: Success\r\nActionID: harness-2\r\nPing: Pong\r\n\r\n"
    )
    client.timeout = 1.0
    assert client.action("Ping")["Ping"] == "Pong"
    client.close()
    server.close()


def test_no_ami_at_a_closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AmiConnectionError) as info:
        AmiClient.connect("127.0.0.1", port, "harness", "x", timeout=1)
    assert str(info.value).startswith(
        f"no AMI at 127.0.0.1:{port}: is the gateway up and manager.conf enabled/bound there?"
    )


def test_no_banner_in_time():
    with socket.socket() as listener:  # the kernel accepts; nobody speaks
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(AmiConnectionError, match="no banner within 0.2 s"):
            AmiClient.connect("127.0.0.1", port, "harness", "x", timeout=0.2)
