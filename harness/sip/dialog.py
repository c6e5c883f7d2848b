"""Dialog state (RFC 3261 section 12), sans-I/O.

A :class:`Dialog` is created by a UAS from the request it answers with a tag
(:meth:`Dialog.as_uas`, 12.1.1) or by a UAC before its request goes out
(:meth:`Dialog.as_uac`) and completed from the 18x/2xx that carries the remote tag
(:meth:`Dialog.confirm`, 12.1.2). Inside the dialog: the local CSeq grows by one per
request (:meth:`next_cseq`), the remote CSeq must grow (:meth:`accept_remote_cseq`,
12.2.2), a target refresh request or its 2xx replaces the remote target
(:meth:`refresh_target`, 12.2), and requests go to the first route, else the remote target
(:meth:`next_hop`; loose routing only).

``local_party`` and ``remote_party`` are the From/To values as a user agent writes them
(display name, URI, tag): a UAS takes them from the request, a UAC from what it sent and
the To of the response.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.sip.builder import with_tag
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.uri import NameAddr, SipUri, parse_name_addrs


def contact_uri(message: Request | Response) -> str | None:
    """The URI of the first Contact (None when absent or unparsable)."""
    contact = message.headers.get("Contact")
    if not contact:
        return None
    try:
        return str(parse_name_addrs(contact)[0].uri)
    except (SipParseError, IndexError):
        return None


@dataclass(frozen=True)
class Hop:
    """Where a request of the dialog goes: ``maddr`` wins over the host (19.1.1)."""

    host: str
    port: int
    transport: str | None = None


@dataclass
class Dialog:
    call_id: str
    local_uri: str
    local_tag: str
    remote_uri: str
    remote_tag: str | None
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int | None = None
    local_party: str = ""
    remote_party: str = ""
    confirmed: bool = False

    @property
    def id(self) -> tuple[str, str, str | None]:
        """Call-ID, local tag, remote tag (12)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(cls, request: Request, local_tag: str) -> Dialog:
        """From a dialog-creating request received (12.1.1): the remote target is its
        Contact, the route set its Record-Route in order, the remote CSeq its CSeq.
        SipParseError when it lacks what a dialog needs (From, To, a Contact)."""
        from_addr = request.from_addr
        to_addr = request.to_addr
        if from_addr is None or to_addr is None:
            raise SipParseError("request has no From or To header")
        if request.headers.get("Contact") is None:
            raise SipParseError(f"{request.method} has no Contact header")
        target = parse_name_addrs(request.headers.get("Contact") or "")[0].uri
        return cls(
            call_id=request.call_id or "",
            local_uri=str(to_addr.uri),
            local_tag=local_tag,
            remote_uri=str(from_addr.uri),
            remote_tag=from_addr.tag,
            remote_target=str(target),
            route_set=request.headers.values("Record-Route"),
            local_cseq=0,
            remote_cseq=request.cseq[0],
            local_party=with_tag(request.headers.get("To") or "", local_tag),
            remote_party=request.headers.get("From") or "",
            confirmed=True,
        )

    @classmethod
    def as_uac(
        cls,
        call_id: str,
        local_uri: str,
        local_tag: str,
        remote_uri: str,
        *,
        target: str | None = None,
        local_party: str | None = None,
        remote_party: str | None = None,
    ) -> Dialog:
        """The state of a UAC before the remote tag is known (the request's From/To)."""
        return cls(
            call_id=call_id,
            local_uri=local_uri,
            local_tag=local_tag,
            remote_uri=remote_uri,
            remote_tag=None,
            remote_target=target or remote_uri,
            local_party=local_party if local_party is not None else f"<{local_uri}>",
            remote_party=remote_party if remote_party is not None else f"<{remote_uri}>",
        )

    def confirm(self, response: Response) -> None:
        """Adopt the remote tag, the remote target (Contact), the route set (Record-Route
        reversed) and the To value of a 18x/2xx (12.1.2). A 2xx confirms the dialog."""
        if response.to_tag:
            self.remote_tag = response.to_tag
        self.remote_party = response.headers.get("To") or self.remote_party
        self.refresh_target(response)
        self.route_set = list(reversed(response.headers.values("Record-Route")))
        if 200 <= response.status < 300:
            self.confirmed = True

    def forget_remote_tag(self) -> None:
        """Back to no remote tag (a new INVITE after a challenge starts afresh)."""
        self.remote_tag = None

    def refresh_target(self, message: Request | Response) -> None:
        """A target refresh request or its 2xx replaces the remote target (12.2)."""
        uri = contact_uri(message)
        if uri is not None:
            self.remote_target = uri

    def next_cseq(self) -> int:
        self.local_cseq += 1
        return self.local_cseq

    def accept_remote_cseq(self, number: int) -> bool:
        """12.2.2: a request whose CSeq is not above the last one is out of order (the UAS
        answers 500); otherwise it becomes the remote CSeq."""
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def next_hop(self) -> Hop:
        """The first (loose) route, else the remote target; ``maddr`` wins over the host,
        the port defaults to 5060 (5061 for sips). SipParseError for a bad URI."""
        text = self.remote_target
        if self.route_set:
            text = str(NameAddr.parse(self.route_set[0]).uri)
        uri = SipUri.parse(text)
        default = 5061 if uri.scheme == "sips" else 5060
        return Hop(uri.maddr or uri.host, uri.port or default, uri.transport)


__all__ = ["Dialog", "Hop", "contact_uri"]
