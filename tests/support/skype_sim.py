"""The in-test peers that play Asterisk toward the simulated Skype for SIP service over
loopback UDP (built on harness.sip): the service under test, a UDP socket, a SIP UA that
answers challenges, a dialler for calls, and the registration and call set-up steps the
Skype simulator's tests share."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any, Self

from harness.peers.skype.service import Config, SkypeService
from harness.sip.auth import build_authorization, parse_challenge
from harness.sip.builder import (
    make_ack,
    make_request,
    via_value,
)
from harness.sip.message import Request, Response, parse_message
from tests.support.peers import LOCAL, quiet_log

PROFILE = "99051000107808"
PASSWORD = "test-password"
ECHO = "+17606604690"
DOMAIN = "sip.skype.com"


class Sim:
    def __init__(self, gateway_port: int = 5060, t1: float = 0.5, channels: int = 2) -> None:
        self.lines: list[str] = []
        self.service = SkypeService(
            Config(
                address=LOCAL,
                bind=LOCAL,
                sip_port=0,
                sfa_port=0,
                control_port=0,
                control_bind=LOCAL,
                rtp_ports=(0, 0),
                gateway=(LOCAL, gateway_port),
                profile=PROFILE,
                password=PASSWORD,
                channels=channels,
                t1=t1,
            ),
            quiet_log("skype", self.lines),
        )

    async def __aenter__(self) -> Self:
        await self.service.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.close()

    @property
    def sip_port(self) -> int:
        return self.service.sip_port

    @property
    def sfa_port(self) -> int:
        return self.service.sfa_port

    async def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        reader, writer = await asyncio.open_connection(LOCAL, self.service.control_port)
        payload = b"" if body is None else json.dumps(body).encode()
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        data = await reader.read()
        writer.close()
        head, _, content = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), json.loads(content)


class _Queue(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue[tuple[bytes, tuple[str, int]]]) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


class Udp:
    """A UDP socket with a receive queue (the SIP UA and the RTP peer)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Queue(self.queue), local_addr=(LOCAL, 0)
        )
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes | Request | Response, port: int) -> None:
        assert self.transport is not None
        raw = data if isinstance(data, bytes) else data.serialize()
        self.transport.sendto(raw, (LOCAL, port))

    async def datagram(self, timeout: float = 2.0) -> tuple[bytes, tuple[str, int]]:
        return await asyncio.wait_for(self.queue.get(), timeout)


class Ua(Udp):
    """The in-test SIP UA: messages kept in arrival order; ``expect`` takes the first match."""

    def __init__(self) -> None:
        super().__init__()
        self.backlog: list[tuple[Request | Response, bytes]] = []

    async def expect(
        self, status: int | None = None, method: str | None = None, timeout: float = 2.0
    ) -> tuple[Any, bytes]:
        def matches(msg: Request | Response) -> bool:
            if status is not None:
                return isinstance(msg, Response) and msg.status == status
            return isinstance(msg, Request) and msg.method == method

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, (msg, raw) in enumerate(self.backlog):
                if matches(msg):
                    del self.backlog[i]
                    return msg, raw
            data, _addr = await asyncio.wait_for(self.queue.get(), deadline - loop.time())
            self.backlog.append((parse_message(data), data))

    def clear(self) -> None:
        """Forget everything received so far (queued or kept)."""
        self.backlog.clear()
        while not self.queue.empty():
            self.queue.get_nowait()

    async def nothing(self, within: float, status: int) -> bool:
        """True when no response with ``status`` arrives within ``within`` seconds."""
        try:
            await self.expect(status=status, timeout=within)
        except TimeoutError:
            return True
        return False


# -- message builders (Asterisk's role) -----------------------------------------------------

CODEC_LINES = {
    0: "PCMU/8000",
    8: "PCMA/8000",
    18: "G729/8000",
    9: "G722/8000",
    3: "GSM/8000",
    101: "telephone-event/8000",
}


def offer(rtp_port: int, pts: tuple[int, ...] = (0, 8, 101)) -> str:
    lines = [
        "v=0",
        f"o=- 1 1 IN IP4 {LOCAL}",
        "s=Asterisk",
        f"c=IN IP4 {LOCAL}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {' '.join(str(p) for p in pts)}",
    ]
    lines += [f"a=rtpmap:{pt} {CODEC_LINES[pt]}" for pt in pts]
    if 101 in pts:
        lines.append("a=fmtp:101 0-16")
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


