"""``EchoCall`` (UAS): a call from the gateway to an echo destination (the free test
number +17606604690 on the Skype for SIP listener, ``echo123`` on the Skype for Asterisk
one): 100 Trying, 180 Ringing after ``ring_delay_ms``, 200 OK with the SDP answer after
``answer_delay_ms`` (retransmitted until the ACK), then every RTP packet is echoed
(:class:`~harness.peers.skype.echo.EchoSession`); a BYE after ``echo_hangup_after_ms``
counted from the ACK, or the caller's BYE."""

from __future__ import annotations

from harness.peers.common.offer_answer import NotAcceptable, answer_direction
from harness.peers.common.rtp_session import RtpSession
from harness.peers.skype import wire
from harness.peers.skype.calls import (
    CallContext,
    RemoteAudio,
    ServerTransaction,
    SkypeCall,
    read_audio,
)
from harness.peers.skype.echo import EchoSession
from harness.peers.skype.rules import CodecChoice, choose_codec
from harness.sip.dialog import Dialog
from harness.sip.errors import SipParseError


class EchoCall(SkypeCall):
    """The echo test service answering a call (UAS)."""

    def __init__(
        self, ctx: CallContext, txn: ServerTransaction, choice: CodecChoice, remote: RemoteAudio
    ) -> None:
        dialog = Dialog.as_uas(txn.request, wire.new_tag())  # Contact validated by the service
        super().__init__(ctx, dialog, txn.source)
        self.txn = txn
        self.choice = choice
        self.remote = remote
        self.media: EchoSession | None = None
        user = self.record.destination or "echo"
        self.contact = f"<sip:{user}@{wire.hostport(ctx.address, self.endpoint.port)}>"
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
        self.set_final(status, text)
        self.finish(state, text, error=warning if state == "failed" else None)

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
        self.set_final(487, "487 Request Terminated")
        self.finish("ended", "CANCEL from remote, 487 sent")

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
