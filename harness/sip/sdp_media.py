"""One SDP media section (``m=`` and the lines under it) with the offer/answer helpers:
payload types, rtpmap/fmtp, ptime, direction, RTCP port."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from harness.sip.errors import SdpParseError
from harness.sip.sdp_fields import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Connection,
    direction_attrs,
    format_attr,
    get_attr,
    has_attr,
)


class SessionLevel(Protocol):
    """What a media section falls back to: the session's c= line and attributes."""

    connection: Connection | None

    @property
    def direction(self) -> str: ...

    def get_attribute(self, name: str) -> str | None: ...


@dataclass
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    port_count: int | None = None
    title: str | None = None  # i=
    key: str | None = None  # k=
    extra_connections: list[Connection] = field(default_factory=list)
    #: set by SessionDescription so that ``direction`` and ``ptime`` can fall back
    #: to session-level attributes
    session: SessionLevel | None = field(default=None, compare=False, repr=False)

    # -- attributes ------------------------------------------------------------------
    def get_attribute(self, name: str) -> str | None:
        """Value of the first ``a=name[:value]`` (None if absent or a flag)."""
        return get_attr(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        return has_attr(self.attributes, name)

    def attribute_values(self, name: str) -> list[str | None]:
        return [v for k, v in self.attributes if k == name]

    # -- offer/answer helpers --------------------------------------------------------
    @property
    def payload_types(self) -> list[int]:
        """Formats as integers (RTP media); SdpParseError if one is not a number."""
        out = []
        for fmt in self.formats:
            if not fmt.isdigit() or int(fmt) > 127:
                raise SdpParseError(f"m={self.media}: format {fmt!r} is not an RTP payload type")
            out.append(int(fmt))
        return out

    def rtpmap(self) -> dict[int, tuple[str, int, int]]:
        """``a=rtpmap`` lines: pt -> (encoding, clock rate, channels; 1 when not given).
        Only explicit lines; see :meth:`codecs` for static payload types."""
        out: dict[int, tuple[str, int, int]] = {}
        for value in self.attribute_values("rtpmap"):
            pt_text, _, rest = (value or "").strip().partition(" ")
            parts = rest.strip().split("/")
            if (
                not pt_text.isdigit()
                or len(parts) not in (2, 3)
                or not parts[0]
                or not parts[1].isdigit()
                or (len(parts) == 3 and not parts[2].isdigit())
            ):
                raise SdpParseError(
                    f"m={self.media}: bad a=rtpmap:{value} "
                    "(expected 'pt encoding/clock[/channels]')"
                )
            channels = int(parts[2]) if len(parts) == 3 else 1
            out[int(pt_text)] = (parts[0], int(parts[1]), channels)
        return out

    def codecs(self) -> list[tuple[int, str, int, int]]:
        """(pt, encoding, clock, channels) for each payload type of the m= line in order,
        from a=rtpmap or else the RFC 3551 static table; unknown dynamic types give
        encoding ``""`` and clock 0."""
        rtpmap = self.rtpmap()
        out = []
        for pt in self.payload_types:
            enc, clock, channels = rtpmap.get(pt) or STATIC_PAYLOAD_TYPES.get(pt, ("", 0, 1))
            out.append((pt, enc, clock, channels))
        return out

    def fmtp(self) -> dict[int, str]:
        """``a=fmtp`` lines: pt -> parameters text."""
        out: dict[int, str] = {}
        for value in self.attribute_values("fmtp"):
            pt_text, _, params = (value or "").strip().partition(" ")
            if not pt_text.isdigit():
                raise SdpParseError(f"m={self.media}: bad a=fmtp:{value}")
            out[int(pt_text)] = params.strip()
        return out

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in ms (media level, else session level), or None."""
        value = self.get_attribute("ptime")
        if value is None and self.session is not None:
            value = self.session.get_attribute("ptime")
        if value is None:
            return None
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise SdpParseError(f"m={self.media}: bad a=ptime:{value}") from None
        if number != int(number) or number <= 0:
            raise SdpParseError(f"m={self.media}: a=ptime:{value} is not a positive integer")
        return int(number)

    @property
    def direction(self) -> str:
        """sendrecv/sendonly/recvonly/inactive: the media attribute, else the session
        attribute, else ``sendrecv`` (RFC 4566 section 6)."""
        found = direction_attrs(self.attributes)
        if found:
            return found[0]
        if self.session is not None:
            return self.session.direction
        return "sendrecv"

    @property
    def rtcp_port(self) -> int:
        """``a=rtcp`` port (RFC 3605), else the RTP port with ``a=rtcp-mux``, else RTP+1."""
        value = self.get_attribute("rtcp")
        if value is not None:
            port = value.strip().split(" ", 1)[0]
            if not port.isdigit():
                raise SdpParseError(f"m={self.media}: bad a=rtcp:{value}")
            return int(port)
        if self.has_attribute("rtcp-mux"):
            return self.port
        return self.port + 1

    @property
    def effective_connection(self) -> Connection | None:
        """The media c= line, else the session's."""
        if self.connection is not None:
            return self.connection
        return self.session.connection if self.session is not None else None

    def lines(self) -> list[str]:
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        out = [f"m={self.media} {port} {self.proto}" + "".join(f" {f}" for f in self.formats)]
        if self.title is not None:
            out.append(f"i={self.title}")
        for conn in ([self.connection] if self.connection else []) + self.extra_connections:
            out.append(f"c={conn}")
        out.extend(f"b={t}:{v}" for t, v in self.bandwidths)
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(format_attr(a) for a in self.attributes)
        return out


__all__ = ["MediaDescription", "SessionLevel"]
