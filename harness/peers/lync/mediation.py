"""The simulated Lync Server 2010 Mediation Server: SIP over TCP, RTP, a control API.

Run ``python3 -m harness.peers.lync --help``. Standard library only (plus the
sans-I/O ``harness.sip`` and ``harness.media`` layers), so it runs in a bare python3
container. One line per SIP message and per call event goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.peers.common.api import MediationApi
from harness.peers.common.behaviour import Behaviour, BehaviourError
from harness.peers.common.cli import from_args, hostport, port_range, run, serve_until_signalled
from harness.peers.common.control import ControlServer
from harness.peers.common.log import LineLog
from harness.peers.common.records import CallRecord, CallStore
from harness.peers.common.rtp_session import EventFn, RtpSession
from harness.peers.common.salvage import salvage_request
from harness.peers.common.tcp import SipConnection, SipTransport
from harness.peers.lync import wire as lf
from harness.peers.lync.call import ALLOWED, Call, CallContext, Credentials
from harness.peers.lync.transactions import TransactionLayer
from harness.rtp.tone import ToneGenerator
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.uri import SipUri

LINGER_S = 32.0  # keep an ended call to absorb late ACKs / retransmissions


@dataclass(frozen=True)
class Config:
    address: str = "192.168.100.20"
    bind: str = "0.0.0.0"
    sip_port: int = 5068
    control_port: int = 8068
    control_bind: str = "0.0.0.0"
    gateway: tuple[str, int] = ("192.168.100.10", 5060)
    rtp_ports: tuple[int, int] = (40000, 40199)
    domain: str = "mediationsrv.contoso.com"
    media_address: str | None = None
    from_user: str = "+14255550150"
    auth_user: str | None = None
    auth_password: str | None = None
    tone_hz: float = 1000.0
    verbose: bool = False


class MediationServer:
    """Owns the SIP transport, the calls, the RTP ports and the control API."""

    def __init__(self, config: Config, log: LineLog | None = None) -> None:
        self.config = config
        self.log = log or LineLog("mediation")
        self.store = CallStore()
        self.base_behaviour = Behaviour()  # what PUT /behaviour merges into, DELETE restores
        self.behaviour = self.base_behaviour
        self.ident = lf.LyncIdentity(config.domain, config.address, config.sip_port)
        self.transactions = TransactionLayer()
        self.transport = SipTransport(self, self.log, config.verbose)
        self.control = ControlServer(MediationApi(self), self.log)
        self.sip_port = config.sip_port
        self.control_port = config.control_port
        self._calls: dict[tuple[str, str], Call] = {}  # (Call-ID, local tag)
        self._by_remote: dict[tuple[str, str | None], Call] = {}  # (Call-ID, remote tag)
        self._rtp_used: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.sip_port = await self.transport.listen(self.config.bind, self.config.sip_port)
        self.ident = lf.LyncIdentity(
            self.config.domain, self.config.address, self.sip_port, self.ident.epid
        )
        self.control_port = await self.control.start(
            self.config.control_bind, self.config.control_port
        )
        self.log(
            f"listening: SIP TCP {self.config.bind}:{self.sip_port}, control HTTP "
            f"{self.config.control_bind}:{self.control_port}, RTP {self.config.rtp_ports[0]}-"
            f"{self.config.rtp_ports[1]}, gateway {self.config.gateway[0]}:"
            f"{self.config.gateway[1]}, contact {self.ident.contact()}, epid {self.ident.epid}"
        )

    async def close(self) -> None:
        for call in list(self._calls.values()):
            call.finish("ended", "simulator shut down")
        for task in list(self._tasks):
            task.cancel()
        self.transactions.cancel_all()
        await self.control.close()
        await self.transport.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- calls ---------------------------------------------------------------------------

    def _context(self) -> CallContext:
        return CallContext(
            ident=self.ident,
            store=self.store,
            log=self.log,
            transactions=self.transactions,
            transport=self.transport,
            open_rtp=self._open_rtp,
            media_address=self.config.media_address or self.config.address,
            on_finished=self._call_finished,
        )

    async def _open_rtp(self, on_event: EventFn) -> RtpSession:
        return await RtpSession.open(
            self.config.bind,
            self.config.rtp_ports,
            self._rtp_used,
            on_event=on_event,
            tone=ToneGenerator(self.config.tone_hz),
        )

    def _register(self, call: Call) -> None:
        self._calls[(call.call_id, call.local_tag)] = call

    def _call_finished(self, call: Call) -> None:
        def forget() -> None:
            if self._calls.get((call.call_id, call.local_tag)) is call:
                del self._calls[(call.call_id, call.local_tag)]
            if self._by_remote.get((call.call_id, call.remote_tag)) is call:
                del self._by_remote[(call.call_id, call.remote_tag)]

        asyncio.get_running_loop().call_later(LINGER_S, forget)

    def sync_records(self) -> None:
        for call in self._calls.values():
            if not call.ended:
                call.sync_record()

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
        call = Call(self._context(), record, behaviour, "outbound", call_id, lf.new_tag())
        self._register(call)
        credentials = Credentials(user, password or "") if user else None
        call.event("place_call", f"to {to_uri} from {from_uri}")
        call.spawn(
            call.run_outbound(self.config.gateway, to_uri, from_uri, credentials), "outbound call"
        )
        return record

    def _start_inbound(self, conn: SipConnection, invite: Request) -> None:
        received_at = asyncio.get_running_loop().time()
        call_id = invite.call_id or ""
        record = self.store.new(call_id, "inbound")
        call = Call(self._context(), record, self.behaviour, "inbound", call_id, lf.new_tag())
        call.remote_tag = invite.from_tag
        self._register(call)
        self._by_remote[(call_id, invite.from_tag)] = call
        call.spawn(call.run_inbound(conn, invite, received_at), "inbound call")

    # -- SIP -----------------------------------------------------------------------------

    def on_message(self, conn: SipConnection, message: Request | Response) -> None:
        if isinstance(message, Response):
            if not self.transactions.on_response(message):
                self.log(f"SIP stray response dropped: {message.status} {message.reason}")
            return
        self._on_request(conn, message)

    def _on_request(self, conn: SipConnection, request: Request) -> None:
        method = request.method
        call_id = request.call_id or ""
        to_tag = request.to_tag
        if method == "CANCEL":
            call = self._by_remote.get((call_id, request.from_tag))
            if call is not None and call.direction == "inbound":
                call.on_cancel(conn, request)
            else:
                self._reply(conn, request, 481)
            return
        if to_tag is not None:
            call = self._calls.get((call_id, to_tag))
            if call is not None and (method == "ACK" or not call.ended):
                call.on_request(conn, request)
            elif method != "ACK":
                self._reply(conn, request, 481)
            return
        if method == "INVITE":
            existing = self._by_remote.get((call_id, request.from_tag))
            if existing is not None:
                if existing.invite_branch == request.via_branch:
                    self.log("SIP INVITE retransmission ignored")
                else:  # same Call-ID and From tag, new transaction: a merged request
                    self._reply(conn, request, 482)
                return
            self._start_inbound(conn, request)
        elif method == "OPTIONS":
            conn.send(lf.options_ok(request, lf.new_tag(), self.ident))
        elif method == "ACK":
            self.log("SIP ACK outside any dialog absorbed")
        elif method in ("BYE", "PRACK", "UPDATE", "INFO"):
            self._reply(conn, request, 481)
        else:
            self._reply(conn, request, 405, extra=[("ALLOW", ALLOWED)])

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
            headers.insert(0, lf.warning(self.ident, warning))
        tag = lf.new_tag() if request.to_tag is None else None
        conn.send(lf.simple_response(request, status, self.ident, tag, extra=headers))

    def on_invalid(self, conn: SipConnection, raw: bytes, error: SipParseError) -> None:
        request = salvage_request(raw)
        if request is None:
            self.log(f"SIP invalid message dropped (cannot answer it): {error.reason}")
            return
        self._reply(conn, request, 400, warning=error.reason)

    def on_closed(self, conn: SipConnection) -> None:
        self.transactions.on_closed(conn)


# -- command line ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m harness.peers.lync",
        description="Simulated Lync Server 2010 Mediation Server: Lync's SIP wire format over "
        "TCP, PCMU RTP with RFC 4733 DTMF, and a JSON control API (GET /health, "
        "GET|PUT|DELETE /behaviour, GET|POST|DELETE /calls, GET /calls/<id>|last?wait=ended).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = Config()
    p.add_argument(
        "--address", default=d.address, help="address advertised in Via, Contact maddr and SDP"
    )
    p.add_argument("--bind", default=d.bind, help="address to bind SIP and RTP sockets to")
    p.add_argument("--sip-port", type=int, default=d.sip_port, help="SIP TCP listening port")
    p.add_argument("--control-port", type=int, default=d.control_port, help="control API HTTP port")
    p.add_argument("--control-bind", default=d.control_bind, help="control API bind address")
    p.add_argument(
        "--gateway",
        type=hostport,
        default=d.gateway,
        help="HOST:PORT of the gateway (Asterisk) for outbound calls, over TCP",
    )
    p.add_argument(
        "--rtp-ports",
        type=port_range,
        default=d.rtp_ports,
        help="RTP port range FIRST-LAST (even RTP ports, RTCP = RTP+1); 0-0: any",
    )
    p.add_argument("--domain", default=d.domain, help="host name in the Contact URI")
    p.add_argument(
        "--media-address",
        default=None,
        help="address in the SDP c= and o= lines (default: --address)",
    )
    p.add_argument(
        "--from-user", default=d.from_user, help="default calling number of outbound calls"
    )
    p.add_argument(
        "--auth-user",
        default=None,
        help="digest user name for outbound calls challenged with 401/407",
    )
    p.add_argument("--auth-password", default=None, help="digest password")
    p.add_argument("--tone-hz", type=float, default=d.tone_hz, help="frequency of the sent tone")
    p.add_argument("--verbose", action="store_true", help="also log every SIP message in full")
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    return from_args(Config, args)


async def serve(config: Config) -> None:
    await serve_until_signalled(MediationServer(config))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run("mediation", serve(config_from_args(args)))


if __name__ == "__main__":
    sys.exit(main())
