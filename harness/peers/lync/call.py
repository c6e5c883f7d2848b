"""One call of the simulated Mediation Server, inbound (from the gateway) or outbound.

The call follows its :class:`~harness.peers.common.behaviour.Behaviour` on a timeline measured with
``loop.time()``: provisional and final responses, then (after the ACK) DTMF, hold and resume
re-INVITEs, and the BYE. In-dialog requests from the peer are answered at once. Every step
is a call event (record + one log line).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.peers.common import call_base
from harness.peers.common.behaviour import Behaviour
from harness.peers.common.call_base import RecordedCall
from harness.peers.common.endpoint import ServerTxn, summary
from harness.peers.common.offer_answer import (
    LocalSdp,
    NotAcceptable,
    RemoteMedia,
    answer_direction,
    read_remote,
    we_send,
)
from harness.peers.common.rtp_session import RtpSession
from harness.peers.common.tcp import SipConnection, TcpSipEndpoint
from harness.peers.lync import wire as lf
from harness.peers.lync.faults import Faults
from harness.sip.dialog import Dialog
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.sdp import SessionDescription

Txn = ServerTxn[SipConnection]
ALLOWED = "INVITE,ACK,CANCEL,BYE,OPTIONS,PRACK,UPDATE,INFO"

LogFn = Callable[[str], None]


@dataclass
class CallContext(call_base.CallContext):
    """A Mediation Server call's context: Lync's identity and the TCP endpoint."""

    ident: lf.LyncIdentity
    sip: TcpSipEndpoint


class Call(RecordedCall):
    behaviour: Behaviour
    ctx: CallContext

    def __init__(self, ctx: CallContext, direction: str, call_id: str, local_tag: str) -> None:
        super().__init__(ctx)
        self.direction = direction
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag: str | None = None
        self.dialog: Dialog | None = None
        self.msopaque = lf.new_msopaque()  # Lync's Contact parameter on its re-INVITEs
        self.connection: SipConnection | None = None  # the dialog's connection
        self.rtp: RtpSession | None = None
        self.local_sdp: LocalSdp | None = None
        self.remote: RemoteMedia | None = None
        self.local_direction = "sendrecv"
        self._invite_txn: Txn | None = None  # inbound initial INVITE
        self._invite_final: int | None = None  # status of the final response sent
        self._await_ack_answer = False  # we put the offer in a 2xx: the ACK has the answer
        self._client_invite_pending = False
        self._answered_at: float | None = None
        self._ok: Response | None = None  # the 200 OK of the initial INVITE
        self._deaf: bool | None = None  # the drop-acks fault picked this call (None: not yet)

    @property
    def invite_branch(self) -> str | None:
        """The Via branch of the initial INVITE received (inbound calls)."""
        return self._invite_txn.request.via_branch if self._invite_txn is not None else None

    # -- bookkeeping ---------------------------------------------------------------------

    def media_session(self) -> RtpSession | None:
        return self.rtp

    def release(self) -> None:
        if self._invite_txn is not None:
            self._invite_txn.on_no_ack = None  # the call is over: no ack_timeout event
        if self.rtp is not None:
            self.rtp.close()

    # -- media ---------------------------------------------------------------------------

    async def _open_media(self) -> None:
        self.rtp = await self.ctx.open_rtp(self.rtp_event)
        self.local_sdp = LocalSdp(
            session_id=random.randint(1, 999_999),
            address=self.ctx.media_address,
            port=self.rtp.local_port,
        )
        self.event("rtp_open", f"{self.ctx.media_address}:{self.rtp.local_port}")

    def _apply_media(self) -> None:
        """Point RTP at the peer's SDP address and send only when both directions allow."""
        if self.rtp is None or self.remote is None or self.ended:
            return
        remote = self.remote
        self.rtp.payload_type = remote.pcmu_pt
        self.rtp.dtmf_payload_type = remote.telephone_event_pt
        if remote.telephone_event_pt is not None:
            self.rtp.receive_dtmf_payload_type = remote.telephone_event_pt
        self.rtp.set_remote(remote.host, remote.port)
        sending = we_send(self.local_direction, remote)
        if sending != self.rtp.sending:
            self.event("rtp_send" if sending else "rtp_pause", f"to {remote.host}:{remote.port}")
        self.rtp.set_sending(sending)

    def _take_answer(self, answer: SessionDescription) -> None:
        self._take_remote(read_remote(answer))

    def _take_remote(self, remote: RemoteMedia) -> None:
        self.remote = remote
        self.record.remote_sdp_direction = remote.direction
        self.ctx.store.touch()

    def _render(self, direction: str | None) -> str:
        assert self.local_sdp is not None
        te = self.remote.telephone_event_pt if self.remote is not None else 101
        rejected = self.remote.rejected_lines if self.remote is not None else ()
        return self.local_sdp.render(direction, te, rejected)

    # -- sending -------------------------------------------------------------------------

    async def _dialog_connection(self) -> SipConnection:
        assert self.dialog is not None
        conn = self.connection
        if conn is not None and not conn.closed:
            return conn
        hop = self.dialog.next_hop()
        self.event("reconnect", f"{hop.host}:{hop.port}")
        conn = await self.ctx.sip.connect(hop.host, hop.port)
        self.connection = conn
        return conn

    def _reply(
        self,
        txn: Txn,
        status: int,
        warning: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        tag = self.local_tag if txn.request.to_tag is None else None
        txn.respond(lf.reply(txn.request, status, self.ctx.ident, tag, warning, extra))

    def _ack(
        self,
        cseq: int,
        branch: str | None = None,
        uri: str | None = None,
        remote_tag: str | None = None,
    ) -> Request:
        assert self.dialog is not None
        dialog = self.dialog
        if remote_tag is not None:
            dialog = dataclasses.replace(dialog, remote_tag=remote_tag)
        return lf.request(
            "ACK",
            dialog,
            self.ctx.ident,
            cseq,
            branch or lf.new_branch(),
            uri=uri,
            contact=False,
        )

    def _ack_non_2xx(self, invite: Request, response: Response) -> Request:
        """RFC 3261 17.1.1.3 in Lync's format (the INVITE transaction sends it): same
        branch and Request-URI as the INVITE, To from the response."""
        return self._ack(
            invite.cseq[0], branch=invite.via_branch, uri=invite.uri, remote_tag=response.to_tag
        )

    def _invite(self, cseq: int, sdp: str, **options: Any) -> Request:
        assert self.dialog is not None
        return lf.request(
            "INVITE", self.dialog, self.ctx.ident, cseq, lf.new_branch(), sdp=sdp, **options
        )

    def _send_invite(
        self,
        conn: SipConnection,
        invite: Request,
        on_provisional: Callable[[Response], None] | None = None,
    ) -> asyncio.Future[Response]:
        txn = self.ctx.sip.request(invite, conn, on_provisional, ack_factory=self._ack_non_2xx)
        return txn.final

    # -- inbound -------------------------------------------------------------------------

    async def run_inbound(self, txn: Txn, received_at: float) -> None:
        invite = txn.request
        self._invite_txn = txn
        self.remote_tag = invite.from_tag
        txn.respond(lf.trying(invite))
        self.event("invite", summary(invite))
        try:
            offer = invite.sdp()
            self.dialog = Dialog.as_uas(invite, self.local_tag)
            self.connection = txn.flow
        except SipParseError as exc:
            self._final_reject(400, f"bad INVITE: {exc.reason}", "failed")
            return
        if offer is not None:
            try:
                self._take_remote(read_remote(offer))
            except NotAcceptable as exc:
                self._final_reject(488, exc.reason, "rejected")
                return
        try:
            await self._open_media()
        except OSError as exc:
            self._final_reject(503, f"no RTP port: {exc}", "failed")
            return
        b = self.behaviour
        steps: list[tuple[float, int, int]] = []
        if b.progress_delay_ms is not None:
            steps.append((b.progress_delay_ms, 0, 183))
        if b.ring_delay_ms is not None:
            steps.append((b.ring_delay_ms, 1, 180))
        steps.append((b.answer_delay_ms, 2, 0))
        for delay_ms, _order, status in sorted(steps):
            await self.sleep_until(received_at + delay_ms / 1000)
            if self._invite_final is not None or self.ended:
                return
            if status:
                txn.respond(lf.provisional(invite, status, self.local_tag, self.ctx.ident))
                self.state("early", f"{status} sent")
            elif b.reject_code is not None:
                self._final_reject(b.reject_code, None, "rejected")
            else:
                self._answer(txn)

    def _final_reject(self, status: int, warning: str | None, state: str) -> None:
        assert self._invite_txn is not None
        self._invite_final = status
        self.record.status_code = status
        self._reply(self._invite_txn, status, warning)
        detail = f"{status} {lf.reason_phrase(status)}" + (f": {warning}" if warning else "")
        self.finish(state, detail, error=warning if state == "failed" else None)

    def _answer(self, txn: Txn) -> None:
        if self.remote is not None:
            self.local_direction = answer_direction(self.remote.direction)
            direction = None if self.local_direction == "sendrecv" else self.local_direction
        else:
            self.local_direction = "sendrecv"
            direction = None
            self._await_ack_answer = True
        body = self._render(direction)
        self._invite_final = 200
        self.record.status_code = 200
        ok = lf.ok_with_sdp(txn.request, self.local_tag, self.ctx.ident, body)
        self._ok = ok
        txn.respond(ok, on_no_ack=self._ack_timeout)  # Timer L (64*T1)
        self.event("answered", "200 OK sent")

    def ignores_ack(self, faults: Faults) -> bool:
        """The drop-acks fault: True when this ACK (of the initial INVITE's 200 OK) is to
        be ignored. The call's lot is drawn at its first ACK; a deaf call then retransmits
        its 200 OK as RFC 3261 13.3.1.4 says until Timer L ends it."""
        if self._answered_at is not None or self._invite_final != 200 or self.ended:
            return False  # the ACK of a re-INVITE's 2xx, or of a non-2xx
        if self._deaf is None:
            self._deaf = faults.deaf_call()
            if self._deaf:
                self.spawn(self._resend_ok(), "2xx retransmissions")
        if self._deaf:
            faults.acks_dropped += 1
            self.event("ack_ignored", "fault drop_acks: the ACK is ignored")
        return self._deaf

    async def _resend_ok(self) -> None:
        """RFC 3261 13.3.1.4: the 2xx again at T1, doubling to T2, until an ACK (never, for
        a deaf call) or 64*T1, when Timer L's callback hangs up."""
        timers = self.ctx.sip.timers
        interval, deadline = timers.t1, self.loop.time() + timers.long
        while True:
            await self.sleep_until(self.loop.time() + interval)
            if self.ended or self._answered_at is not None or self.loop.time() >= deadline:
                return
            if self._ok is not None and self.connection is not None:
                self.ctx.sip.send(self._ok, self.connection, "RESEND")
            interval = min(interval * 2, timers.t2)

    def _ack_timeout(self) -> None:
        self.event("ack_timeout", f"no ACK for the 200 OK in {self.ctx.sip.timers.long:g} s")
        self.spawn(self.hangup("no ACK", final_state="failed"), "hangup")

    def on_cancel(self, cancel: Txn) -> None:
        if self._invite_final is None and self._invite_txn is not None and not self.ended:
            self._reply(cancel, 200)
            self._invite_final = 487
            self.record.status_code = 487
            self._reply(self._invite_txn, 487)
            self.finish("ended", "CANCEL from remote, 487 sent")
        elif self._invite_final is not None and self._invite_final >= 300:
            self._reply(cancel, 200)
        else:
            self._reply(cancel, 481)

    # -- confirmed dialog ----------------------------------------------------------------

    def _answered(self) -> None:
        self._answered_at = self.loop.time()
        self._apply_media()
        self.spawn(self._timeline(), "timeline")
        if self.behaviour.dtmf:
            self.spawn(self._dtmf(self.behaviour.dtmf), "dtmf")

    async def _timeline(self) -> None:
        b = self.behaviour
        assert self._answered_at is not None
        base = self._answered_at
        if b.hold_after_ms is not None:
            await self.sleep_until(base + b.hold_after_ms / 1000)
            if await self.reinvite("inactive"):
                await self.sleep_until(self.loop.time() + b.hold_duration_ms / 1000)
                await self.reinvite("sendrecv")
            base = self.loop.time()
        if b.hangup_by == "mediation" and b.hangup_after_ms is not None:
            await self.sleep_until(base + b.hangup_after_ms / 1000)
            await self.hangup("timeline")

    async def _dtmf(self, digits: str) -> None:
        assert self._answered_at is not None and self.rtp is not None
        await self.sleep_until(self._answered_at + self.behaviour.dtmf_after_ms / 1000)
        await self.send_dtmf(digits, "peer")

    async def reinvite(self, direction: str) -> bool:
        """Send a re-INVITE with ``a=<direction>``; True when it got a 2xx."""
        if self.dialog is None or self.ended:
            return False
        previous = self.local_direction
        self.local_direction = direction
        if self.rtp is not None and not we_send(direction, self.remote):
            self.rtp.set_sending(False)  # hold: stop sending when the re-INVITE goes out
        body = self._render(direction)
        for attempt in range(2):
            cseq = self.dialog.next_cseq()
            invite = self._invite(cseq, body, msopaque=self.msopaque)
            self.event("reinvite_sent", f"a={direction} CSeq {cseq}")
            self._client_invite_pending = True
            try:
                conn = await self._dialog_connection()
                response = await self._send_invite(conn, invite)
            except (TimeoutError, ConnectionError, OSError) as exc:
                self.finish("failed", "re-INVITE got no final response", error=str(exc))
                return False
            finally:
                self._client_invite_pending = False
            if self.ended:
                return False
            if response.status < 300:
                self.dialog.refresh_target(response)
                self.ctx.sip.send(self._ack(cseq), conn)
                try:
                    answer = response.sdp()
                    if answer is not None:
                        self._take_remote(read_remote(answer))
                except (SipParseError, NotAcceptable) as exc:
                    self.event("bad_answer", str(exc))
                self._apply_media()
                held = direction != "sendrecv"
                self.state("held" if held else "confirmed", f"re-INVITE a={direction} accepted")
                return True
            self.event("reinvite_rejected", f"{response.status} {response.reason}")
            if response.status in (408, 481):
                self.finish(
                    "failed",
                    f"dialog gone: {response.status} {response.reason}",
                    error=f"{response.status} {response.reason}",
                )
                return False
            if response.status == 491 and attempt == 0:
                await asyncio.sleep(random.uniform(2.1, 4.0))  # RFC 3261 14.1
                continue
            break
        self.local_direction = previous
        self._apply_media()
        return False

    async def hangup(self, why: str, final_state: str = "ended") -> None:
        if self.ended or self.dialog is None:
            return
        if self.rtp is not None:
            self.rtp.set_sending(False)
        cseq = self.dialog.next_cseq()
        bye = lf.request("BYE", self.dialog, self.ctx.ident, cseq, lf.new_branch())
        self.event("bye_sent", why)
        try:
            conn = await self._dialog_connection()
            response = await self.ctx.sip.request(bye, conn).final
            self.event("bye_response", f"{response.status} {response.reason}")
        except (TimeoutError, ConnectionError, OSError) as exc:
            self.event("bye_failed", str(exc))
        self.finish(
            final_state, f"BYE sent ({why})", error=why if final_state == "failed" else None
        )

    # -- requests from the peer inside the dialog ----------------------------------------

    def on_request(self, txn: Txn) -> None:
        request = txn.request
        method = request.method
        if self.dialog is None:
            self._reply(txn, 481)
            return
        if not self.dialog.accept_remote_cseq(request.cseq[0]):
            self._reply(txn, 500, "CSeq lower than the previous request's")
            return
        if method == "BYE":
            self._reply(txn, 200)
            self.event("bye_received", summary(request))
            self.finish("ended", "BYE from remote")
        elif method in ("INVITE", "UPDATE"):
            self._on_offer(txn)
        elif method == "OPTIONS":
            txn.respond(lf.options_ok(request, None, self.ctx.ident))
        elif method == "INFO":
            self._reply(txn, 200)
        elif method == "PRACK":
            self._reply(txn, 481, "no reliable provisional response is pending")
        else:
            self._reply(txn, 405, extra=[("ALLOW", ALLOWED)])

    def on_ack(self, ack: Request) -> None:
        if self._invite_txn is not None:
            self._invite_txn.acknowledged()
        if self._await_ack_answer:
            self._await_ack_answer = False
            missing = "ACK carries no SDP answer to the offer in the 2xx"
            if not self.take_answer(ack, missing, self._take_answer, "bad SDP answer in ACK"):
                return
            if self._answered_at is not None:
                self._apply_media()
        if self.ended or self._answered_at is not None or self._invite_final != 200:
            return  # ACK of a re-INVITE's 2xx, or of a non-2xx: nothing more to do
        self.state("confirmed", "ACK received")
        self._answered()

    def _on_offer(self, txn: Txn) -> None:
        assert self.dialog is not None
        request = txn.request
        if request.method == "INVITE" and self._client_invite_pending:
            self._reply(txn, 491)
            return
        self.dialog.refresh_target(request)
        try:
            offer = request.sdp()
        except SipParseError as exc:
            self._reply(txn, 400, f"bad SDP: {exc.reason}")
            return
        if offer is None:
            if request.method == "INVITE":  # offerless re-INVITE: offer in 2xx, answer in ACK
                self._await_ack_answer = True
                body = self._render(
                    None if self.local_direction == "sendrecv" else self.local_direction
                )
                txn.respond(lf.ok_with_sdp(request, self.local_tag, self.ctx.ident, body))
            else:
                txn.respond(lf.simple_response(request, 200, self.ctx.ident, contact=True))
            return
        try:
            remote = read_remote(offer)
        except NotAcceptable as exc:
            self._reply(txn, 488, exc.reason)
            return
        self._take_remote(remote)
        self.local_direction = answer_direction(remote.direction)
        body = self._render(None if self.local_direction == "sendrecv" else self.local_direction)
        txn.respond(lf.ok_with_sdp(request, self.local_tag, self.ctx.ident, body))
        self.event("remote_offer", f"{request.method} a={remote.direction}")
        self._apply_media()
        if self.record.state in ("confirmed", "held"):
            held = remote.direction != "sendrecv"
            self.state("held" if held else "confirmed", f"remote {request.method}")
