"""harness.sip.sdp: RFC 4566 parse/serialise round trip and the offer/answer helpers."""

from __future__ import annotations

import pytest

from harness.sip import (
    Connection,
    MediaDescription,
    Origin,
    SdpParseError,
    SessionDescription,
    SipParseError,
    parse_message,
)
from harness.sip.sdp import Timing
from tests.support.sip_samples import seed


def sdp_of(name: str) -> SessionDescription:
    sdp = parse_message(seed(name)).sdp()
    assert sdp is not None
    return sdp


def test_asterisk_offer_from_the_seed():
    sdp = sdp_of("01")
    assert sdp.version == 0
    assert sdp.origin == Origin("root", "304001039", 304001039, "IN", "IP4", "192.168.100.10")
    assert sdp.session_name == "Asterisk PBX 1.6.2.7"
    assert sdp.connection == Connection("IN", "IP4", "192.168.100.10")
    assert (sdp.timing.start, sdp.timing.stop) == (0, 0)
    audio = sdp.audio
    assert audio is not None and audio is sdp.media[0]
    assert (audio.media, audio.port, audio.proto) == ("audio", 11954, "RTP/AVP")
    assert audio.payload_types == [0, 3, 8, 101]
    assert audio.rtpmap()[101] == ("telephone-event", 8000, 1)
    assert audio.fmtp() == {101: "0-16"}
    assert audio.ptime == 20
    assert audio.direction == "sendrecv"
    assert audio.rtcp_port == 11955
    assert audio.effective_connection == sdp.connection
    assert ("silenceSupp", "off - - - -") in audio.attributes


def test_lync_answer_and_hold_from_the_seed():
    answer = sdp_of("05")
    audio = answer.media[0]
    assert answer.bandwidths == [("CT", 1000)]
    assert audio.connection == Connection("IN", "IP4", "192.168.100.21")
    assert audio.rtcp_port == 62603
    assert audio.get_attribute("label") == "Audio"
    assert audio.direction == "sendrecv"  # no attribute at all
    hold = sdp_of("07")
    assert hold.origin.sess_version == answer.origin.sess_version + 2
    assert hold.media[0].direction == "inactive"  # MS-SDPEXT: Lync holds with a=inactive
    assert sdp_of("08").media[0].direction == "sendrecv"


@pytest.mark.parametrize("name", ["01", "05", "07", "08"])
def test_seed_sdp_round_trips_and_rebuilds_identically(name):
    body = parse_message(seed(name)).body
    sdp = SessionDescription.parse(body)
    assert sdp.serialize().encode() == body
    # the seed bodies are in RFC 4566 order with CRLF, so a rebuild is identical too
    sdp.raw = None
    assert sdp.serialize().encode() == body
    assert bytes(sdp) == body


def test_change_rebuilds_and_copy_is_independent():
    sdp = sdp_of("05")
    held = sdp.copy()
    held.origin.sess_version += 1
    held.media[0].attributes.append(("inactive", None))
    text = held.serialize()
    assert "o=- 8 2 IN IP4 192.168.100.21\r\n" in text
    assert text.endswith("a=ptime:20\r\na=inactive\r\n")
    assert held.media[0].direction == "inactive"
    assert sdp.media[0].direction == "sendrecv"
    assert sdp.serialize() == sdp.raw


def test_session_level_direction_and_ptime_fall_back():
    sdp = SessionDescription.parse(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        "a=sendonly\na=ptime:30\nm=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 8\na=recvonly\n"
    )
    assert sdp.direction == "sendonly"
    assert [m.direction for m in sdp.media] == ["sendonly", "recvonly"]
    assert [m.ptime for m in sdp.media] == [30, 30]


