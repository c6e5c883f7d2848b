"""The simulated Lync Server 2010 Mediation Server: SIP over TCP, RTP, a control API.

Run ``python3 -m harness.peers.lync --help``. Standard library only (plus the
sans-I/O ``harness.sip`` and ``harness.media`` layers), so it runs in a bare python3
container. One line per SIP message and per call event goes to stdout.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from harness.peers.common.behaviour import Behaviour, BehaviourError
from harness.peers.common.cli import simulator_main
from harness.peers.common.control import ControlServer
from harness.peers.common.endpoint import SipEndpoint
from harness.peers.common.log import LineLog
from harness.peers.common.records import CallRecord, CallStore
from harness.peers.common.salvage import salvage_request
from harness.peers.common.simulator import Simulator
from harness.peers.common.tcp import SipConnection, TcpSipEndpoint
from harness.peers.lync import wire as lf
from harness.peers.lync.call import ALLOWED, Call, CallContext, Txn
from harness.peers.lync.config import Config, build_parser
from harness.peers.lync.dialling import DialPlan, NoRoute
from harness.peers.lync.faults import Faults, LyncApi
from harness.peers.lync.outbound import Credentials, OutboundCall
from harness.rtp.tone import ToneGenerator
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.uri import SipUri

CallT = TypeVar("CallT", bound=Call)

__all__ = ["Config", "MediationServer", "build_parser", "main"]


class MediationServer(Simulator[Call, SipConnection]):
    """Owns the SIP transport, the calls, the RTP ports and the control API."""

    context_type = CallContext
    allow = ("ALLOW", ALLOWED)
    config: Config

    def __init__(self, config: Config, log: LineLog | None = None) -> None:
        super().__init__(config, log or LineLog("mediation"), CallStore())
        self.base_behaviour = Behaviour()  # what PUT /behaviour merges into, DELETE restores
        self.behaviour = self.base_behaviour
        self.ident = lf.LyncIdentity(config.domain, config.address, config.sip_port)
        self.sip = TcpSipEndpoint(self, self.log, config.verbose)
        self.faults = Faults()  # what a load run tells it to break (PUT /faults)
        self.control = ControlServer(LyncApi(self, self.faults), self.log)
        self._by_remote: dict[tuple[str, str | None], Call] = {}  # (Call-ID, remote tag)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        c = self.config
        self.sip_port = await self.sip.listen(c.bind, c.sip_port)
        self.ident = lf.LyncIdentity(c.domain, c.address, self.sip_port, self.ident.epid)
        self.control_port = await self.control.start(c.control_bind, c.control_port)
        self.log(
            f"listening: SIP TCP {c.bind}:{self.sip_port}, control HTTP "
            f"{c.control_bind}:{self.control_port}, RTP {c.rtp_ports[0]}-{c.rtp_ports[1]}, "
            f"gateway {c.gateway[0]}:{c.gateway[1]}, contact {self.ident.contact()}, "
            f"epid {self.ident.epid}"
        )

    async def close(self) -> None:
        self._finish_calls()
        await self.control.close()
        await self.sip.close()

    # -- calls ---------------------------------------------------------------------------

    def _tone(self) -> ToneGenerator:
        return ToneGenerator(self.config.tone_hz)

    def _new_call(
        self, call_type: type[CallT], record: CallRecord, behaviour: Behaviour, call_id: str
    ) -> CallT:
        ctx = self._context(record, behaviour, ident=self.ident, sip=self.sip)
        call = call_type(ctx, record.direction, call_id, lf.new_tag())
        self._calls[(call.call_id, call.local_tag)] = call
        return call

    def _forget(self, call: Call) -> None:
        super()._forget(call)
        if self._by_remote.get((call.call_id, call.remote_tag)) is call:
            del self._by_remote[(call.call_id, call.remote_tag)]

    def _uri(self, text: str, host: str, field: str) -> str:
        """A full SIP URI from ``text``: as is when it has a scheme, else ``sip:text@host;
        user=phone``."""
        uri = (
            text
            if ":" in text and text.split(":", 1)[0] in ("sip", "sips", "tel")
            else (f"sip:{text}@{host};user=phone")
        )
        try:
            SipUri.parse(uri)
        except SipParseError as exc:
            raise BehaviourError(field, f"not a valid SIP URI or user part: {exc.reason}") from None
        return uri

    def place_call(self, body: dict[str, Any]) -> CallRecord:
        """POST /calls: start an outbound call now; the record's id comes back at once."""
        options = dict(body)
        to = options.pop("to", None)
        if not isinstance(to, str) or not to:
            raise BehaviourError("to", "required: a number (+1000) or a SIP URI")
        as_dialled = options.pop("as_dialled", False)
        if not isinstance(as_dialled, bool):
            raise BehaviourError("as_dialled", "must be true or false")
        if as_dialled:  # what the Lync user dials: the dial plan's rule and route apply
            try:
                to = DialPlan().to_trunk(to)
            except NoRoute as exc:
                raise BehaviourError("to", str(exc)) from None
        sender = options.pop("from", None) or self.config.from_user
        if not isinstance(sender, str):
            raise BehaviourError("from", "must be a string")
        user = options.pop("auth_user", None) or self.config.auth_user
        password = options.pop("auth_password", None) or self.config.auth_password
        if user is not None and not isinstance(user, str):
            raise BehaviourError("auth_user", "must be a string")
        if password is not None and not isinstance(password, str):
            raise BehaviourError("auth_password", "must be a string")
        gw_host, gw_port = self.config.gateway
        to_uri = self._uri(to, f"{gw_host}:{gw_port}", "to")
        from_uri = self._uri(sender, self.config.domain, "from")
        behaviour = self.behaviour.merged(options)
        call_id = lf.new_call_id()
        record = self.store.new(call_id, "outbound")
        call = self._new_call(OutboundCall, record, behaviour, call_id)
        credentials = Credentials(user, password or "") if user else None
        call.event("place_call", f"to {to_uri} from {from_uri}")
        call.spawn(
            call.run_outbound(self.config.gateway, to_uri, from_uri, credentials), "outbound call"
        )
        return record

    def _start_inbound(self, txn: Txn) -> None:
        invite = txn.request
        received_at = asyncio.get_running_loop().time()
        call_id = invite.call_id or ""
        record = self.store.new(call_id, "inbound")
        call = self._new_call(Call, record, self.behaviour, call_id)
        call.remote_tag = invite.from_tag
        self._by_remote[(call_id, invite.from_tag)] = call
        call.spawn(call.run_inbound(txn, received_at), "inbound call")

    # -- SIP -----------------------------------------------------------------------------

    def _on_cancel(self, endpoint: SipEndpoint[SipConnection], txn: Txn) -> None:
        request = txn.request
        call = self._by_remote.get((request.call_id or "", request.from_tag))
        if call is not None and call.direction == "inbound":
            call.on_cancel(txn)
        else:
            self._reply(txn, 481)

    def _on_invite(self, endpoint: SipEndpoint[SipConnection], txn: Txn) -> None:
        request = txn.request
        existing = self._by_remote.get((request.call_id or "", request.from_tag))
        if existing is None and self.faults.ignores_invite(time.monotonic()):
            # The stop-answering fault: no response at all, and no transaction kept
            self.log(f"SIP INVITE {request.call_id} ignored (fault stop_answering_s)")
            txn.terminate()
        elif existing is None:
            self._start_inbound(txn)
        elif existing.invite_branch == request.via_branch:
            self.log("SIP INVITE retransmission ignored")
        else:  # same Call-ID and From tag, new transaction: a merged request
            self._reply(txn, 482)

    def on_ack(self, endpoint: SipEndpoint[SipConnection], ack: Request,
               flow: SipConnection) -> None:
        call = self._calls.get((ack.call_id or "", ack.to_tag or ""))
        if call is not None and call.ignores_ack(self.faults):
            return  # the drop-acks fault: as if this ACK never arrived
        super().on_ack(endpoint, ack, flow)

    def _on_options(self, txn: Txn) -> None:
        txn.respond(lf.options_ok(txn.request, lf.new_tag(), self.ident))

    def on_response(
        self, endpoint: SipEndpoint[SipConnection], response: Response, conn: SipConnection
    ) -> None:
        self.log(f"SIP stray response dropped: {response.status} {response.reason}")

    def _response(
        self, request: Request, status: int, warning: str | None = None, extra: Any = None
    ) -> Response:
        tag = lf.new_tag() if request.to_tag is None else None
        return lf.reply(request, status, self.ident, tag, warning, extra)

    def _reply(
        self, txn: Txn, status: int, *, extra: list[tuple[str, str]] | None = None
    ) -> None:
        txn.respond(self._response(txn.request, status, extra=extra))

    def on_invalid(
        self,
        endpoint: SipEndpoint[SipConnection],
        raw: bytes,
        error: SipParseError,
        conn: SipConnection,
    ) -> None:
        request = salvage_request(raw)
        if request is None:
            self.log(f"SIP invalid message dropped (cannot answer it): {error.reason}")
            return
        endpoint.reply(request, self._response(request, 400, warning=error.reason), conn)


def main(argv: Sequence[str] | None = None) -> int:
    return simulator_main("mediation", build_parser(), Config, MediationServer, argv)


if __name__ == "__main__":
    sys.exit(main())
