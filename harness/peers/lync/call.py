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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.peers.common.behaviour import Behaviour
from harness.peers.common.call_base import RecordedCall
from harness.peers.common.offer_answer import (
    LocalSdp,
    NotAcceptable,
    RemoteMedia,
    answer_direction,
    read_remote,
    we_send,
)
from harness.peers.common.records import CallRecord, CallStore
from harness.peers.common.rtp_session import EventFn, RtpSession
from harness.peers.common.tcp import SipConnection, SipTransport, summary
from harness.peers.lync import wire as lf
from harness.peers.lync.dialog import Dialog
from harness.peers.lync.transactions import TransactionLayer
from harness.sip.auth import build_authorization
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.message import Request, Response

TIMER_H_S = 32.0  # 64*T1: how long a 2xx waits for its ACK
ALLOWED = "INVITE,ACK,CANCEL,BYE,OPTIONS,PRACK,UPDATE,INFO"

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass
class CallContext:
    """What a call needs from the server that owns it."""

    ident: lf.LyncIdentity
    store: CallStore
    log: LogFn
    transactions: TransactionLayer
    transport: SipTransport
    open_rtp: Callable[[EventFn], Awaitable[RtpSession]]
    media_address: str
    on_finished: Callable[[Call], None]


class Call(RecordedCall):
    def __init__(
        self,
        ctx: CallContext,
        record: CallRecord,
        behaviour: Behaviour,
        direction: str,
        call_id: str,
        local_tag: str,
    ) -> None:
        super().__init__(ctx.store, record, ctx.log)
        self.ctx = ctx
        self.behaviour = behaviour
        self.direction = direction
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag: str | None = None
        self.dialog: Dialog | None = None
        self.rtp: RtpSession | None = None
        self.local_sdp: LocalSdp | None = None
        self.remote: RemoteMedia | None = None
        self.local_direction = "sendrecv"
        self._invite: Request | None = None  # inbound initial INVITE
        self._invite_connection: SipConnection | None = None
        self._invite_final: int | None = None  # status of the final response sent
        self._ack_timer: asyncio.TimerHandle | None = None
        self._await_ack_answer = False  # we put the offer in a 2xx: the ACK has the answer
        self._client_invite_pending = False
        self._answered_at: float | None = None

    @property
    def invite_branch(self) -> str | None:
        """The Via branch of the initial INVITE received (inbound calls)."""
        return self._invite.via_branch if self._invite is not None else None

    # -- bookkeeping ---------------------------------------------------------------------

    def media_session(self) -> RtpSession | None:
        return self.rtp

    def finish(self, state: str, detail: str, error: str | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.cancel_tasks()
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        if self.rtp is not None:
            self.rtp.close()
        self.sync_record()
        if error is not None:
            self.record.error = error
        self.state(state, detail)
        self.ctx.on_finished(self)

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
        conn = self.dialog.connection
        if conn is not None and not conn.closed:
            return conn
        host, port = self.dialog.next_hop()
        self.event("reconnect", f"{host}:{port}")
        conn = await self.ctx.transport.connect(host, port)
        self.dialog.connection = conn
        return conn

    def _respond(self, conn: SipConnection, response: Response) -> None:
        conn.send(response)

    def _reply(
        self,
        conn: SipConnection,
        request: Request,
        status: int,
        warning: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        headers = list(extra or [])
        if warning:
            headers.insert(0, lf.warning(self.ctx.ident, warning))
        tag = self.local_tag if request.to_tag is None else None
        conn.send(lf.simple_response(request, status, self.ctx.ident, tag, extra=headers))

    def _send_ack(
        self,
        conn: SipConnection,
        cseq: int,
        branch: str | None = None,
        uri: str | None = None,
        remote_tag: str | None = None,
        sdp: str | None = None,
    ) -> None:
        assert self.dialog is not None
        view = self.dialog.view()
        if remote_tag is not None:
            view = dataclasses.replace(view, remote_tag=remote_tag)
        ack = lf.request(
            "ACK",
            view,
            self.ctx.ident,
            cseq,
            branch or lf.new_branch(),
            uri=uri,
            sdp=sdp,
            contact=False,
        )
        conn.send(ack)

    # -- inbound -------------------------------------------------------------------------

    async def run_inbound(self, conn: SipConnection, invite: Request, received_at: float) -> None:
        self._invite = invite
        self._invite_connection = conn
        self.remote_tag = invite.from_tag
        conn.send(lf.trying(invite))
        self.event("invite", summary(invite))
        try:
            offer = invite.sdp()
            self.dialog = Dialog.as_uas(invite, self.local_tag, conn)
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
                conn.send(lf.provisional(invite, status, self.local_tag, self.ctx.ident))
                self.state("early", f"{status} sent")
            elif b.reject_code is not None:
                self._final_reject(b.reject_code, None, "rejected")
            else:
                self._answer(conn, invite)

    def _final_reject(self, status: int, warning: str | None, state: str) -> None:
        assert self._invite is not None and self._invite_connection is not None
        self._invite_final = status
        self.record.status_code = status
        self._reply(self._invite_connection, self._invite, status, warning)
        detail = f"{status} {lf.reason_phrase(status)}" + (f": {warning}" if warning else "")
        self.finish(state, detail, error=warning if state == "failed" else None)

    def _answer(self, conn: SipConnection, invite: Request) -> None:
        if self.remote is not None:
            self.local_direction = answer_direction(self.remote.direction)
            direction = None if self.local_direction == "sendrecv" else self.local_direction
        else:
            self.local_direction = "sendrecv"
            direction = None
            self._await_ack_answer = True
        body = self._render(direction)
        conn.send(lf.ok_with_sdp(invite, self.local_tag, self.ctx.ident, body))
        self._invite_final = 200
        self.record.status_code = 200
        self.event("answered", "200 OK sent")
        self._ack_timer = self.loop.call_later(TIMER_H_S, self._ack_timeout)

    def _ack_timeout(self) -> None:
        self._ack_timer = None
        self.event("ack_timeout", f"no ACK for the 200 OK in {TIMER_H_S:g} s")
        self.spawn(self.hangup("no ACK", final_state="failed"), "hangup")

    def on_cancel(self, conn: SipConnection, cancel: Request) -> None:
        if self._invite_final is None and self._invite is not None and not self.ended:
            self._reply(conn, cancel, 200)
            assert self._invite_connection is not None
            self._invite_final = 487
            self.record.status_code = 487
            self._reply(self._invite_connection, self._invite, 487)
            self.finish("ended", "CANCEL from remote, 487 sent")
        elif self._invite_final is not None and self._invite_final >= 300:
            self._reply(conn, cancel, 200)
        else:
            self._reply(conn, cancel, 481)

    # -- outbound ------------------------------------------------------------------------

    async def run_outbound(
        self,
        gateway: tuple[str, int],
        to_uri: str,
        from_uri: str,
        credentials: Credentials | None,
    ) -> None:
        try:
            conn = await self.ctx.transport.connect(*gateway)
        except OSError as exc:
            self.finish("failed", f"cannot connect to {gateway[0]}:{gateway[1]}", error=str(exc))
            return
        self.dialog = Dialog(
            call_id=self.call_id,
            local_uri=from_uri,
            local_tag=self.local_tag,
            remote_uri=to_uri,
            remote_tag=None,
            remote_target=to_uri,
            connection=conn,
        )
        try:
            await self._open_media()
        except OSError as exc:
            self.finish("failed", "no RTP port", error=str(exc))
            return
        offer = self._render(None)
        auth: list[tuple[str, str]] = []
        for attempt in range(2):
            cseq = self.dialog.next_cseq()
            invite = lf.request(
                "INVITE",
                self.dialog.view(),
                self.ctx.ident,
                cseq,
                lf.new_branch(),
                sdp=offer,
                uri=to_uri,
                extra=auth,
            )
            self.event("invite_sent", f"to {to_uri}")
            txn = self.ctx.transactions.send(conn, invite, self._on_provisional)
            try:
                response = await txn.final
            except (TimeoutError, ConnectionError) as exc:
                self.finish("failed", "INVITE got no final response", error=str(exc))
                return
            self.record.status_code = response.status
            if response.status < 300:
                break
            self._ack_non_2xx(conn, invite, response)
            if response.status in (401, 407) and attempt == 0 and credentials is not None:
                auth = self._authorization(invite, response, credentials)
                if auth:
                    self.dialog.remote_tag = None
                    self.event("auth_retry", f"{response.status} {response.reason}")
                    continue
            self.finish("rejected", f"{response.status} {response.reason}")
            return
        self._on_2xx_to_invite(conn, response)

    def _authorization(
        self, invite: Request, response: Response, credentials: Credentials
    ) -> list[tuple[str, str]]:
        proxy = response.status == 407
        challenge = response.headers.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        if challenge is None:
            self.event("auth_failed", "no challenge header")
            return []
        try:
            value = build_authorization(
                challenge, "INVITE", invite.uri, credentials.username, credentials.password
            )
        except (SipParseError, SipUsageError) as exc:
            self.event("auth_failed", str(exc))
            return []
        return [("PROXY-AUTHORIZATION" if proxy else "AUTHORIZATION", value)]

    def _on_provisional(self, response: Response) -> None:
        if self.ended:
            return
        self.event("provisional", f"{response.status} {response.reason}")
        if response.status > 100 and response.to_tag and self.dialog is not None:
            self.dialog.confirm_as_uac(response)
            self.state("early", f"{response.status} received")
            try:
                early = response.sdp()
            except SipParseError:
                early = None
            if early is not None:
                try:
                    self._take_remote(read_remote(early))
                except NotAcceptable as exc:
                    self.event("bad_early_sdp", exc.reason)

    def _ack_non_2xx(self, conn: SipConnection, invite: Request, response: Response) -> None:
        """RFC 3261 17.1.1.3: same branch and Request-URI as the INVITE, To from the response."""
        assert self.dialog is not None
        self._send_ack(
            conn,
            invite.cseq[0],
            branch=invite.via_branch,
            uri=invite.uri,
            remote_tag=response.to_tag,
        )

    def _on_2xx_to_invite(self, conn: SipConnection, response: Response) -> None:
        assert self.dialog is not None
        self.dialog.confirm_as_uac(response)
        self.remote_tag = self.dialog.remote_tag
        self._send_ack(conn, response.cseq[0])
        try:
            answer = response.sdp()
            if answer is None:
                raise NotAcceptable("2xx without SDP answer")
            self._take_remote(read_remote(answer))
        except (SipParseError, NotAcceptable) as exc:
            reason = exc.reason
            self.event("bad_answer", reason)
            self.spawn(self.hangup(f"bad SDP answer: {reason}", final_state="failed"), "hangup")
            return
        self.state("confirmed", f"{response.status} {response.reason}")
        self._answered()

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
            invite = lf.request(
                "INVITE",
                self.dialog.view(),
                self.ctx.ident,
                cseq,
                lf.new_branch(),
                sdp=body,
                msopaque=self.dialog.msopaque,
            )
            self.event("reinvite_sent", f"a={direction} CSeq {cseq}")
            self._client_invite_pending = True
            try:
                conn = await self._dialog_connection()
                response = await self.ctx.transactions.send(conn, invite).final
            except (TimeoutError, ConnectionError, OSError) as exc:
                self.finish("failed", "re-INVITE got no final response", error=str(exc))
                return False
            finally:
                self._client_invite_pending = False
            if self.ended:
                return False
            if response.status < 300:
                self.dialog.refresh_target(response)
                self._send_ack(conn, cseq)
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
            self._ack_non_2xx(conn, invite, response)
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
        bye = lf.request("BYE", self.dialog.view(), self.ctx.ident, cseq, lf.new_branch())
        self.event("bye_sent", why)
        try:
            conn = await self._dialog_connection()
            response = await self.ctx.transactions.send(conn, bye).final
            self.event("bye_response", f"{response.status} {response.reason}")
        except (TimeoutError, ConnectionError, OSError) as exc:
            self.event("bye_failed", str(exc))
        self.finish(
            final_state, f"BYE sent ({why})", error=why if final_state == "failed" else None
        )

    # -- requests from the peer inside the dialog ----------------------------------------

    def on_request(self, conn: SipConnection, request: Request) -> None:
        method = request.method
        if method == "ACK":
            self._on_ack(request)
            return
        if self.dialog is None:
            self._reply(conn, request, 481)
            return
        number = request.cseq[0]
        if self.dialog.remote_cseq is not None and number <= self.dialog.remote_cseq:
            self._reply(conn, request, 500, "CSeq lower than the previous request's")
            return
        self.dialog.remote_cseq = number
        if method == "BYE":
            self._reply(conn, request, 200)
            self.event("bye_received", summary(request))
            self.finish("ended", "BYE from remote")
        elif method in ("INVITE", "UPDATE"):
            self._on_offer(conn, request)
        elif method == "OPTIONS":
            conn.send(lf.options_ok(request, None, self.ctx.ident))
        elif method == "INFO":
            self._reply(conn, request, 200)
        elif method == "PRACK":
            self._reply(conn, request, 481, "no reliable provisional response is pending")
        else:
            self._reply(conn, request, 405, extra=[("ALLOW", ALLOWED)])

    def _on_ack(self, ack: Request) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if self._await_ack_answer:
            self._await_ack_answer = False
            try:
                answer = ack.sdp()
                if answer is None:
                    raise NotAcceptable("ACK carries no SDP answer to the offer in the 2xx")
                self._take_remote(read_remote(answer))
            except (SipParseError, NotAcceptable) as exc:
                self.event("bad_answer", str(exc))
                self.spawn(self.hangup("bad SDP answer in ACK", final_state="failed"), "hangup")
                return
            if self._answered_at is not None:
                self._apply_media()
        if self.ended or self._answered_at is not None or self._invite_final != 200:
            return  # ACK of a re-INVITE's 2xx, or of a non-2xx: nothing more to do
        self.state("confirmed", "ACK received")
        self._answered()

    def _on_offer(self, conn: SipConnection, request: Request) -> None:
        assert self.dialog is not None
        if request.method == "INVITE" and self._client_invite_pending:
            self._reply(conn, request, 491)
            return
        self.dialog.refresh_target(request)
        try:
            offer = request.sdp()
        except SipParseError as exc:
            self._reply(conn, request, 400, f"bad SDP: {exc.reason}")
            return
        if offer is None:
            if request.method == "INVITE":  # offerless re-INVITE: offer in 2xx, answer in ACK
                self._await_ack_answer = True
                body = self._render(
                    None if self.local_direction == "sendrecv" else self.local_direction
                )
                conn.send(lf.ok_with_sdp(request, self.local_tag, self.ctx.ident, body))
            else:
                conn.send(lf.simple_response(request, 200, self.ctx.ident, contact=True))
            return
        try:
            remote = read_remote(offer)
        except NotAcceptable as exc:
            self._reply(conn, request, 488, exc.reason)
            return
        self._take_remote(remote)
        self.local_direction = answer_direction(remote.direction)
        body = self._render(None if self.local_direction == "sendrecv" else self.local_direction)
        conn.send(lf.ok_with_sdp(request, self.local_tag, self.ctx.ident, body))
        self.event("remote_offer", f"{request.method} a={remote.direction}")
        self._apply_media()
        if self.record.state in ("confirmed", "held"):
            held = remote.direction != "sendrecv"
            self.state("held" if held else "confirmed", f"remote {request.method}")
