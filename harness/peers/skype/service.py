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

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.peers.common.cli import simulator_main
from harness.peers.common.control import ControlServer, HttpError
from harness.peers.common.endpoint import Address
from harness.peers.common.log import LineLog
from harness.peers.common.records import add_event, set_state
from harness.peers.common.rtp_session import EventFn
from harness.peers.common.salvage import salvage_request
from harness.peers.common.simulator import LINGER_S, Simulator
from harness.peers.common.udp import UdpSipEndpoint
from harness.peers.skype import wire
from harness.peers.skype.admission import AUTH_WARNING, Rejected, admit
from harness.peers.skype.api import SkypeApi
from harness.peers.skype.calls import (
    CallContext,
    Endpoint,
    ServerTransaction,
    SkypeCall,
)
from harness.peers.skype.config import Config, build_parser, config_from_args
from harness.peers.skype.echo import EchoSession
from harness.peers.skype.echo_call import EchoCall
from harness.peers.skype.gateway_call import CallRequest, GatewayCall, uac_dialog
from harness.peers.skype.records import SkypeCallRecord, SkypeCallStore
from harness.peers.skype.registrar import DigestAuthority, Registrar
from harness.peers.skype.rules import (
    SkypeBehaviour,
)
from harness.rtp.tone import ToneGenerator
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.message import Request, Response

CHALLENGE_WAIT_S = 32.0  # an INVITE challenged with 407 and never retried: rejected then

__all__ = ["Config", "SkypeService", "build_parser", "config_from_args", "main"]


@dataclass
class Attempt:
    """The INVITEs of one (Call-ID, From tag): a 407 and the authenticated retry share a
    record."""

    record: SkypeCallRecord
    call: SkypeCall | None = None
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)


