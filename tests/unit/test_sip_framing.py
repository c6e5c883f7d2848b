"""harness.sip.framing: SIP over TCP cut into whole messages by Content-Length."""

from __future__ import annotations

import random

import pytest

from harness.sip import SipParseError, StreamFramer, parse_message
from harness.sip.framing import split_stream
from tests.support.sip_samples import LYNC_LEG, OPTIONS, seed

STREAM_PARTS = [seed(name) for name in LYNC_LEG]
STREAM = b"".join(STREAM_PARTS)


def test_whole_stream_in_one_feed():
    framer = StreamFramer()
    assert framer.feed(STREAM) == STREAM_PARTS
    assert framer.messages == 9 and framer.consumed == len(STREAM)
    assert framer.buffered == b""
    framer.close()


@pytest.mark.parametrize("seed_value", range(5))
def test_any_chunking_gives_the_same_messages(seed_value):
    rng = random.Random(seed_value)
    framer = StreamFramer()
    out: list[bytes] = []
    pos = 0
    while pos < len(STREAM):
        step = rng.randint(1, 300)
        out.extend(framer.feed(STREAM[pos : pos + step]))
        pos += step
    assert out == STREAM_PARTS
    assert [parse_message(m).serialize() for m in out] == STREAM_PARTS


def test_byte_by_byte():
    framer = StreamFramer()
    out = [m for i in range(len(STREAM)) for m in framer.feed(STREAM[i : i + 1])]
    assert out == STREAM_PARTS


def test_keepalives_are_skipped_and_counted():
    data = b"\r\n\r\n" + OPTIONS + b"\r\n" + OPTIONS + b"\r\n\r\n"
    framer = StreamFramer()
    assert framer.feed(data) == [OPTIONS, OPTIONS]
    assert framer.keepalives == 5
    framer.close()
    # a lone CR at the end waits for its LF
    framer = StreamFramer()
    assert framer.feed(OPTIONS + b"\r") == [OPTIONS]
    assert framer.feed(b"\n") == []
    framer.close()


def test_partial_message_is_kept_until_complete():
    invite = seed("01")
    framer = StreamFramer()
    assert framer.feed(invite[:-10]) == []
    assert framer.buffered == invite[:-10]
    with pytest.raises(SipParseError, match="stream ended inside a message"):
        framer.close()
    assert framer.feed(invite[-10:]) == [invite]


def test_lf_only_header_end_and_compact_content_length():
    msg = b"OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nl:  4\n\nbody"
    assert StreamFramer().feed(msg + msg) == [msg, msg]


def test_folded_content_length():
    msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 4\r\n\r\nbody"
    assert StreamFramer().feed(msg) == [msg]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            OPTIONS.replace(b"Content-Length: 0\r\n", b""),
            "header block has no Content-Length (mandatory over TCP)",
        ),
        (OPTIONS.replace(b"Content-Length: 0", b"Content-Length: -1"), "bad Content-Length '-1'"),
        (
            OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 5"),
            "header block has conflicting Content-Length values (0, 5)",
        ),
    ],
)
def test_unframeable_streams_raise_and_stay_broken(data, reason):
    framer = StreamFramer()
    with pytest.raises(SipParseError) as info:
        framer.feed(data)
    assert info.value.reason == reason
    assert framer.broken
    with pytest.raises(SipParseError):
        framer.feed(OPTIONS)
    with pytest.raises(SipParseError):
        framer.close()


def test_size_limits():
    framer = StreamFramer(max_header_size=100)
    with pytest.raises(SipParseError, match="header block longer than 100 bytes"):
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X-Pad: " + b"a" * 200)
    framer = StreamFramer(max_header_size=100)
    with pytest.raises(SipParseError, match=r"header block of \d+ bytes exceeds 100"):
        framer.feed(OPTIONS)
    framer = StreamFramer(max_message_size=1000)
    with pytest.raises(
        SipParseError, match=f"message of {len(OPTIONS) + 3 + 1000} bytes exceeds 1000"
    ):
        framer.feed(OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 1000"))


def test_split_stream():
    assert split_stream(STREAM) == STREAM_PARTS
    with pytest.raises(SipParseError):
        split_stream(STREAM[:-1])


def test_messages_before_a_break_are_returned_then_the_error_is_raised():
    bad = OPTIONS.replace(b"Content-Length: 0\r\n", b"")
    framer = StreamFramer()
    assert framer.feed(OPTIONS + bad) == [OPTIONS]
    assert framer.broken
    assert framer.buffered == bad
    with pytest.raises(SipParseError, match="no Content-Length"):
        framer.feed(b"")
    with pytest.raises(SipParseError, match="no Content-Length"):
        framer.close()
