"""Session descriptions (RFC 4566) with the offer/answer helpers the checks need.

``SessionDescription.parse(text).serialize()`` gives back the parsed text exactly while
nothing was changed; after a change the text is rebuilt in RFC 4566 order with CRLF line
ends. Attributes are ``(name, value)`` tuples, ``value`` None for a flag (``a=sendrecv``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from harness.sip.errors import SdpParseError
from harness.sip.sdp_fields import (
    DIRECTIONS,
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Connection,
    Origin,
    Timing,
    direction_attrs,
    format_attr,
    get_attr,
    has_attr,
)
from harness.sip.sdp_media import MediaDescription


def _default_origin() -> Origin:
    return Origin("-", "0", 0)


@dataclass
class SessionDescription:
    version: int = 0
    origin: Origin = field(default_factory=_default_origin)
    session_name: str = "-"
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    information: str | None = None  # i=
    uri: str | None = None  # u=
    emails: list[str] = field(default_factory=list)  # e=
    phones: list[str] = field(default_factory=list)  # p=
    more_timing: list[Timing] = field(default_factory=list)  # further t= lines
    time_zones: str | None = None  # z=
    key: str | None = None  # k=
    raw: str | None = field(default=None, compare=False, repr=False)
    _snapshot: list[str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.adopt_media()

    def adopt_media(self) -> None:
        """Point every media section at this session (done by parse and __init__; call
        it after appending MediaDescription objects yourself)."""
        for m in self.media:
            m.session = self

    # -- attributes ------------------------------------------------------------------
    def get_attribute(self, name: str) -> str | None:
        return get_attr(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        return has_attr(self.attributes, name)

    @property
    def direction(self) -> str:
        """Session-level direction attribute, else ``sendrecv``."""
        found = direction_attrs(self.attributes)
        return found[0] if found else "sendrecv"

    def media_of(self, kind: str) -> list[MediaDescription]:
        return [m for m in self.media if m.media == kind]

    @property
    def audio(self) -> MediaDescription | None:
        found = self.media_of("audio")
        return found[0] if found else None

    def copy(self) -> SessionDescription:
        new = copy.deepcopy(self)
        new.adopt_media()
        return new

    # -- serialising -----------------------------------------------------------------
    def lines(self) -> list[str]:
        self.adopt_media()
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        if self.uri is not None:
            out.append(f"u={self.uri}")
        out.extend(f"e={e}" for e in self.emails)
        out.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={t}:{v}" for t, v in self.bandwidths)
        for t in [self.timing, *self.more_timing]:
            out.append(f"t={t.start} {t.stop}")
            out.extend(f"r={r}" for r in t.repeats)
        if self.time_zones is not None:
            out.append(f"z={self.time_zones}")
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(format_attr(a) for a in self.attributes)
        for m in self.media:
            out.extend(m.lines())
        return out

    def serialize(self) -> str:
        """The SDP text: the parsed text if unchanged, else rebuilt with CRLF line ends."""
        lines = self.lines()
        if self.raw is not None and self._snapshot == lines:
            return self.raw
        return "\r\n".join(lines) + "\r\n"

    def __str__(self) -> str:
        return self.serialize()

    def __bytes__(self) -> bytes:
        return self.serialize().encode("utf-8", "surrogateescape")

    # -- parsing ---------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes | str, *, strict: bool = True) -> SessionDescription:
        """Parse SDP text (CRLF or LF line ends).

        ``strict`` (default) also enforces what RFC 4566 requires beyond the line syntax:
        known line types, no empty lines, exactly one ``o=`` and ``s=``, at least one
        ``t=``, a ``c=`` at session level or in every media section, at least one format
        per ``m=`` line. Raises SdpParseError with a ``line N:`` reason.
        """
        text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
        parser = _Parser(strict)
        sdp = parser.run(text)
        sdp.raw = text
        sdp._snapshot = sdp.lines()
        return sdp


_SESSION_TYPES = "vosiuepcbtrzka"
_MEDIA_TYPES = "icbka"


class _Parser:
    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def fail(self, lineno: int, reason: str) -> SdpParseError:
        return SdpParseError(f"line {lineno}: {reason}", line=lineno)

    def run(self, text: str) -> SessionDescription:
        raw_lines = text.split("\n")
        if raw_lines and raw_lines[-1] == "":
            raw_lines.pop()
        lines: list[tuple[int, str]] = []
        for i, line in enumerate(raw_lines, 1):
            line = line.removesuffix("\r")
            if not line:
                if self.strict and any(rest.strip("\r") for rest in raw_lines[i:]):
                    raise self.fail(i, "empty line inside the session description")
                continue
            lines.append((i, line))
        if not lines:
            raise SdpParseError("empty session description")

        version: int | None = None
        origin: Origin | None = None
        session_name: str | None = None
        info = uri = zones = key = None
        connection: Connection | None = None
        bandwidths: list[tuple[str, int]] = []
        timings: list[Timing] = []
        attributes: list[Attribute] = []
        emails: list[str] = []
        phones: list[str] = []
        media: list[MediaDescription] = []
        counts = {"o": 0, "s": 0}

        for idx, (lineno, line) in enumerate(lines):
            if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
                raise self.fail(lineno, f"{line[:40]!r} is not 'x=value'")
            kind, value = line[0], line[2:]
            if idx == 0:
                if kind != "v":
                    raise self.fail(lineno, "the first line must be v=")
                if value != "0":
                    raise self.fail(lineno, f"unsupported SDP version {value!r} (expected 0)")
                version = 0
                continue
            if kind == "v":
                raise self.fail(lineno, "second v= line")
            if kind == "m":
                media.append(self.media_line(lineno, value))
                continue
            if media:
                m = media[-1]
                if kind not in _MEDIA_TYPES:
                    if self.strict:
                        raise self.fail(lineno, f"{kind}= line is not allowed in a media section")
                    continue
                if kind == "a":
                    m.attributes.append(self.attribute(value))
                elif kind == "c":
                    conn = self.connection_line(lineno, value)
                    if m.connection is None:
                        m.connection = conn
                    else:
                        m.extra_connections.append(conn)
                elif kind == "b":
                    m.bandwidths.append(self.bandwidth(lineno, value))
                elif kind == "i":
                    m.title = value
                elif kind == "k":
                    m.key = value
                continue
            if kind not in _SESSION_TYPES:
                if self.strict:
                    raise self.fail(lineno, f"unknown line type {kind}=")
                continue
            if kind == "o":
                counts["o"] += 1
                if counts["o"] > 1:
                    raise self.fail(lineno, "second o= line")
                origin = self.origin_line(lineno, value)
            elif kind == "s":
                counts["s"] += 1
                if counts["s"] > 1 and self.strict:
                    raise self.fail(lineno, "second s= line")
                session_name = value
            elif kind == "c":
                if connection is not None and self.strict:
                    raise self.fail(lineno, "second session-level c= line")
                connection = self.connection_line(lineno, value)
            elif kind == "b":
                bandwidths.append(self.bandwidth(lineno, value))
            elif kind == "t":
                timings.append(self.timing_line(lineno, value))
            elif kind == "r":
                if not timings:
                    raise self.fail(lineno, "r= line before any t= line")
                timings[-1].repeats.append(value)
            elif kind == "a":
                attributes.append(self.attribute(value))
            elif kind == "i":
                info = value
            elif kind == "u":
                uri = value
            elif kind == "e":
                emails.append(value)
            elif kind == "p":
                phones.append(value)
            elif kind == "z":
                zones = value
            elif kind == "k":
                key = value

        if origin is None:
            raise SdpParseError("missing o= line")
        if session_name is None:
            if self.strict:
                raise SdpParseError("missing s= line")
            session_name = ""
        if not timings:
            if self.strict:
                raise SdpParseError("missing t= line")
            timings.append(Timing())
        if self.strict and connection is None:
            for m in media:
                if m.connection is None:
                    raise SdpParseError(
                        f"m={m.media} {m.port} has no c= line and the session has none"
                    )
        assert version is not None
        return SessionDescription(
            origin=origin,
            session_name=session_name,
            connection=connection,
            bandwidths=bandwidths,
            timing=timings[0],
            attributes=attributes,
            media=media,
            version=version,
            information=info,
            uri=uri,
            emails=emails,
            phones=phones,
            more_timing=timings[1:],
            time_zones=zones,
            key=key,
        )

    def origin_line(self, lineno: int, value: str) -> Origin:
        parts = value.split(" ")
        if len(parts) != 6 or not all(parts):
            raise self.fail(
                lineno,
                f"o={value!r} must have 6 fields: username sess-id sess-version "
                "nettype addrtype address",
            )
        if not parts[2].isdigit():
            raise self.fail(lineno, f"o= session version {parts[2]!r} is not a number")
        if not parts[1].isdigit() and self.strict:
            raise self.fail(lineno, f"o= session id {parts[1]!r} is not a number")
        return Origin(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])

    def connection_line(self, lineno: int, value: str) -> Connection:
        parts = value.split(" ")
        if len(parts) != 3 or not all(parts):
            raise self.fail(lineno, f"c={value!r} must be 'nettype addrtype address'")
        return Connection(*parts)

    def bandwidth(self, lineno: int, value: str) -> tuple[str, int]:
        bwtype, sep, amount = value.partition(":")
        if not sep or not bwtype or not amount.isdigit():
            raise self.fail(lineno, f"b={value!r} must be 'type:number'")
        return bwtype, int(amount)

    def timing_line(self, lineno: int, value: str) -> Timing:
        parts = value.split(" ")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise self.fail(lineno, f"t={value!r} must be 'start stop' (numbers)")
        return Timing(int(parts[0]), int(parts[1]))

    def attribute(self, value: str) -> Attribute:
        name, sep, rest = value.partition(":")
        return (name, rest if sep else None)

    def media_line(self, lineno: int, value: str) -> MediaDescription:
        parts = value.split(" ")
        if len(parts) < 3 or not all(parts):
            raise self.fail(lineno, f"m={value!r} must be 'media port proto fmt ...'")
        if len(parts) < 4 and self.strict:
            raise self.fail(lineno, f"m={value!r} has no format")
        port_text, _, count_text = parts[1].partition("/")
        if not port_text.isdigit() or int(port_text) > 65535:
            raise self.fail(lineno, f"m= port {parts[1]!r} is not 0..65535")
        count = None
        if count_text:
            if not count_text.isdigit():
                raise self.fail(lineno, f"m= port count {count_text!r} is not a number")
            count = int(count_text)
        return MediaDescription(
            media=parts[0],
            port=int(port_text),
            proto=parts[2],
            formats=parts[3:],
            port_count=count,
        )


__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Connection",
    "MediaDescription",
    "Origin",
    "SdpParseError",
    "SessionDescription",
    "Timing",
]
