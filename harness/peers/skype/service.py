"""The simulated Skype for SIP service (sip.skype.com), standing in for the real one.

Run ``python3 -m harness.peers.skype --help``. Standard library only (plus the sans-I/O
``harness.sip`` and ``harness.media`` layers and the Mediation simulator's shared peer
modules), so it runs in a bare python3 container. One line per SIP message and per event
goes to stdout.

Two UDP listeners (seed, "Configure Asterisk for Skype"):

- ``--sip-port`` (5060), Skype for SIP: REGISTER with digest authentication for the SIP
  profile (``register => 99051000107808:<password>@sip.skype.com/99051000107808``);
  INVITEs from the gateway are challenged (407), then must carry the profile number as
  caller ID, an E.164 destination and G.729/PCMU/PCMA; the free test number
  +17606604690 answers and echoes the audio. Calls from Skype to the gateway are placed
  through the control API (``insecure = invite``: no authentication towards Asterisk).
- ``--sfa-port`` (5070), the Skype network behind the withdrawn Skype for Asterisk
  channel driver: no authentication, Skype names as destinations, ``echo123`` echoes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.peers.common.behaviour import BehaviourError
from harness.peers.common.cli import from_args, hostport, port_range, run, serve_until_signalled
from harness.peers.common.control import ControlServer, HttpError
from harness.peers.common.log import LineLog
from harness.peers.common.offer_answer import NotAcceptable
from harness.peers.common.records import add_event, set_state
from harness.peers.common.rtp_session import EventFn, RtpSession
from harness.peers.common.salvage import salvage_request
from harness.peers.common.udp import Address, ServerTransaction, UdpSipEndpoint, mark_received
from harness.peers.skype import wire
from harness.peers.skype.api import SkypeApi
from harness.peers.skype.calls import (
    CallContext,
    EchoCall,
    GatewayCall,
    RemoteAudio,
    SkypeCall,
    read_audio,
)
from harness.peers.skype.echo import EchoSession
from harness.peers.skype.records import SkypeCallRecord, SkypeCallStore
from harness.peers.skype.registrar import DigestAuthority, Registrar
from harness.peers.skype.rules import (
    CodecChoice,
    SkypeBehaviour,
    caller_identity,
    choose_codec,
    is_e164,
    is_skype_name,
    same_number,
    uri_user,
)
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.message import Request, Response
from harness.sip.uri import parse_name_addrs

LINGER_S = 32.0  # keep an ended call / attempt to absorb late ACKs, CANCELs, retries
CHALLENGE_WAIT_S = 32.0  # an INVITE challenged with 407 and never retried: rejected then

#: what the service writes when it refuses a call (status from the behaviour)
E164_WARNING = "Destination must be in E.164 format"
UNKNOWN_NUMBER_WARNING = "Number not reachable: only the echo test numbers answer here"
CHANNELS_WARNING = "All {n} SIP channels of the profile are in use"
CODEC_WARNING = "Incompatible media format: offer G.729, PCMU or PCMA"
NO_OFFER_WARNING = "INVITE without SDP (delayed offer) is not supported"
AUTH_WARNING = "Authentication failed"
SKYPE_NAME_WARNING = "Destination must be a Skype name or an E.164 number"
UNKNOWN_NAME_WARNING = "Skype user not found"


@dataclass(frozen=True)
class Config:
    address: str = "192.168.100.30"
    bind: str = "0.0.0.0"
    sip_port: int = 5060
    sfa_port: int = 5070
    control_port: int = 8070
    control_bind: str = "0.0.0.0"
    rtp_ports: tuple[int, int] = (41000, 41199)
    media_address: str | None = None
    domain: str = "sip.skype.com"
    gateway: tuple[str, int] = ("192.168.100.10", 5060)
    profile: str = "99051000107808"
    password: str = "skype-sip-password"
    channels: int = 2
    tone_hz: float = 1000.0
    t1: float = 0.5
    verbose: bool = False


@dataclass
class Attempt:
    """The INVITEs of one (Call-ID, From tag): a 407 and the authenticated retry share a
    record."""

    record: SkypeCallRecord
    call: SkypeCall | None = None
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)


class Rejected(Exception):
    def __init__(
        self, status: int, warning: str, code: int = 399, reason: str | None = None
    ) -> None:
        super().__init__(warning)
        self.status = status
        self.warning = warning  # "" : no Warning header
        self.code = code
        self.reason = reason or wire.reason_phrase(status)


class SkypeService:
    """Owns both SIP listeners, the registrar, the calls, the RTP ports and the API."""

    def __init__(self, config: Config, log: LineLog | None = None) -> None:
        self.config = config
        self.log = log or LineLog("skype")
        self.store = SkypeCallStore()
        self.base_behaviour = SkypeBehaviour(channels=config.channels)
        self.behaviour = self.base_behaviour
        self.authority = DigestAuthority(config.domain, {config.profile: config.password})
        self.registrar = Registrar(self.authority, config.domain)
        self.sip = UdpSipEndpoint(self, self.log, "SIP", t1=config.t1, verbose=config.verbose)
        self.sfa = UdpSipEndpoint(self, self.log, "SFA", t1=config.t1, verbose=config.verbose)
        self.control = ControlServer(SkypeApi(self), self.log)
        self.sip_port = config.sip_port
        self.sfa_port = config.sfa_port
        self.control_port = config.control_port
        self._calls: dict[tuple[str, str], SkypeCall] = {}  # (Call-ID, local tag)
        self._attempts: dict[tuple[str, str | None], Attempt] = {}  # (Call-ID, From tag)
        self._rtp_used: set[int] = set()
        self._registered = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        c = self.config
        self.sip_port = await self.sip.open(c.bind, c.sip_port)
        self.sfa_port = await self.sfa.open(c.bind, c.sfa_port)
        self.control_port = await self.control.start(c.control_bind, c.control_port)
        self.log(
            f"listening: Skype for SIP UDP {c.bind}:{self.sip_port} (domain {c.domain}, "
            f"profile {c.profile}, {c.channels} channels), Skype for Asterisk UDP "
            f"{c.bind}:{self.sfa_port}, control HTTP {c.control_bind}:{self.control_port}, "
            f"RTP {c.rtp_ports[0]}-{c.rtp_ports[1]}, gateway {c.gateway[0]}:{c.gateway[1]}, "
            f"advertised address {c.address}"
        )

    async def close(self) -> None:
        for call in list(self._calls.values()):
            call.finish("ended", "simulator shut down")
        for attempt in self._attempts.values():
            if attempt.expiry is not None:
                attempt.expiry.cancel()
        await self.control.close()
        self.sip.close()
        self.sfa.close()

    # -- media -------------------------------------------------------------------------------

    def _context(self) -> CallContext:
        return CallContext(
            store=self.store,
            log=self.log,
            domain=self.config.domain,
            address=self.config.address,
            media_address=self.config.media_address or self.config.address,
            open_echo=self._open_echo,
            open_rtp=self._open_rtp,
            on_finished=self._call_finished,
        )

    async def _open_echo(self, on_event: EventFn) -> EchoSession:
        return await EchoSession.open(
            self.config.bind, self.config.rtp_ports, self._rtp_used, on_event=on_event
        )

    async def _open_rtp(self, on_event: EventFn) -> RtpSession:
        return await RtpSession.open(
            self.config.bind,
            self.config.rtp_ports,
            self._rtp_used,
            on_event=on_event,
            tone=wire.CodecTone("PCMU", self.config.tone_hz),
        )

    # -- records -----------------------------------------------------------------------------

    def sync_records(self) -> None:
        for call in self._calls.values():
            if not call.ended:
                call.sync_record()

    def registrations_json(self, everything: bool = False) -> list[dict[str, Any]]:
        """Successful registrations (200 binding a contact), or every REGISTER answered."""
        return [
            r.to_json()
            for r in self.registrar.history
            if everything or (r.status == 200 and (r.expires_granted or 0) > 0)
        ]

    def bindings_json(self) -> list[dict[str, Any]]:
        now = time.time()
        return [
            {
                "aor": b.aor,
                "contact": b.contact,
                "expires_in": b.remaining(now),
                "expires_at": b.expires_at,
                "registered_at": b.registered_at,
                "source": b.source,
                "call_id": b.call_id,
                "cseq": b.cseq,
            }
            for b in self.registrar.current(now)
        ]

    def clear_registrations(self) -> int:
        count = len(self.registrar.history)
        self.registrar.clear()
        return count

    def _successful_registrations(self) -> int:
        return sum(
            1 for r in self.registrar.history if r.status == 200 and (r.expires_granted or 0) > 0
        )

    async def wait_registrations(self, count: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._successful_registrations() < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._registered
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return self._successful_registrations() >= count
        return True

    def _call_finished(self, call: SkypeCall) -> None:
        def forget() -> None:
            if self._calls.get((call.call_id, call.local_tag)) is call:
                del self._calls[(call.call_id, call.local_tag)]

        asyncio.get_running_loop().call_later(LINGER_S, forget)

    def _active(self, service: str) -> int:
        return sum(1 for c in self._calls.values() if not c.ended and c.record.service == service)

    # -- calls from Skype to the gateway -----------------------------------------------------

    def place_call(self, body: dict[str, Any]) -> SkypeCallRecord:
        """POST /calls: an INVITE from Skype to the gateway, now; the id comes back at once."""
        options = dict(body)
        to = options.pop("to", None) or self.config.profile
        if not isinstance(to, str) or not re.fullmatch(r"\+?[0-9A-Za-z._-]{1,64}", to):
            raise BehaviourError("to", "must be the number or user to call (the SIP profile)")
        sender = options.pop("from", None)
        if sender is not None and (
            not isinstance(sender, str) or not re.fullmatch(r"\+?[0-9A-Za-z._-]{1,64}", sender)
        ):
            raise BehaviourError("from", "must be a number (+14255550100) or a Skype name")
        anonymous = options.pop("anonymous", sender is None)
        if not isinstance(anonymous, bool):
            raise BehaviourError("anonymous", "must be true or false")
        use_registration = options.pop("use_registration", False)
        if not isinstance(use_registration, bool):
            raise BehaviourError("use_registration", "must be true or false")
        behaviour = self.behaviour.merged(options)
        if self._active("sip") >= behaviour.channels:
            raise HttpError(409, f"all {behaviour.channels} SIP channels are in use")
        domain = self.config.domain
        gw_host, gw_port = self.config.gateway
        destination: Address = (gw_host, gw_port)
        request_uri = f"sip:{to}@{wire.hostport(gw_host, gw_port)}"
        if use_registration:
            binding = self.registrar.binding_for(to, time.time())
            if binding is None:
                raise HttpError(409, f"use_registration: {to} is not registered")
            request_uri = binding.contact
            host, _, port = binding.source.rpartition(":")
            destination = (host, int(port))
        if anonymous:
            from_value = '"Anonymous" <sip:anonymous@anonymous.invalid>'
            caller, contact_user = "anonymous", None
        else:
            caller = sender or ""
            if re.fullmatch(r"[0-9]+", caller):
                caller = "+" + caller
            from_value = f"<sip:{caller}@{domain}>"
            contact_user = caller
        to_value = f"<sip:{to}@{domain}>"
        call_id = wire.new_call_id(domain)
        record = self.store.new(call_id, "outbound")
        record.service = "sip"
        record.from_uri, record.to_uri, record.request_uri = from_value, to_value, request_uri
        record.destination, record.caller_id, record.anonymous = to, caller, anonymous
        tag = wire.new_tag()
        call = GatewayCall(
            self._context(),
            record,
            behaviour,
            self.sip,
            call_id,
            tag,
            destination,
            request_uri,
            from_value,
            to_value,
            contact_user,
        )
        self._calls[(call_id, tag)] = call
        call.event("place_call", f"to {request_uri} from {from_value}")
        call.spawn(call.run(), "call to the gateway")
        return record

    # -- SIP ---------------------------------------------------------------------------------

    def on_request(self, endpoint: UdpSipEndpoint, txn: ServerTransaction) -> None:
        try:
            self._dispatch(endpoint, txn)
        except Exception as exc:  # noqa: BLE001 - answer 500 rather than stay silent
            self.log(f"{endpoint.name} handler error for {txn.request.method}: {exc!r}")
            if txn.final_status is None:
                self._respond(txn, 500, warning=f"internal error: {exc!r}")

    def _dispatch(self, endpoint: UdpSipEndpoint, txn: ServerTransaction) -> None:
        request = txn.request
        method = request.method
        call_id = request.call_id or ""
        to_tag = request.to_tag
        if to_tag is not None and method != "CANCEL":
            call = self._calls.get((call_id, to_tag))
            if call is not None and not call.ended:
                call.on_request(txn)
            else:
                self._respond(txn, 481)
            return
        if method == "CANCEL":
            self._on_cancel(endpoint, txn)
        elif method == "INVITE":
            self._on_invite(endpoint, txn)
        elif method == "REGISTER" and endpoint is self.sip:
            self._on_register(txn)
        elif method == "OPTIONS":
            self._respond(txn, 200, extra=[("Accept", wire.SDP_TYPE)])
        elif method in ("BYE", "PRACK", "UPDATE", "INFO"):
            self._respond(txn, 481)
        else:
            self._respond(txn, 405, extra=[("Allow", wire.ALLOW)])

    def on_ack(self, endpoint: UdpSipEndpoint, ack: Request, source: Address) -> None:
        call = self._calls.get((ack.call_id or "", ack.to_tag or ""))
        if call is not None:
            call.on_ack(ack)
        else:
            self.log(f"{endpoint.name} ACK outside any dialog absorbed")

    def on_stray_response(
        self, endpoint: UdpSipEndpoint, response: Response, source: Address
    ) -> None:
        try:
            method = response.cseq[1]
        except SipParseError:
            method = "?"
        if method == "INVITE" and 200 <= response.status < 300:
            call = self._calls.get((response.call_id or "", response.from_tag or ""))
            if call is not None:
                call.on_stray_2xx(response)
                return
        self.log(f"{endpoint.name} stray response dropped: {response.status} {response.reason}")

    def on_invalid(
        self, endpoint: UdpSipEndpoint, raw: bytes, error: SipParseError, source: Address
    ) -> None:
        request = salvage_request(raw)
        if request is None:
            self.log(f"{endpoint.name} invalid message dropped (cannot answer it): {error.reason}")
            return
        extra = [wire.warning(self.config.domain, error.reason)]
        try:
            response = wire.response(request, 400, to_tag=wire.new_tag(), extra=extra)
        except (SipParseError, SipUsageError):
            try:  # a To header too broken to take a tag: answer without one
                response = wire.response(request, 400, extra=extra)
            except (SipParseError, SipUsageError) as exc:
                self.log(f"{endpoint.name} invalid message dropped: {exc}")
                return
        try:
            target = mark_received(request, source)
        except (SipParseError, ValueError):
            target = source
        endpoint.send(response, target)

    def _respond(
        self,
        txn: ServerTransaction,
        status: int,
        *,
        warning: str | None = None,
        code: int = 399,
        extra: list[tuple[str, str]] | None = None,
        to_tag: str | None = None,
        reason: str | None = None,
    ) -> Response:
        headers = list(extra or [])
        if warning:
            headers.insert(0, wire.warning(self.config.domain, warning, code))
        tag = (
            to_tag
            if to_tag is not None
            else (wire.new_tag() if txn.request.to_tag is None else None)
        )
        response = wire.response(txn.request, status, to_tag=tag, reason=reason, extra=headers)
        txn.respond(response)
        return response

    # -- REGISTER ----------------------------------------------------------------------------

    def _on_register(self, txn: ServerTransaction) -> None:
        b = self.behaviour
        source = f"{txn.source[0]}:{txn.source[1]}"
        outcome = self.registrar.register(
            txn.request, source, time.time(), b.max_expires, b.min_expires
        )
        self._respond(txn, outcome.status, warning=outcome.warning, extra=outcome.headers)
        record = outcome.record
        if record is not None:
            self.log(
                f"EVENT register {record.status} {record.reason} aor={record.aor} "
                f"contact={record.contact} expires={record.expires_granted}"
            )
        if outcome.status == 200:
            self._registered.set()
            self._registered = asyncio.Event()

    # -- INVITE ------------------------------------------------------------------------------

    def _attempt(self, request: Request, service: str) -> Attempt | None:
        key = (request.call_id or "", request.from_tag)
        attempt = self._attempts.get(key)
        if attempt is not None and attempt.call is not None and not attempt.call.ended:
            return None  # same Call-ID and From tag, new transaction: a merged request
        if attempt is None or attempt.record.finished:
            record = self.store.new(request.call_id or "", "inbound")
            record.service = service
            attempt = Attempt(record)
            self._attempts[key] = attempt
            asyncio.get_running_loop().call_later(
                LINGER_S + CHALLENGE_WAIT_S, self._forget_attempt, key, attempt
            )
        record = attempt.record
        record.from_uri = request.headers.get("From")
        record.to_uri = request.headers.get("To")
        record.request_uri = request.uri
        return attempt

    def _forget_attempt(self, key: tuple[str, str | None], attempt: Attempt) -> None:
        if (
            self._attempts.get(key) is attempt
            and (attempt.call is None or attempt.call.ended)
            and attempt.record.finished
        ):
            del self._attempts[key]
        elif self._attempts.get(key) is attempt:  # still in use: look again later
            asyncio.get_running_loop().call_later(LINGER_S, self._forget_attempt, key, attempt)

    def _event(self, record: SkypeCallRecord, name: str, detail: str = "") -> None:
        add_event(self.store, record, name, detail, log=self.log)

    def _reject(self, txn: ServerTransaction, attempt: Attempt, exc: Rejected) -> None:
        if attempt.expiry is not None:
            attempt.expiry.cancel()
            attempt.expiry = None
        self._respond(
            txn, exc.status, warning=exc.warning or None, code=exc.code, reason=exc.reason
        )
        record = attempt.record
        text = f"{exc.status} {exc.reason}" + (f": {exc.warning}" if exc.warning else "")
        record.status_code = exc.status
        record.reason = text
        set_state(self.store, record, "rejected", text, log=self.log)

    def _on_invite(self, endpoint: UdpSipEndpoint, txn: ServerTransaction) -> None:
        request = txn.request
        service = "sip" if endpoint is self.sip else "sfa"
        attempt = self._attempt(request, service)
        if attempt is None:
            self._respond(txn, 482, warning="Merged request: this call is already in progress")
            return
        record = attempt.record
        self._event(record, "invite", f"{request.uri} from {txn.source[0]}:{txn.source[1]}")
        try:
            if service == "sip" and not self._authenticated(txn, attempt):
                return
            self._respond_trying(txn)
            choice, remote = self._admit(request, record, service)
        except Rejected as exc:
            self._reject(txn, attempt, exc)
            return
        record.codec, record.payload_type = choice.name, choice.payload_type
        record.telephone_event_pt = choice.telephone_event_pt
        call = EchoCall(
            self._context(),
            record,
            self.behaviour,
            endpoint,
            txn,
            choice,
            remote,
            wire.new_tag(),
        )
        self._calls[(call.call_id, call.local_tag)] = call
        attempt.call = call
        call.event("accepted", f"echo {record.destination}, {choice.name}")
        call.spawn(call.run(asyncio.get_running_loop().time()), "echo call")

    def _respond_trying(self, txn: ServerTransaction) -> None:
        txn.respond(wire.response(txn.request, 100))

    def _authenticated(self, txn: ServerTransaction, attempt: Attempt) -> bool:
        """False when a 407 went out (the caller retries with credentials);
        Rejected on bad credentials."""
        if not self.behaviour.challenge_invites:
            return True
        record = attempt.record
        auth = self.authority.check(txn.request, "Proxy-Authorization")
        if auth.kind in ("missing", "stale"):
            stale = auth.kind == "stale"
            challenge = self.authority.challenge(stale=stale)
            self._respond(txn, 407, extra=[("Proxy-Authenticate", challenge)])
            record.challenges += 1
            record.status_code = 407
            record.reason = "407 Proxy Authentication Required"
            self._event(record, "challenge", "407 sent" + (" (stale nonce)" if stale else ""))
            if attempt.expiry is not None:
                attempt.expiry.cancel()
            attempt.expiry = asyncio.get_running_loop().call_later(
                CHALLENGE_WAIT_S, self._challenge_expired, attempt
            )
            return False
        if attempt.expiry is not None:
            attempt.expiry.cancel()
            attempt.expiry = None
        if auth.kind == "malformed":
            raise Rejected(400, f"Bad Proxy-Authorization: {auth.detail}")
        if not auth.ok:
            raise Rejected(403, AUTH_WARNING)
        self._event(record, "authenticated", f"user {auth.username}")
        return True

    def _challenge_expired(self, attempt: Attempt) -> None:
        attempt.expiry = None
        record = attempt.record
        if record.finished or attempt.call is not None:
            return
        text = "407 Proxy Authentication Required: no authenticated retry"
        record.reason = text
        set_state(self.store, record, "rejected", text, log=self.log)

    def _admit(
        self, request: Request, record: SkypeCallRecord, service: str
    ) -> tuple[CodecChoice, RemoteAudio]:
        """The service's rules for an INVITE; Rejected with the status to send."""
        b = self.behaviour
        user = uri_user(request.uri)
        record.destination = user
        if service == "sip":
            caller, header = caller_identity(request)
            record.caller_id, record.caller_id_header = caller, header
            status = b.reject_status_for_caller_id
            if status is not None and not same_number(caller, self.config.profile):
                raise Rejected(status, b.caller_id_warning, reason=b.reject_reason_for_caller_id)
            if self._active("sip") >= b.channels:
                raise Rejected(b.limit_status, CHANNELS_WARNING.format(n=b.channels))
            if not is_e164(user):
                raise Rejected(404, E164_WARNING)
            if user not in b.echo_numbers:
                raise Rejected(b.unknown_number_status, UNKNOWN_NUMBER_WARNING)
        else:
            caller, header = caller_identity(request)
            record.caller_id, record.caller_id_header = caller, header
            if b.sfa_channels is not None and self._active("sfa") >= b.sfa_channels:
                raise Rejected(
                    b.limit_status, f"All {b.sfa_channels} Skype for Asterisk licences in use"
                )
            if is_e164(user):
                if user not in b.echo_numbers:
                    raise Rejected(b.unknown_number_status, UNKNOWN_NUMBER_WARNING)
            elif is_skype_name(user):
                assert user is not None
                if user.lower() not in {n.lower() for n in b.sfa_echo_names}:
                    raise Rejected(b.unknown_name_status, UNKNOWN_NAME_WARNING)
            else:
                raise Rejected(404, SKYPE_NAME_WARNING)
        return self._media(request)

    def _media(self, request: Request) -> tuple[CodecChoice, RemoteAudio]:
        try:
            offer = request.sdp()
        except SipParseError as exc:
            raise Rejected(400, f"Bad SDP: {exc.reason}") from None
        if offer is None:
            raise Rejected(488, NO_OFFER_WARNING)
        try:
            remote = read_audio(offer)
            choice = choose_codec(remote.audio)
        except NotAcceptable as exc:
            raise Rejected(488, exc.reason, code=304) from None
        except SipParseError as exc:
            raise Rejected(400, f"Bad SDP: {exc.reason}") from None
        if choice is None:
            raise Rejected(488, CODEC_WARNING, code=305)
        contact = request.headers.get("Contact")
        try:
            if contact is None:
                raise SipParseError("INVITE has no Contact header")
            parse_name_addrs(contact)
        except SipParseError as exc:
            raise Rejected(400, f"Bad Contact: {exc.reason}") from None
        return choice, remote

    def _on_cancel(self, endpoint: UdpSipEndpoint, txn: ServerTransaction) -> None:
        request = txn.request
        invite_txn = endpoint.find_invite(request)
        if invite_txn is None:
            self._respond(txn, 481)
            return
        attempt = self._attempts.get((request.call_id or "", request.from_tag))
        call = attempt.call if attempt is not None else None
        if isinstance(call, EchoCall) and not call.ended:
            call.on_cancel(txn)
        else:
            self._respond(txn, 200)  # the INVITE already has its final response


