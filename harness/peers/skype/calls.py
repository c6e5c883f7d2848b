"""Calls of the simulated Skype for SIP service, over :mod:`harness.peers.common.udp`.

``EchoCall`` (UAS): a call from the gateway to an echo destination (the free test number
+17606604690 on the Skype for SIP listener, ``echo123`` on the Skype for Asterisk one):
100 Trying, 180 Ringing after ``ring_delay_ms``, 200 OK with the SDP answer after
``answer_delay_ms`` (retransmitted until the ACK), then every RTP packet is echoed
(:class:`~harness.peers.skype.echo.EchoSession`); a BYE after ``echo_hangup_after_ms``
counted from the ACK, or the caller's BYE.

``GatewayCall`` (UAC): a call from Skype to the gateway (control API ``POST /calls``):
INVITE with G.729/PCMU/PCMA/telephone-event, 18x, 2xx then ACK (re-sent for every
retransmitted 2xx) or a non-2xx (ACKed by the transaction layer), then the Mediation
simulator's :class:`~harness.peers.common.rtp_session.RtpSession` sends a 1 kHz tone every 20 ms
in the answered codec; BYE after ``hangup_after_ms`` or the gateway's BYE; CANCEL after
``cancel_after_ms`` when still unanswered.

Every step is a call event (record + one log line).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.peers.common.call_base import RecordedCall
from harness.peers.common.offer_answer import NotAcceptable, answer_direction
from harness.peers.common.rtp_session import EventFn, RtpSession
from harness.peers.common.tcp import summary
from harness.peers.common.udp import Address, ServerTransaction, UdpSipEndpoint
from harness.peers.skype import wire
from harness.peers.skype.echo import EchoSession
from harness.peers.skype.records import SkypeCallRecord, SkypeCallStore
from harness.peers.skype.rules import CodecChoice, SkypeBehaviour, choose_codec, codec_name
from harness.sip.builder import make_ack, make_cancel, new_branch, with_tag
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.message import Request, Response
from harness.sip.sdp import MediaDescription, SessionDescription
from harness.sip.uri import NameAddr, SipUri, parse_name_addrs

LogFn = Callable[[str], None]


@dataclass
class CallContext:
    """What a call needs from the service that owns it."""

    store: SkypeCallStore
    log: LogFn
    domain: str
    address: str
    media_address: str
    open_echo: Callable[[EventFn], Awaitable[EchoSession]]
    open_rtp: Callable[[EventFn], Awaitable[RtpSession]]
    on_finished: Callable[[SkypeCall], None]


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

    record: SkypeCallRecord

    def __init__(
        self,
        ctx: CallContext,
        record: SkypeCallRecord,
        behaviour: SkypeBehaviour,
        endpoint: UdpSipEndpoint,
        call_id: str,
        local_tag: str,
        flow: Address,
    ) -> None:
        super().__init__(ctx.store, record, ctx.log)
        self.ctx = ctx
        self.behaviour = behaviour
        self.endpoint = endpoint
        self.call_id = call_id
        self.local_tag = local_tag
        self.flow = flow  # where the peer is (source of its INVITE, or the gateway)
        self.remote_tag: str | None = None
        self.local_header = ""  # our From/To value, with our tag
        self.remote_header = ""  # the peer's, with its tag once known
        self.remote_target = ""
        self.route_set: list[str] = []
        self.local_cseq = 0
        self.remote_cseq: int | None = None
        self.contact = ""
        self.confirmed = False
        self.sdp_id = wire.SdpIdentity(ctx.media_address, 0)
        self._unacked: dict[int, ServerTransaction] = {}  # CSeq -> INVITE answered 2xx

    # -- bookkeeping -------------------------------------------------------------------------

    def close_media(self) -> None:
        """Release the RTP ports."""

    def finish(
        self,
        state: str,
        detail: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        error: str | None = None,
    ) -> None:
        if self.ended:
            return
        self.ended = True
        for txn in self._unacked.values():  # the dialog is over: stop resending 2xx
            txn.acknowledged()
        self._unacked.clear()
        self.cancel_tasks()
        self.close_media()
        self.sync_record()
        if status is not None:
            self.record.status_code = status
        if reason is not None:
            self.record.reason = reason
        if error is not None:
            self.record.error = error
        self.state(state, detail)
        self.ctx.on_finished(self)

    # -- dialog ------------------------------------------------------------------------------

    def next_hop(self) -> Address:
        """First Route, else the remote target (maddr, port, 5060); the flow the dialog came
        from when that host is a name (nothing is resolved here)."""
        text = self.remote_target
        if self.route_set:
            try:
                text = str(NameAddr.parse(self.route_set[0]).uri)
            except SipParseError:
                pass
        try:
            uri = SipUri.parse(text)
        except SipParseError:
            return self.flow
        host = uri.maddr or uri.host
        if not _is_ip(host):
            return self.flow
        return (host.strip("[]"), uri.port or 5060)

    def new_request(self, method: str, sdp: str | None = None) -> Request:
        self.local_cseq += 1
        return wire.request(
            method,
            self.remote_target,
            from_=self.local_header,
            to=self.remote_header,
            call_id=self.call_id,
            cseq=self.local_cseq,
            address=self.ctx.address,
            port=self.endpoint.port,
            branch=new_branch(),
            contact=self.contact if method in ("INVITE", "UPDATE") else None,
            routes=self.route_set,
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
        if self.remote_cseq is not None and number <= self.remote_cseq:
            self.reply(txn, 500, warning="CSeq lower than the previous request's")
            return
        self.remote_cseq = number
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


class EchoCall(SkypeCall):
    """The echo test service answering a call (UAS)."""

    def __init__(
        self,
        ctx: CallContext,
        record: SkypeCallRecord,
        behaviour: SkypeBehaviour,
        endpoint: UdpSipEndpoint,
        txn: ServerTransaction,
        choice: CodecChoice,
        remote: RemoteAudio,
        local_tag: str,
    ) -> None:
        invite = txn.request
        super().__init__(
            ctx, record, behaviour, endpoint, invite.call_id or "", local_tag, txn.source
        )
        self.txn = txn
        self.choice = choice
        self.remote = remote
        self.media: EchoSession | None = None
        self.remote_tag = invite.from_tag
        self.remote_header = invite.headers.get("From") or ""
        self.local_header = with_tag(invite.headers.get("To") or "", local_tag)
        contact = invite.headers.get("Contact")
        self.remote_target = (
            str(parse_name_addrs(contact)[0].uri) if contact else invite.uri
        )  # validated by the service
        self.route_set = invite.headers.values("Record-Route")
        self.remote_cseq = invite.cseq[0]
        user = record.destination or "echo"
        self.contact = f"<sip:{user}@{wire.hostport(ctx.address, endpoint.port)}>"
        self.local_direction = answer_direction(remote.direction)
        self._final_sent = False
        self._answered_at: float | None = None

    @property
    def invite_branch(self) -> str | None:
        return self.txn.request.via_branch

    def media_session(self) -> RtpSession | None:
        return self.media

    def sync_record(self) -> None:
        super().sync_record()  # the echo session sends no DTMF: dtmf_sent stays ""
        if self.media is not None:
            self.record.rtp_echoed = self.media.echoed
            self.record.rtp_bytes_echoed = self.media.echoed_bytes

    def close_media(self) -> None:
        if self.media is not None:
            self.media.close()

    def stop_media(self) -> None:
        if self.media is not None:
            self.media.echo_enabled = False

    def _answer_sdp(self) -> str:
        assert self.media is not None
        lines = wire.answer_media(self.media.local_port, self.choice, self.local_direction)
        return self.sdp_id.render(lines + list(self.remote.others))

    def _apply_remote(self) -> None:
        if self.media is None:
            return
        self.media.set_sdp_target(self.remote.host, self.remote.port)
        self.media.echo_to = self.behaviour.echo_to
        self.media.echo_enabled = (
            self._answered_at is not None
            and not self.ended
            and self.local_direction in ("sendrecv", "sendonly")
        )

    async def run(self, received_at: float) -> None:
        try:
            self.media = await self.ctx.open_echo(self.rtp_event)
        except OSError as exc:
            self._reject(503, f"no RTP port: {exc}", "failed")
            return
        self.sdp_id.port = self.media.local_port
        self.event("rtp_open", f"{self.ctx.media_address}:{self.media.local_port}")
        b = self.behaviour
        if b.ring_delay_ms is not None and b.ring_delay_ms < b.answer_delay_ms:
            await self.sleep_until(received_at + b.ring_delay_ms / 1000)
            if self._final_sent or self.ended:
                return
            self.reply(self.txn, 180)
            self.state("early", "180 sent")
        await self.sleep_until(received_at + b.answer_delay_ms / 1000)
        if self._final_sent or self.ended:
            return
        self._final_sent = True
        self.record.status_code = 200
        self.record.reason = "200 OK"
        self._answered_at = self.loop.time()
        self._unacked[self.txn.request.cseq[0]] = self.txn
        self.txn.respond(
            wire.response(
                self.txn.request,
                200,
                to_tag=self.local_tag,
                contact=self.contact,
                sdp=self._answer_sdp(),
            ),
            on_no_ack=self._no_ack,
        )
        self.event("answered", f"200 OK sent, {self.choice.name} (pt {self.choice.payload_type})")
        self._apply_remote()

    def _reject(self, status: int, warning: str, state: str) -> None:
        self._final_sent = True
        self.reply(self.txn, status, warning=warning)
        text = f"{status} {wire.reason_phrase(status)}: {warning}"
        self.finish(
            state, text, status=status, reason=text, error=warning if state == "failed" else None
        )

    def _no_ack(self) -> None:
        self.event("ack_timeout", "no ACK for the 200 OK in 64*T1")
        self.spawn(self.hangup("no ACK", final_state="failed"), "hangup")

    def acked(self, txn: ServerTransaction) -> None:
        if txn is not self.txn or self.confirmed or self.ended:
            return
        self.confirmed = True
        self.state("confirmed", "ACK received")
        after = self.behaviour.echo_hangup_after_ms
        if after is not None:
            self.spawn(self.hangup_later(after, "echo_hangup_after_ms"), "echo hangup")

    def on_cancel(self, txn: ServerTransaction) -> None:
        self.reply(txn, 200)
        if self._final_sent or self.ended:
            return
        self._final_sent = True
        self.reply(self.txn, 487)
        self.finish(
            "ended", "CANCEL from remote, 487 sent", status=487, reason="487 Request Terminated"
        )

    def on_offer(self, txn: ServerTransaction) -> None:
        request = txn.request
        try:
            offer = request.sdp()
        except SipParseError as exc:
            self.reply(txn, 400, warning=f"bad SDP: {exc.reason}")
            return
        if offer is None:  # offerless re-INVITE: offer the current session again
            self.reply(txn, 200, sdp=self._answer_sdp())
            return
        try:
            remote = read_audio(offer)
            choice = choose_codec(remote.audio)
        except (NotAcceptable, SipParseError) as exc:
            self.reply(txn, 488, warning=getattr(exc, "reason", str(exc)))
            return
        if choice is None:
            self.reply(txn, 488, warning="Incompatible media format", extra=[])
            return
        self.remote = remote
        self.choice = choice
        self.local_direction = answer_direction(remote.direction)
        self.reply(txn, 200, sdp=self._answer_sdp())
        self.event("remote_offer", f"{request.method} a={remote.direction} {choice.name}")
        self._apply_remote()


class GatewayCall(SkypeCall):
    """A call from Skype to the gateway (UAC)."""

    def __init__(
        self,
        ctx: CallContext,
        record: SkypeCallRecord,
        behaviour: SkypeBehaviour,
        endpoint: UdpSipEndpoint,
        call_id: str,
        local_tag: str,
        gateway: Address,
        request_uri: str,
        from_value: str,
        to_value: str,
        contact_user: str | None,
    ) -> None:
        super().__init__(ctx, record, behaviour, endpoint, call_id, local_tag, gateway)
        self.request_uri = request_uri
        self.remote_target = request_uri
        self.local_header = with_tag(from_value, local_tag)
        self.remote_header = to_value
        user = f"{contact_user}@" if contact_user else ""
        self.contact = f"<sip:{user}{wire.hostport(ctx.address, endpoint.port)}>"
        self.rtp: RtpSession | None = None
        self.invite: Request | None = None
        self.ack: Request | None = None
        self._provisional = False
        self._cancel_wanted = False
        self._cancel_sent = False
        self._answered_at: float | None = None

    def media_session(self) -> RtpSession | None:
        return self.rtp

    def close_media(self) -> None:
        if self.rtp is not None:
            self.rtp.close()

    def stop_media(self) -> None:
        if self.rtp is not None:
            self.rtp.set_sending(False)

    async def run(self) -> None:
        try:
            self.rtp = await self.ctx.open_rtp(self.rtp_event)
        except OSError as exc:
            self.finish("failed", "no RTP port", error=str(exc))
            return
        self.event("rtp_open", f"{self.ctx.media_address}:{self.rtp.local_port}")
        self.sdp_id.port = self.rtp.local_port
        offer = self.sdp_id.render(
            wire.offer_media(self.rtp.local_port, self.behaviour.offer_codecs)
        )
        self.invite = self.new_request("INVITE", sdp=offer)
        self.event("invite_sent", f"{self.request_uri} to {self.flow[0]}:{self.flow[1]}")
        txn = self.endpoint.request(self.invite, self.flow, self._on_provisional)
        if self.behaviour.cancel_after_ms is not None:
            self.spawn(self._cancel_later(self.behaviour.cancel_after_ms), "cancel")
        try:
            response = await txn.final
        except (TimeoutError, ConnectionError) as exc:
            self.finish("failed", "INVITE got no final response", error=str(exc))
            return
        if response.status >= 300:
            text = f"{response.status} {response.reason}"
            warning = response.headers.get("Warning")
            reason = text + (f" ({warning})" if warning else "")
            if self._cancel_sent and response.status == 487:
                self.finish("ended", "cancelled: 487 received", status=487, reason=reason)
            else:
                self.finish("rejected", text, status=response.status, reason=reason)
            return
        self._on_2xx(response)

    def _on_provisional(self, response: Response) -> None:
        if self.ended:
            return
        self._provisional = True
        self.event("provisional", f"{response.status} {response.reason}")
        if response.status > 100 and response.to_tag:
            self.state("early", f"{response.status} received")
        if self._cancel_wanted and not self._cancel_sent:
            self._send_cancel()

    async def _cancel_later(self, after_ms: float) -> None:
        await asyncio.sleep(after_ms / 1000)
        if self._answered_at is not None or self.ended:
            return
        self._cancel_wanted = True
        if self._provisional:  # RFC 3261 9.1: not before a provisional response
            self._send_cancel()

    def _send_cancel(self) -> None:
        assert self.invite is not None
        self._cancel_sent = True
        cancel = make_cancel(self.invite)
        cancel.headers.add("User-Agent", wire.PRODUCT)
        self.event("cancel_sent", f"cancel_after_ms={self.behaviour.cancel_after_ms}")
        self.endpoint.request(cancel, self.flow)

    def _on_2xx(self, response: Response) -> None:
        assert self.invite is not None
        self.remote_tag = response.to_tag
        self.remote_header = response.headers.get("To") or self.remote_header
        contacts = response.headers.values("Contact")
        try:
            if contacts:
                self.remote_target = str(parse_name_addrs(contacts[0])[0].uri)
        except (SipParseError, IndexError):
            pass
        self.route_set = list(reversed(response.headers.values("Record-Route")))
        try:
            self.ack = make_ack(self.invite, response)
        except (SipUsageError, SipParseError) as exc:
            self.event("ack_failed", str(exc))
            self.ack = None
        if self.ack is not None:
            self.ack.headers.add("User-Agent", wire.PRODUCT)
            self.endpoint.send(self.ack, self.next_hop())
        self.record.status_code = response.status
        self.record.reason = f"{response.status} {response.reason}"
        self.confirmed = True
        self._answered_at = self.loop.time()
        if self._cancel_sent:
            self.spawn(self.hangup("answered after CANCEL"), "hangup")
            return
        try:
            answer = response.sdp()
            if answer is None:
                raise NotAcceptable("2xx without SDP answer")
            self._use_answer(read_audio(answer))
        except (SipParseError, NotAcceptable) as exc:
            reason = getattr(exc, "reason", str(exc))
            self.event("bad_answer", reason)
            self.spawn(self.hangup(f"bad SDP answer: {reason}", final_state="failed"), "hangup")
            return
        self.state("confirmed", f"{response.status} {response.reason}")
        b = self.behaviour
        if b.hangup_after_ms is not None:
            self.spawn(self.hangup_later(b.hangup_after_ms, "hangup_after_ms"), "hangup")
        if b.dtmf:
            self.spawn(self._dtmf(b.dtmf, b.dtmf_after_ms), "dtmf")

    def _use_answer(self, remote: RemoteAudio) -> None:
        assert self.rtp is not None
        codec: tuple[str, int] | None = None
        te: int | None = None
        for pt, encoding, clock, _channels in remote.audio.codecs():
            name = codec_name(encoding, clock)
            if codec is None and name in self.behaviour.offer_codecs:
                codec = (name, pt)
            if te is None and encoding.lower() == "telephone-event":
                te = pt
        if codec is None:
            raise NotAcceptable("the answer has none of the codecs offered")
        self.record.codec, self.record.payload_type = codec
        self.record.telephone_event_pt = te
        self.ctx.store.touch()
        self.rtp.payload_type = codec[1]
        self.rtp.tone = wire.CodecTone(codec[0])
        self.rtp.dtmf_payload_type = te
        if te is not None:
            self.rtp.receive_dtmf_payload_type = te
        self.rtp.set_remote(remote.host, remote.port)
        sending = remote.direction in ("sendrecv", "recvonly")
        self.rtp.set_sending(sending)
        self.event(
            "rtp_send" if sending else "rtp_pause",
            f"{codec[0]} pt {codec[1]} to {remote.host}:{remote.port}",
        )

    async def _dtmf(self, digits: str, after_ms: float) -> None:
        await asyncio.sleep(after_ms / 1000)
        await self.send_dtmf(digits, "gateway")

    def on_stray_2xx(self, response: Response) -> None:
        if self.ack is not None:
            self.endpoint.send(self.ack, self.next_hop(), note="RESEND")

    def on_offer(self, txn: ServerTransaction) -> None:
        request = txn.request
        try:
            offer = request.sdp()
            if offer is None:
                raise NotAcceptable("offerless re-INVITE not supported")
            remote = read_audio(offer)
            choice = choose_codec(remote.audio, self.behaviour.offer_codecs)
        except (NotAcceptable, SipParseError) as exc:
            self.reply(txn, 488, warning=getattr(exc, "reason", str(exc)))
            return
        if choice is None or self.rtp is None:
            self.reply(txn, 488, warning="Incompatible media format")
            return
        direction = answer_direction(remote.direction)
        lines = wire.answer_media(self.rtp.local_port, choice, direction)
        self.reply(txn, 200, sdp=self.sdp_id.render(lines + list(remote.others)))
        self.event("remote_offer", f"{request.method} a={remote.direction} {choice.name}")
        self.rtp.payload_type = choice.payload_type
        self.rtp.tone = wire.CodecTone(choice.name)
        self.rtp.set_remote(remote.host, remote.port)
        self.rtp.set_sending(direction in ("sendrecv", "sendonly"))
        self.state("held" if direction != "sendrecv" else "confirmed", f"remote {request.method}")
