"""An outbound call of the simulated Mediation Server: INVITE to the gateway (with one
digest retry on 401/407), 18x, then the 2xx and its ACK; the rest is :class:`Call`'s."""

from __future__ import annotations

from dataclasses import dataclass

from harness.peers.common.offer_answer import NotAcceptable, read_remote
from harness.peers.common.tcp import SipConnection
from harness.peers.lync.call import Call
from harness.sip.auth import build_authorization
from harness.sip.dialog import Dialog
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.message import Request, Response


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


class OutboundCall(Call):
    async def run_outbound(
        self,
        gateway: tuple[str, int],
        to_uri: str,
        from_uri: str,
        credentials: Credentials | None,
    ) -> None:
        try:
            conn = await self.ctx.sip.connect(*gateway)
        except OSError as exc:
            self.finish("failed", f"cannot connect to {gateway[0]}:{gateway[1]}", error=str(exc))
            return
        self.dialog = Dialog.as_uac(self.call_id, from_uri, self.local_tag, to_uri)
        self.connection = conn
        try:
            await self._open_media()
        except OSError as exc:
            self.finish("failed", "no RTP port", error=str(exc))
            return
        offer = self._render(None)
        auth: list[tuple[str, str]] = []
        for attempt in range(2):
            cseq = self.dialog.next_cseq()
            invite = self._invite(cseq, offer, uri=to_uri, extra=auth)
            self.event("invite_sent", f"to {to_uri}")
            try:
                response = await self._send_invite(conn, invite, self._on_provisional)
            except (TimeoutError, ConnectionError) as exc:
                self.finish("failed", "INVITE got no final response", error=str(exc))
                return
            self.record.status_code = response.status
            if response.status < 300:
                break
            if response.status in (401, 407) and attempt == 0 and credentials is not None:
                auth = self._authorization(invite, response, credentials)
                if auth:
                    self.dialog.forget_remote_tag()
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
            self.dialog.confirm(response)
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

    def _on_2xx_to_invite(self, conn: SipConnection, response: Response) -> None:
        assert self.dialog is not None
        self.dialog.confirm(response)
        self.remote_tag = self.dialog.remote_tag
        self.ctx.sip.send(self._ack(response.cseq[0]), conn)
        if not self.take_answer(response, "2xx without SDP answer", self._take_answer):
            return
        self.state("confirmed", f"{response.status} {response.reason}")
        self._answered()
