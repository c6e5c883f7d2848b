"""``GatewayCall`` (UAC): a call from Skype to the gateway (control API ``POST /calls``):
INVITE with G.729/PCMU/PCMA/telephone-event, 18x, 2xx then ACK (re-sent for every
retransmitted 2xx) or a non-2xx (ACKed by the INVITE transaction), then an
:class:`~harness.peers.common.rtp_session.RtpSession` sends a 1 kHz tone every 20 ms in the
answered codec; BYE after ``hangup_after_ms`` or the gateway's BYE; CANCEL after
``cancel_after_ms`` when still unanswered."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from harness.peers.common.behaviour import BehaviourError
from harness.peers.common.endpoint import Address
from harness.peers.common.offer_answer import NotAcceptable, answer_direction
from harness.peers.common.rtp_session import RtpSession
from harness.peers.skype import wire
from harness.peers.skype.calls import (
    CallContext,
    ServerTransaction,
    SkypeCall,
    read_audio,
)
from harness.peers.skype.rules import choose_codec, codec_name
from harness.sip.builder import make_ack, make_cancel, with_tag
from harness.sip.dialog import Dialog
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.message import Request, Response
from harness.sip.sdp import SessionDescription
from harness.sip.uri import NameAddr

_NAME = r"\+?[0-9A-Za-z._-]{1,64}"


@dataclass(frozen=True)
class CallRequest:
    """What ``POST /calls`` asks for: whom to call, as whom, and behaviour overrides."""

    to: str
    sender: str | None
    anonymous: bool
    use_registration: bool
    options: dict[str, Any]
    # "sip": Skype for SIP's service (port 5060); "sfa": the Skype network behind the
    # withdrawn Skype for Asterisk (port 5070), calling the business account's number
    via: str = "sip"

    @classmethod
    def parse(cls, body: dict[str, Any], profile: str) -> CallRequest:
        options = dict(body)
        to = options.pop("to", None) or profile
        if not isinstance(to, str) or not re.fullmatch(_NAME, to):
            raise BehaviourError("to", "must be the number or user to call (the SIP profile)")
        sender = options.pop("from", None)
        if sender is not None and (not isinstance(sender, str) or not re.fullmatch(_NAME, sender)):
            raise BehaviourError("from", "must be a number (+14255550100) or a Skype name")
        anonymous = options.pop("anonymous", sender is None)
        if not isinstance(anonymous, bool):
            raise BehaviourError("anonymous", "must be true or false")
        use_registration = options.pop("use_registration", False)
        if not isinstance(use_registration, bool):
            raise BehaviourError("use_registration", "must be true or false")
        via = options.pop("via", "sip")
        if via not in ("sip", "sfa"):
            raise BehaviourError("via", "must be 'sip' (Skype for SIP) or 'sfa' (Skype for "
                                 "Asterisk)")
        if via == "sfa" and use_registration:
            raise BehaviourError("via", "Skype for Asterisk calls the gateway directly: no "
                                 "use_registration")
        return cls(to, sender, anonymous, use_registration, options, via)

    def caller(self, domain: str) -> tuple[str, str, str | None]:
        """The From value, the caller ID and the Contact user (none when anonymous)."""
        if self.anonymous:
            return '"Anonymous" <sip:anonymous@anonymous.invalid>', "anonymous", None
        caller = self.sender or ""
        if re.fullmatch(r"[0-9]+", caller):
            caller = "+" + caller
        return f"<sip:{caller}@{domain}>", caller, caller


def uac_dialog(call_id: str, request_uri: str, from_value: str, to_value: str) -> Dialog:
    """The dialog of a new call from Skype (a fresh local tag), before the answer."""
    local_tag = wire.new_tag()
    return Dialog.as_uac(
        call_id,
        str(NameAddr.parse(from_value).uri),
        local_tag,
        str(NameAddr.parse(to_value).uri),
        target=request_uri,
        local_party=with_tag(from_value, local_tag),
        remote_party=to_value,
    )


class GatewayCall(SkypeCall):
    """A call from Skype to the gateway (UAC)."""

    def __init__(
        self, ctx: CallContext, dialog: Dialog, gateway: Address, contact_user: str | None
    ) -> None:
        super().__init__(ctx, dialog, gateway)
        self.request_uri = dialog.remote_target
        user = f"{contact_user}@" if contact_user else ""
        self.contact = f"<sip:{user}{wire.hostport(ctx.address, self.endpoint.port)}>"
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
            self.set_final(response.status, reason)
            if self._cancel_sent and response.status == 487:
                self.finish("ended", "cancelled: 487 received")
            else:
                self.finish("rejected", text)
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
        self.dialog.confirm(response)
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
        if not self.take_answer(response, "2xx without SDP answer", self._use_answer):
            return
        self.state("confirmed", f"{response.status} {response.reason}")
        b = self.behaviour
        if b.hangup_after_ms is not None:
            self.spawn(self.hangup_later(b.hangup_after_ms, "hangup_after_ms"), "hangup")
        if b.dtmf:
            self.spawn(self._dtmf(b.dtmf, b.dtmf_after_ms), "dtmf")

    def _use_answer(self, answer: SessionDescription) -> None:
        assert self.rtp is not None
        remote = read_audio(answer)
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
