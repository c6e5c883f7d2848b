"""Dialog state (RFC 3261 section 12) from the Mediation Server's point of view."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.peers.common.tcp import SipConnection
from harness.peers.lync.wire import DialogView, new_msopaque
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.uri import NameAddr, SipUri, parse_name_addrs


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
    msopaque: str = field(default_factory=new_msopaque)
    connection: SipConnection | None = None

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str, connection: SipConnection) -> Dialog:
        """From an initial INVITE received (RFC 3261 12.1.1). SipParseError when it lacks
        what a dialog needs (a Contact)."""
        from_addr = invite.from_addr
        to_addr = invite.to_addr
        assert from_addr is not None and to_addr is not None  # guaranteed by parse_message
        contact = invite.headers.get("Contact")
        if contact is None:
            raise SipParseError("INVITE has no Contact header")
        target = parse_name_addrs(contact)[0].uri
        routes = [v for v in invite.headers.values("Record-Route")]
        return cls(
            call_id=invite.call_id or "",
            local_uri=str(to_addr.uri),
            local_tag=local_tag,
            remote_uri=str(from_addr.uri),
            remote_tag=from_addr.tag,
            remote_target=str(target),
            route_set=routes,
            local_cseq=0,
            remote_cseq=invite.cseq[0],
            connection=connection,
        )

    def confirm_as_uac(self, response: Response) -> None:
        """Adopt the remote tag, target and route set of a 18x/2xx (RFC 3261 12.1.2)."""
        if response.to_tag:
            self.remote_tag = response.to_tag
        contact = response.headers.get("Contact")
        if contact:
            try:
                self.remote_target = str(parse_name_addrs(contact)[0].uri)
            except (SipParseError, IndexError):
                pass
        routes = response.headers.values("Record-Route")
        if routes:
            self.route_set = list(reversed(routes))

    def refresh_target(self, message: Request | Response) -> None:
        """A target refresh request or its 2xx updates the remote target (12.2)."""
        contact = message.headers.get("Contact")
        if contact:
            try:
                self.remote_target = str(parse_name_addrs(contact)[0].uri)
            except (SipParseError, IndexError):
                pass

    def next_cseq(self) -> int:
        self.local_cseq += 1
        return self.local_cseq

    def view(self) -> DialogView:
        return DialogView(
            call_id=self.call_id,
            local_uri=self.local_uri,
            local_tag=self.local_tag,
            remote_uri=self.remote_uri,
            remote_tag=self.remote_tag,
            remote_target=self.remote_target,
            route_set=tuple(self.route_set),
        )

    def next_hop(self) -> tuple[str, int]:
        """Where to open a connection when the dialog's one is gone: the first loose
        route, else the remote target (maddr wins over host; default port 5060)."""
        uri_text = self.remote_target
        if self.route_set:
            uri_text = str(NameAddr.parse(self.route_set[0]).uri)
        uri = SipUri.parse(uri_text)
        return (uri.maddr or uri.host, uri.port or 5060)