def test_build_from_scratch():
    audio = MediaDescription(
        "audio",
        40000,
        "RTP/AVP",
        ["0", "101"],
        attributes=[
            ("rtpmap", "0 PCMU/8000"),
            ("rtpmap", "101 telephone-event/8000"),
            ("sendrecv", None),
        ],
    )
    sdp = SessionDescription(
        0,
        Origin("-", "8", 1, "IN", "IP4", "192.168.100.20"),
        "session",
        Connection("IN", "IP4", "192.168.100.20"),
        [("CT", 1000)],
        Timing(0, 0),
        [],
        [audio],
    )
    text = sdp.serialize()
    assert text == (
        "v=0\r\no=- 8 1 IN IP4 192.168.100.20\r\ns=session\r\nc=IN IP4 192.168.100.20\r\n"
        "b=CT:1000\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
    assert audio.session is sdp
    assert SessionDescription.parse(text) == sdp


def test_all_line_types_round_trip():
    text = (
        "v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\r\n"
        "i=A Seminar on the session description protocol\r\nu=http://www.example.com/seminars/sdp.pdf\r\n"
        "e=j.doe@example.com (Jane Doe)\r\np=+1 617 555-6011\r\nc=IN IP4 224.2.17.12/127\r\n"
        "b=AS:256\r\nt=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nt=0 0\r\n"
        "z=2882844526 -1h 2898848070 0\r\nk=prompt\r\na=recvonly\r\n"
        "m=audio 49170/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 224.2.17.12/127\r\n"
        "c=IN IP4 224.2.17.13/127\r\nb=AS:64\r\nk=prompt\r\na=rtcp-mux\r\n"
        "m=video 51372 RTP/AVP 99\r\na=rtpmap:99 h263-1998/90000\r\n"
    )
    sdp = SessionDescription.parse(text)
    assert sdp.serialize() == text
    sdp.raw = None
    assert sdp.serialize() == text
    audio, video = sdp.media
    assert audio.port_count == 2 and audio.title == "voice" and len(audio.extra_connections) == 1
    assert audio.rtcp_port == 49170  # rtcp-mux
    assert sdp.timing.repeats == ["7d 1h 0 25h"] and len(sdp.more_timing) == 1
    assert video.codecs() == [(99, "h263-1998", 90000, 1)]


def test_codecs_use_static_payload_types():
    sdp = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 a\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 8 18 9 96\r\na=rtpmap:96 opus/48000/2\r\n"
    )
    assert sdp.media[0].codecs() == [
        (0, "PCMU", 8000, 1),
        (8, "PCMA", 8000, 1),
        (18, "G729", 8000, 1),
        (9, "G722", 8000, 1),
        (96, "opus", 48000, 2),
    ]


def test_lf_only_text_is_accepted_and_kept():
    text = "v=0\no=- 1 1 IN IP4 a\ns=-\nc=IN IP4 a\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
    sdp = SessionDescription.parse(text)
    assert sdp.serialize() == text
    sdp.media[0].port = 4002
    assert sdp.serialize() == text.replace("\n", "\r\n").replace("4000", "4002")


BASE = [
    "v=0",
    "o=- 1 1 IN IP4 192.0.2.1",
    "s=-",
    "c=IN IP4 192.0.2.1",
    "t=0 0",
    "m=audio 4000 RTP/AVP 0",
]


