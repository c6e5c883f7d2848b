"""Calls of the simulated Skype for SIP service: what both kinds share (dialog, requests
inside it, BYE, the ACK of our 2xx). :mod:`harness.peers.skype.echo_call` answers calls to
the echo service (UAS), :mod:`harness.peers.skype.gateway_call` places calls from Skype to
the gateway (UAC). Every step is a call event (record + one log line).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.peers.common import call_base
from harness.peers.common.call_base import RecordedCall
from harness.peers.common.endpoint import Address, ServerTxn, SipEndpoint, summary
from harness.peers.common.offer_answer import NotAcceptable
from harness.peers.common.rtp_session import EventFn
from harness.peers.skype import wire
from harness.peers.skype.echo import EchoSession
from harness.peers.skype.records import SkypeCallRecord
from harness.peers.skype.rules import SkypeBehaviour
from harness.sip.dialog import Dialog
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.sdp import MediaDescription, SessionDescription

ServerTransaction = ServerTxn[Address]
Endpoint = SipEndpoint[Address]


@dataclass
class CallContext(call_base.CallContext):
    """A Skype call's context: the listener it is on, the service's domain and address,
    and the echo sessions' ports."""

    endpoint: Endpoint
    domain: str
    address: str
    open_echo: Callable[[EventFn], Awaitable[EchoSession]]


@dataclass(frozen=True)
class RemoteAudio:
    host: str
    port: int
    direction: str
    audio: MediaDescription
    others: tuple[str, ...]  # refused m= lines for the answer