# -- command line ---------------------------------------------------------------------------


def _profile(text: str) -> str:
    if not re.fullmatch(r"[0-9A-Za-z._+-]{1,64}", text):
        raise argparse.ArgumentTypeError(f"not a SIP profile user name: {text!r}")
    return text


def _channels(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of channels, got {text!r}")
    return int(text)


def _t1(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.01 <= value <= 10:
        raise argparse.ArgumentTypeError("T1 must be between 0.01 and 10 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m harness.peers.skype",
        description="Simulated Skype for SIP service (sip.skype.com) over UDP: REGISTER "
        "with digest auth, calls to the echo test number +17606604690 (407 challenge, "
        "caller ID, E.164 and codec checks, channel limit), a Skype for Asterisk listener "
        "(echo123), calls from Skype to the gateway, and a JSON control API (GET /health, "
        "GET|PUT|DELETE /behaviour, GET|DELETE /registrations, GET|POST|DELETE /calls, "
        "GET /calls/<id>|last?wait=ended).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = Config()
    p.add_argument("--address", default=d.address, help="address advertised in Via, Contact, SDP")
    p.add_argument("--bind", default=d.bind, help="address to bind SIP and RTP sockets to")
    p.add_argument("--sip-port", type=int, default=d.sip_port, help="Skype for SIP UDP port")
    p.add_argument(
        "--sfa-port",
        type=int,
        default=d.sfa_port,
        help="Skype for Asterisk (Skype network) UDP port",
    )
    p.add_argument("--control-port", type=int, default=d.control_port, help="control API HTTP port")
    p.add_argument("--control-bind", default=d.control_bind, help="control API bind address")
    p.add_argument(
        "--rtp-ports",
        type=port_range,
        default=d.rtp_ports,
        help="RTP port range FIRST-LAST (even RTP ports, RTCP = RTP+1); 0-0: any",
    )
    p.add_argument(
        "--media-address", default=None, help="address in SDP c= and o= (default: --address)"
    )
    p.add_argument("--domain", default=d.domain, help="SIP domain and digest realm")
    p.add_argument(
        "--gateway",
        type=hostport,
        default=d.gateway,
        help="HOST:PORT of the gateway (Asterisk) for calls from Skype, over UDP",
    )
    p.add_argument("--profile", type=_profile, default=d.profile, help="SIP profile user name")
    p.add_argument("--password", default=d.password, help="SIP profile password")
    p.add_argument("--channels", type=_channels, default=d.channels, help="concurrent SIP channels")
    p.add_argument("--tone-hz", type=float, default=d.tone_hz, help="tone sent on calls from Skype")
    p.add_argument("--t1", type=_t1, default=d.t1, help="RFC 3261 T1 in seconds (retransmissions)")
    p.add_argument("--verbose", action="store_true", help="also log every SIP message in full")
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    return from_args(Config, args)


async def serve(config: Config) -> None:
    await serve_until_signalled(SkypeService(config))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run("skype", serve(config_from_args(args)))


if __name__ == "__main__":
    sys.exit(main())