class SkypeService(Simulator[SkypeCall, Address]):
    """Owns both SIP listeners, the registrar, the calls, the RTP ports and the API."""

    context_type = CallContext
    allow = ("Allow", wire.ALLOW)
    config: Config
    store: SkypeCallStore

    def __init__(self, config: Config, log: LineLog | None = None) -> None:
        super().__init__(config, log or LineLog("skype"), SkypeCallStore())
        self.base_behaviour = SkypeBehaviour(channels=config.channels)
        self.behaviour = self.base_behaviour
        self.authority = DigestAuthority(config.domain, {config.profile: config.password})
        self.registrar = Registrar(self.authority, config.domain)
        self.sip = UdpSipEndpoint(self, self.log, "SIP", t1=config.t1, verbose=config.verbose)
        self.sfa = UdpSipEndpoint(self, self.log, "SFA", t1=config.t1, verbose=config.verbose)
        self.control = ControlServer(SkypeApi(self), self.log)
        self.sfa_port = config.sfa_port
        self._attempts: dict[tuple[str, str | None], Attempt] = {}  # (Call-ID, From tag)
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
        self._finish_calls()
        for attempt in self._attempts.values():
            if attempt.expiry is not None:
                attempt.expiry.cancel()
        await self.control.close()
        self.sip.close()
        self.sfa.close()

    # -- media -------------------------------------------------------------------------------

    def _call_context(
        self, record: SkypeCallRecord, behaviour: SkypeBehaviour, endpoint: Endpoint
    ) -> CallContext:
        c = self.config
        more = {"domain": c.domain, "address": c.address, "open_echo": self._open_echo}
        ctx: CallContext = self._context(record, behaviour, endpoint=endpoint, **more)
        return ctx

    async def _open_echo(self, on_event: EventFn) -> EchoSession:
        return await EchoSession.open(
            self.config.bind, self.config.rtp_ports, self._rtp_used, on_event=on_event
        )

    def _tone(self) -> ToneGenerator:
        return wire.CodecTone("PCMU", self.config.tone_hz)

    # -- records -----------------------------------------------------------------------------

    def registrations_json(self, everything: bool = False) -> list[dict[str, Any]]:
        return self.registrar.history_json(everything)

    def bindings_json(self) -> list[dict[str, Any]]:
        return self.registrar.bindings_json(time.time())

    def clear_registrations(self) -> int:
        return self.registrar.forget()

    async def wait_registrations(self, count: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.registrar.successful() < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._registered
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return self.registrar.successful() >= count
        return True

    def _active(self, service: str) -> int:
        return sum(1 for c in self._calls.values() if not c.ended and c.record.service == service)

    # -- calls from Skype to the gateway -----------------------------------------------------

    def place_call(self, body: dict[str, Any]) -> SkypeCallRecord:
        """POST /calls: an INVITE from Skype to the gateway, now; the id comes back at once."""
        ask = CallRequest.parse(body, self.config.profile)
        to = ask.to
        behaviour = self.behaviour.merged(ask.options)
        if ask.via == "sip" and self._active("sip") >= behaviour.channels:
            raise HttpError(409, f"all {behaviour.channels} SIP channels are in use")
        domain = self.config.domain
        gw_host, gw_port = self.config.gateway
        destination: Address = (gw_host, gw_port)
        request_uri = f"sip:{to}@{wire.hostport(gw_host, gw_port)}"
        if ask.use_registration:
            binding = self.registrar.binding_for(to, time.time())
            if binding is None:
                raise HttpError(409, f"use_registration: {to} is not registered")
            request_uri = binding.contact
            host, _, port = binding.source.rpartition(":")
            destination = (host, int(port))
        from_value, caller, contact_user = ask.caller(domain)
        to_value = f"<sip:{to}@{domain}>"
        call_id = wire.new_call_id(domain)
        record = self.store.new(call_id, "outbound")
        record.service = ask.via
        record.from_uri, record.to_uri, record.request_uri = from_value, to_value, request_uri
        record.destination, record.caller_id, record.anonymous = to, caller, ask.anonymous
        dialog = uac_dialog(call_id, request_uri, from_value, to_value)
        ctx = self._call_context(record, behaviour, self.sfa if ask.via == "sfa" else self.sip)
        call = GatewayCall(ctx, dialog, destination, contact_user)
        self._calls[(call_id, call.local_tag)] = call
        call.event("place_call", f"to {request_uri} from {from_value}")
        call.spawn(call.run(), "call to the gateway")
        return record

    # -- SIP ---------------------------------------------------------------------------------

    def on_request(self, endpoint: Endpoint, txn: ServerTransaction) -> None:
        try:
            super().on_request(endpoint, txn)
        except Exception as exc:  # noqa: BLE001 - answer 500 rather than stay silent
            self.log(f"{endpoint.name} handler error for {txn.request.method}: {exc!r}")
            if txn.final_status is None:
                self._reply(txn, 500, warning=f"internal error: {exc!r}")

    def _on_other(self, endpoint: Endpoint, txn: ServerTransaction) -> bool:
        if txn.request.method == "REGISTER" and endpoint is self.sip:
            self._on_register(txn)
            return True
        return False

    def _on_options(self, txn: ServerTransaction) -> None:
        self._reply(txn, 200, extra=[("Accept", wire.SDP_TYPE)])

    def on_response(self, endpoint: Endpoint, response: Response, source: Address) -> None:
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
        self, endpoint: Endpoint, raw: bytes, error: SipParseError, source: Address
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
        endpoint.reply(request, response, source)

    def _reply(
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
        self._reply(txn, outcome.status, warning=outcome.warning, extra=outcome.headers)
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
        self._reply(
            txn, exc.status, warning=exc.warning or None, code=exc.code, reason=exc.reason
        )
        record = attempt.record
        text = f"{exc.status} {exc.reason}" + (f": {exc.warning}" if exc.warning else "")
        record.status_code = exc.status
        record.reason = text
        set_state(self.store, record, "rejected", text, log=self.log)

    def _on_invite(self, endpoint: Endpoint, txn: ServerTransaction) -> None:
        request = txn.request
        service = "sip" if endpoint is self.sip else "sfa"
        attempt = self._attempt(request, service)
        if attempt is None:
            self._reply(txn, 482, warning="Merged request: this call is already in progress")
            return
        record = attempt.record
        self._event(record, "invite", f"{request.uri} from {txn.source[0]}:{txn.source[1]}")
        try:
            if service == "sip" and not self._authenticated(txn, attempt):
                return
            self._respond_trying(txn)
            choice, remote = admit(
                request, record, service, self.behaviour, self.config.profile, self._active
            )
        except Rejected as exc:
            self._reject(txn, attempt, exc)
            return
        record.codec, record.payload_type = choice.name, choice.payload_type
        record.telephone_event_pt = choice.telephone_event_pt
        call = EchoCall(self._call_context(record, self.behaviour, endpoint), txn, choice, remote)
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
            self._reply(txn, 407, extra=[("Proxy-Authenticate", challenge)])
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

    def _on_cancel(self, endpoint: Endpoint, txn: ServerTransaction) -> None:
        request = txn.request
        invite_txn = endpoint.find_invite(request)
        if invite_txn is None:
            self._reply(txn, 481)
            return
        attempt = self._attempts.get((request.call_id or "", request.from_tag))
        call = attempt.call if attempt is not None else None
        if isinstance(call, EchoCall) and not call.ended:
            call.on_cancel(txn)
        else:
            self._reply(txn, 200)  # the INVITE already has its final response


def main(argv: Sequence[str] | None = None) -> int:
    return simulator_main("skype", build_parser(), Config, SkypeService, argv)


if __name__ == "__main__":
    sys.exit(main())