def read_audio(sdp: SessionDescription) -> RemoteAudio:
    """The first audio stream of an SDP; NotAcceptable when there is none usable."""
    index = next((i for i, m in enumerate(sdp.media) if m.media == "audio" and m.port != 0), None)
    if index is None:
        raise NotAcceptable("no active audio stream in the SDP")
    audio = sdp.media[index]
    connection = audio.effective_connection
    if connection is None:
        raise NotAcceptable("no c= line for the audio stream")
    others = tuple(
        wire.rejected_media(m.media, m.proto, m.formats)
        for i, m in enumerate(sdp.media)
        if i != index
    )
    return RemoteAudio(
        connection.address.split("/", 1)[0], audio.port, audio.direction, audio, others
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class SkypeCall(RecordedCall):
    """Dialog state and the steps shared by both kinds of call."""

    ctx: CallContext
    record: SkypeCallRecord
    behaviour: SkypeBehaviour

    def __init__(self, ctx: CallContext, dialog: Dialog, flow: Address) -> None:
        super().__init__(ctx)
        self.endpoint = ctx.endpoint
        self.dialog = dialog
        self.flow = flow  # where the peer is (source of its INVITE, or the gateway)
        self.contact = ""
        self.confirmed = False
        self.sdp_id = wire.SdpIdentity(ctx.media_address, 0)
        self._unacked: dict[int, ServerTransaction] = {}  # CSeq -> INVITE answered 2xx

    @property
    def call_id(self) -> str:
        return self.dialog.call_id

    @property
    def local_tag(self) -> str:
        return self.dialog.local_tag

    # -- bookkeeping -------------------------------------------------------------------------

    def close_media(self) -> None:
        """Release the RTP ports."""

    def release(self) -> None:
        for txn in self._unacked.values():  # the dialog is over: stop resending 2xx
            txn.acknowledged()
        self._unacked.clear()
        self.close_media()

    def set_final(self, status: int, reason: str) -> None:
        """The final status of the call's INVITE and its reason, for the record (as
        :meth:`finish` leaves it: not once the call has ended)."""
        if self.ended:
            return
        self.record.status_code = status
        self.record.reason = reason

    # -- dialog ------------------------------------------------------------------------------

    def next_hop(self) -> Address:
        """First Route, else the remote target (maddr, port, 5060); the flow the dialog came
        from when that host is a name (nothing is resolved here)."""
        try:
            hop = self.dialog.next_hop()
        except SipParseError:
            return self.flow
        if not _is_ip(hop.host):
            return self.flow
        return (hop.host.strip("[]"), hop.port)

    def new_request(self, method: str, sdp: str | None = None) -> Request:
        return wire.request(
            method,
            self.dialog,
            address=self.ctx.address,
            port=self.endpoint.port,
            contact=self.contact if method in ("INVITE", "UPDATE") else None,
            sdp=sdp,
        )

    def reply(
        self,
        txn: ServerTransaction,
        status: int,
        *,
        warning: str | None = None,
        sdp: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        headers = list(extra or [])
        if warning:
            headers.insert(0, wire.warning(self.ctx.domain, warning))
        with_contact = sdp is not None or (txn.method == "INVITE" and status < 300)
        response = wire.response(
            txn.request,
            status,
            to_tag=self.local_tag if txn.request.to_tag is None else None,
            extra=headers,
            contact=self.contact if with_contact else None,
            sdp=sdp,
        )
        if txn.method == "INVITE" and 200 <= status < 300:
            self._unacked[txn.request.cseq[0]] = txn  # retransmitted until its ACK
        txn.respond(response)

    async def hangup(self, why: str, final_state: str = "ended") -> None:
        if self.ended:
            return
        self.stop_media()
        bye = self.new_request("BYE")
        self.event("bye_sent", why)
        try:
            response = await self.endpoint.request(bye, self.next_hop()).final
            self.event("bye_response", f"{response.status} {response.reason}")
        except (TimeoutError, ConnectionError) as exc:
            self.event("bye_failed", str(exc))
        self.finish(
            final_state, f"BYE sent ({why})", error=why if final_state == "failed" else None
        )

    def stop_media(self) -> None:
        """Stop sending (before a BYE)."""

    async def hangup_later(self, after_ms: float, setting: str) -> None:
        """BYE ``after_ms`` from now (``setting``: the behaviour field that asked for it)."""
        await asyncio.sleep(after_ms / 1000)
        await self.hangup(f"{setting}={after_ms:g}")

    # -- requests inside the dialog ----------------------------------------------------------

    def on_request(self, txn: ServerTransaction) -> None:
        request = txn.request
        method = request.method
        try:
            number = request.cseq[0]
        except SipParseError:
            self.reply(txn, 400, warning="bad CSeq")
            return
        if not self.dialog.accept_remote_cseq(number):
            self.reply(txn, 500, warning="CSeq lower than the previous request's")
            return
        if method == "BYE":
            self.reply(txn, 200)
            self.event("bye_received", summary(request))
            self.finish("ended", "BYE from remote")
        elif method in ("INVITE", "UPDATE"):
            self.on_offer(txn)
        elif method in ("OPTIONS", "INFO"):
            self.reply(txn, 200)
        elif method == "PRACK":
            self.reply(txn, 481, warning="no reliable provisional response is pending")
        else:
            self.reply(txn, 405, extra=[("Allow", wire.ALLOW)])

    def on_offer(self, txn: ServerTransaction) -> None:
        """A re-INVITE or UPDATE: answer with the same codec choice rules."""
        self.reply(txn, 488, warning="session modification not supported")

    def on_ack(self, ack: Request) -> None:
        """The ACK of a 2xx we sent to an INVITE: stop retransmitting that 2xx."""
        try:
            number = ack.cseq[0]
        except SipParseError:
            return
        txn = self._unacked.pop(number, None)
        if txn is None:
            self.ctx.log(f"EVENT call={self.record.id} ack_ignored CSeq {number} matches no 2xx")
            return
        txn.acknowledged()
        self.acked(txn)

    def acked(self, txn: ServerTransaction) -> None:
        """The ACK for ``txn``'s 2xx arrived."""

    def on_stray_2xx(self, response: Response) -> None:
        """A retransmitted 2xx to our INVITE (UAC)."""
