"""Cutting a SIP-over-TCP byte stream into whole messages (RFC 3261 section 18.3).

Bytes in, whole messages out; no I/O. Over a stream, Content-Length is mandatory: a header
block without one (or with a malformed one) cannot be framed, and the framer raises
SipParseError and stays broken (every later ``feed`` raises the same error), because the
position of the next message is lost. CRLF keep-alives (RFC 5626 section 3.5.1 pings
``CRLFCRLF`` and pongs ``CRLF``) between messages are skipped and counted.
"""

from __future__ import annotations

import re

from harness.sip.errors import SipParseError

DEFAULT_MAX_HEADER_SIZE = 64 * 1024
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"(?:content-length|l)[ \t]*:", re.IGNORECASE)


def _content_length(head: bytes) -> int:
    """The Content-Length of a header block (start line included, folding allowed)."""
    # Unfold: a line starting with SP/HT continues the previous one.
    text = re.sub(rb"\r?\n[ \t]+", b" ", head)
    found: list[bytes] = []
    for line in re.split(rb"\r?\n", text)[1:]:
        m = _CONTENT_LENGTH.match(line)
        if m:
            found.append(line[m.end() :].strip(b" \t"))
    if not found:
        raise SipParseError("header block has no Content-Length (mandatory over TCP)")
    if len(set(found)) > 1:
        shown = ", ".join(v.decode("latin-1") for v in found)
        raise SipParseError(f"header block has conflicting Content-Length values ({shown})")
    value = found[0]
    if not value.isdigit():
        raise SipParseError(f"bad Content-Length {value.decode('latin-1')!r}")
    return int(value)


class StreamFramer:
    """Feed stream bytes in any chunking; get whole messages (header block and body,
    ready for :func:`harness.sip.message.parse_message`)."""

    def __init__(
        self,
        *,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.max_header_size = max_header_size
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._error: SipParseError | None = None
        #: CRLF (or bare LF) sequences skipped between messages
        self.keepalives = 0
        #: bytes handed out as messages or skipped as keep-alives
        self.consumed = 0
        #: whole messages handed out so far
        self.messages = 0

    @property
    def buffered(self) -> bytes:
        """Bytes received but not yet part of a whole message."""
        return bytes(self._buffer)

    @property
    def broken(self) -> bool:
        return self._error is not None

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add bytes; return every message that is now complete, in order.

        When the stream breaks after some messages of this call were complete, those
        messages are returned and the error is raised by the next ``feed`` or ``close``.
        """
        if self._error is not None:
            raise self._error
        self._buffer += data
        out: list[bytes] = []
        try:
            self._extract(out)
        except SipParseError:
            if not out:
                raise
        return out

    def _extract(self, out: list[bytes]) -> None:
        buf = self._buffer
        while True:
            skip = 0
            while skip < len(buf):
                if buf[skip : skip + 2] == b"\r\n":
                    skip += 2
                elif buf[skip] == 0x0A:
                    skip += 1
                else:
                    break
                self.keepalives += 1
            if skip:
                del buf[:skip]
                self.consumed += skip
            if not buf or buf == b"\r":
                break
            m = _HEADER_END.search(buf)
            if m is None:
                if len(buf) > self.max_header_size:
                    raise self._fail(
                        f"header block longer than {self.max_header_size} bytes "
                        "without an empty line"
                    )
                break
            if m.end() > self.max_header_size:
                raise self._fail(f"header block of {m.end()} bytes exceeds {self.max_header_size}")
            try:
                length = _content_length(bytes(buf[: m.start()]))
            except SipParseError as exc:
                raise self._fail(exc.reason) from None
            total = m.end() + length
            if total > self.max_message_size:
                raise self._fail(f"message of {total} bytes exceeds {self.max_message_size}")
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
            self.consumed += total
            self.messages += 1

    def close(self) -> None:
        """Declare the end of the stream: SipParseError if a partial message is pending."""
        if self._error is not None:
            raise self._error
        if self._buffer.strip(b"\r\n"):
            raise SipParseError(
                f"stream ended inside a message ({len(self._buffer)} bytes pending)"
            )

    def _fail(self, reason: str) -> SipParseError:
        self._error = SipParseError(reason)
        return self._error


def split_stream(data: bytes, **limits: int) -> list[bytes]:
    """Every message of a complete stream capture; SipParseError if it ends mid-message."""
    framer = StreamFramer(**limits)
    messages = framer.feed(data)
    framer.close()
    return messages


__all__ = ["StreamFramer", "split_stream"]