def with_lines(*changes: tuple[int, str | None]) -> str:
    lines = list(BASE)
    for index, line in sorted(changes, key=lambda c: -c[0]):
        if line is None:
            del lines[index]
        else:
            lines.insert(index, line)
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty session description"),
        ("o=- 1 1 IN IP4 a\r\n", "line 1: the first line must be v="),
        ("v=1\r\n", "line 1: unsupported SDP version '1' (expected 0)"),
        (with_lines((1, None)), "missing o= line"),
        (with_lines((2, None)), "missing s= line"),
        (with_lines((4, None)), "missing t= line"),
        (with_lines((3, None)), "m=audio 4000 has no c= line and the session has none"),
        (with_lines((2, "o=- 1 1 IN IP4 b")), "line 3: second o= line"),
        (with_lines((2, "v=0")), "line 3: second v= line"),
        (
            with_lines((1, None), (1, "o=- 1 IN IP4 a")),
            "line 2: o='- 1 IN IP4 a' must have 6 fields",
        ),
        (
            with_lines((1, None), (1, "o=- 1 x IN IP4 a")),
            "line 2: o= session version 'x' is not a number",
        ),
        (
            with_lines((3, None), (3, "c=IN IP4")),
            "line 4: c='IN IP4' must be 'nettype addrtype address'",
        ),
        (with_lines((4, "b=CT")), "line 5: b='CT' must be 'type:number'"),
        (with_lines((4, None), (4, "t=0")), "line 5: t='0' must be 'start stop' (numbers)"),
        (with_lines((5, None), (5, "m=audio x RTP/AVP 0")), "line 6: m= port 'x' is not 0..65535"),
        (
            with_lines((5, None), (5, "m=audio 4000 RTP/AVP")),
            "line 6: m='audio 4000 RTP/AVP' has no format",
        ),
        (
            with_lines((5, None), (5, "m=audio 4000")),
            "line 6: m='audio 4000' must be 'media port proto fmt ...'",
        ),
        (with_lines((2, "x=unknown")), "line 3: unknown line type x="),
        (with_lines((6, "t=0 0")), "line 7: t= line is not allowed in a media section"),
        (with_lines((3, "")), "line 4: empty line inside the session description"),
        (with_lines((3, "a = b")), "line 4: 'a = b' is not 'x=value'"),
        (with_lines((4, "r=1d 1h 0")), "line 5: r= line before any t= line"),
    ],
)
def test_sdp_errors(text, reason):
    with pytest.raises(SdpParseError) as info:
        SessionDescription.parse(text)
    assert info.value.reason.startswith(reason)
    assert isinstance(info.value, SipParseError)


def test_non_strict_tolerates_what_real_devices_send():
    text = with_lines((4, None), (3, None), (2, "x=vendor"))
    with pytest.raises(SdpParseError):
        SessionDescription.parse(text)
    sdp = SessionDescription.parse(text, strict=False)
    assert sdp.media[0].effective_connection is None
    assert sdp.serialize() == text


@pytest.mark.parametrize(
    ("attribute", "helper", "reason"),
    [
        ("a=rtpmap:31 LPC", "rtpmap", "bad a=rtpmap:31 LPC"),
        ("a=rtpmap:x PCMU/8000", "rtpmap", "bad a=rtpmap:x"),
        ("a=fmtp:x 0-15", "fmtp", "bad a=fmtp:x 0-15"),
        ("a=ptime:abc", "ptime", "bad a=ptime:abc"),
        ("a=ptime:20.5", "ptime", "is not a positive integer"),
        ("a=rtcp:abc", "rtcp_port", "bad a=rtcp:abc"),
    ],
)
def test_helper_errors(attribute, helper, reason):
    media = SessionDescription.parse(with_lines((6, attribute))).media[0]
    with pytest.raises(SdpParseError) as info:
        value = getattr(media, helper)
        if callable(value):
            value()
    assert reason in info.value.reason


def test_ptime_decimal_integer_and_rtcp_with_address():
    media = SessionDescription.parse(
        with_lines((6, "a=ptime:20.0"), (6, "a=rtcp:53020 IN IP4 126.16.64.4"))
    ).media[0]
    assert media.ptime == 20
    assert media.rtcp_port == 53020


def test_payload_types_rejects_non_rtp_formats():
    media = SessionDescription.parse(
        with_lines((5, None), (5, "m=application 9 UDP/BFCP *"))
    ).media[0]
    with pytest.raises(SdpParseError):
        _ = media.payload_types


def test_hold_address():
    sdp = SessionDescription.parse(with_lines((3, None), (3, "c=IN IP4 0.0.0.0")))
    assert sdp.connection is not None and sdp.connection.is_hold_address