class Dialler:
    """Builds the gateway's INVITEs for one call (Call-ID, From tag, CSeq)."""

    def __init__(
        self,
        ua: Ua,
        port: int,
        rtp_port: int,
        *,
        to: str = ECHO,
        caller: str = PROFILE,
        pts: tuple[int, ...] = (0, 8, 101),
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        self.ua, self.port = ua, port
        self.uri = f"sip:{to}@{LOCAL}:{port}"
        self.to = f"<sip:{to}@{DOMAIN}>"
        self.from_ = f'"Lync" <sip:{caller}@{DOMAIN}>;tag={secrets.token_hex(4)}'
        self.call_id = f"{secrets.token_hex(8)}@{LOCAL}"
        self.cseq = 0
        self.sdp = offer(rtp_port, pts)
        self.extra = list(extra or [])

    def invite(self, auth: str | None = None) -> Request:
        self.cseq += 1
        headers = [*self.extra, ("User-Agent", "Asterisk PBX 22.1.0")]
        if auth:
            headers.append(("Proxy-Authorization", auth))
        return make_request(
            "INVITE",
            self.uri,
            from_=self.from_,
            to=self.to,
            call_id=self.call_id,
            cseq=self.cseq,
            via=via_value("UDP", LOCAL, self.ua.port, rport=True),
            contact=f"<sip:{PROFILE}@{LOCAL}:{self.ua.port}>",
            headers=headers,
            body=self.sdp,
            content_type="application/sdp",
        )

    async def challenged(self) -> Request:
        """INVITE -> 407 -> ACK; returns the INVITE with credentials (not sent yet)."""
        first = self.invite()
        self.ua.send(first, self.port)
        r407, raw = await self.ua.expect(407)
        assert b"\r\nServer: Skype SIP" in raw
        challenge = r407.headers.get("Proxy-Authenticate")
        parsed = parse_challenge(challenge)
        assert (parsed.realm, parsed.algorithm, parsed.qop) == (DOMAIN, "MD5", ["auth"])
        ack = make_ack(first, r407)
        assert ack.via_branch == first.via_branch
        self.ua.send(ack, self.port)
        auth = build_authorization(challenge, "INVITE", self.uri, PROFILE, PASSWORD)
        return self.invite(auth)

    def in_dialog(self, method: str, ok: Response) -> Request:
        self.cseq += 1
        contact = (ok.headers.get("Contact") or "").strip("<>")
        return make_request(
            method,
            contact,
            from_=self.from_,
            to=ok.headers.get("To") or "",
            call_id=self.call_id,
            cseq=self.cseq,
            via=via_value("UDP", LOCAL, self.ua.port, rport=True),
        )


def register(
    ua: Ua,
    port: int,
    call_id: str,
    cseq: int,
    *,
    expires: int = 3600,
    user: str = PROFILE,
    auth: str | None = None,
) -> Request:
    headers = [("Expires", str(expires)), ("User-Agent", "Asterisk PBX 22.1.0")]
    if auth:
        headers.append(("Authorization", auth))
    return make_request(
        "REGISTER",
        f"sip:{DOMAIN}",
        from_=f"<sip:{user}@{DOMAIN}>;tag=reg{cseq}",
        to=f"<sip:{user}@{DOMAIN}>",
        call_id=call_id,
        cseq=cseq,
        via=via_value("UDP", LOCAL, ua.port, rport=True),
        contact=f"<sip:{PROFILE}@{LOCAL}:{ua.port}>",
        headers=headers,
    )


async def establish(ua: Ua, sim: Sim, rtp: Udp, **kw: Any) -> tuple[Dialler, Request, Response]:
    """An authenticated call to the echo number, answered and ACKed."""
    d = Dialler(ua, sim.sip_port, rtp.port, **kw)
    invite = await d.challenged()
    ua.send(invite, sim.sip_port)
    await ua.expect(100)
    await ua.expect(180)
    ok, _raw = await ua.expect(200)
    ua.send(make_ack(invite, ok), sim.sip_port)
    return d, invite, ok


def answer_port(ok: Response) -> int:
    sdp = ok.sdp()
    assert sdp is not None
    return sdp.media[0].port


# -- registration ---------------------------------------------------------------------------
