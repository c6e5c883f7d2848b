"""RFC 3264 offer/answer for a PCMU + telephone-event audio endpoint.

``read_remote`` extracts what the peer's SDP says about audio (address, port, direction,
telephone-event payload type). ``answer_direction`` applies RFC 3264 section 6.1.
``LocalSdp`` renders the Mediation Server's SDP and bumps ``o=`` version whenever the
content changes (RFC 3264 section 8).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from harness.peers.lync.wire import MediaSpec, sdp
from harness.sip.errors import SipParseError
from harness.sip.sdp import MediaDescription, SessionDescription

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


class NotAcceptable(Exception):
    """The SDP cannot be used (no usable audio stream, no codec we take); ``reason`` goes
    into a Warning."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class RemoteMedia:
    host: str
    port: int
    direction: str
    pcmu_pt: int
    telephone_event_pt: int | None
    rejected_lines: tuple[str, ...] = ()  # m= lines to put (port 0) into an answer

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and self.port != 0

    @property
    def receives(self) -> bool:
        return (
            self.direction in ("sendrecv", "recvonly")
            and self.port != 0
            and self.host not in ("0.0.0.0", "::")
        )


def _find_codec(media: MediaDescription, name: str) -> int | None:
    for pt, encoding, clock, _channels in media.codecs():
        if encoding.lower() == name and clock == 8000:
            return pt
    return None


def read_remote(description: SessionDescription) -> RemoteMedia:
    """The first audio stream of the peer's SDP; NotAcceptable when it has no usable PCMU."""
    audio_index = next(
        (i for i, m in enumerate(description.media) if m.media == "audio" and m.port != 0), None
    )
    if audio_index is None:
        raise NotAcceptable("no active audio stream in the SDP")
    if audio_index != 0:
        raise NotAcceptable("the audio stream must be the first m= line")
    audio = description.media[audio_index]
    try:
        pcmu = _find_codec(audio, "pcmu")
        telephone_event = _find_codec(audio, "telephone-event")
        connection = audio.effective_connection
    except SipParseError as exc:
        raise NotAcceptable(exc.reason) from None
    if pcmu is None:
        raise NotAcceptable("PCMU/8000 not offered")
    if connection is None:
        raise NotAcceptable("no c= line for the audio stream")
    host = connection.address.split("/", 1)[0]
    rejected = tuple(
        f"m={m.media} 0 {m.proto} {' '.join(m.formats)}"
        for i, m in enumerate(description.media)
        if i != audio_index
    )
    return RemoteMedia(host, audio.port, audio.direction, pcmu, telephone_event, rejected)


def answer_direction(offered: str) -> str:
    """RFC 3264 6.1 for an endpoint that would like sendrecv."""
    return _ANSWER.get(offered, "sendrecv")


def we_send(local_direction: str, remote: RemoteMedia | None) -> bool:
    return remote is not None and local_direction in ("sendrecv", "sendonly") and remote.receives


@dataclass
class LocalSdp:
    """The Mediation Server's side of the session: one ``o=`` session id, a version that
    grows by one whenever the SDP it sends differs from the previous one."""

    session_id: int
    address: str
    port: int
    version: int = 1
    _last: MediaSpec | None = field(default=None, repr=False)

    def render(
        self,
        direction: str | None,
        telephone_event_pt: int | None = 101,
        rejected: tuple[str, ...] = (),
    ) -> str:
        """``direction`` None writes no direction line (the seed's 200 OK)."""
        spec = MediaSpec(
            self.session_id,
            self.version,
            self.address,
            self.port,
            direction,
            telephone_event_pt,
            rejected,
        )
        if self._last is not None and spec != self._last:
            self.version += 1
            spec = dataclasses.replace(spec, version=self.version)
        self._last = spec
        return sdp(spec)
