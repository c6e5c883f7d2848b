"""The simulated Skype for SIP service, driven over loopback UDP by a tiny in-test SIP UA
playing Asterisk (built on harness.sip): registration, the 407 challenge, the service's
admission rules, the RTP echo, the Skype for Asterisk listener, calls from Skype to the
gateway, retransmissions and malformed requests."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from typing import Any, Self

import pytest

from harness.peers.skype.service import Config, SkypeService, build_parser, config_from_args
from harness.rtp.packet import RtpPacket
from harness.sip.auth import build_authorization, parse_challenge
from harness.sip.builder import (
    make_ack,
    make_cancel,
    make_request,
    make_response,
    new_branch,
    via_value,
)
from harness.sip.message import Request, Response, parse_message
from harness.sip.sdp import SessionDescription
from tests.support.peers import LOCAL, quiet_log, run_async

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


@run_async
async def test_register_401_200_403_404_and_expires_granted() -> None:
    async with Sim() as sim, Ua() as ua:
        status, body = await sim.http("PUT", "/behaviour", {"max_expires": 20})
        assert status == 200 and body["max_expires"] == 20 and body["channels"] == 2
        call_id = secrets.token_hex(8)
        first = register(ua, sim.sip_port, call_id, 1)
        ua.send(first, sim.sip_port)
        r401, raw = await ua.expect(401)
        challenge = r401.headers.get("WWW-Authenticate")
        assert challenge.startswith('Digest realm="sip.skype.com", nonce="')
        assert challenge.endswith('algorithm=MD5, qop="auth"')
        # wrong password -> 403
        bad = build_authorization(challenge, "REGISTER", first.uri, PROFILE, "wrong")
        ua.send(register(ua, sim.sip_port, call_id, 2, auth=bad), sim.sip_port)
        r403, _ = await ua.expect(403)
        assert r403.reason == "Forbidden"
        # unknown user -> 404
        other = build_authorization(challenge, "REGISTER", first.uri, "12345", PASSWORD)
        ua.send(register(ua, sim.sip_port, call_id, 3, user="12345", auth=other), sim.sip_port)
        await ua.expect(404)
        # the right credentials -> 200, expires granted = min(3600, 20)
        good = build_authorization(challenge, "REGISTER", first.uri, PROFILE, PASSWORD, nc=2)
        ua.send(register(ua, sim.sip_port, call_id, 4, auth=good), sim.sip_port)
        ok, raw = await ua.expect(200)
        assert ok.headers.get("Contact") == f"<sip:{PROFILE}@{LOCAL}:{ua.port}>;expires=20"
        assert b"\r\nServer: Skype SIP" in raw
        # a refresh with a new nonce, before the expiry
        ua.send(register(ua, sim.sip_port, call_id, 5, expires=10), sim.sip_port)
        r401b, _ = await ua.expect(401)
        again = build_authorization(
            r401b.headers.get("WWW-Authenticate"), "REGISTER", first.uri, PROFILE, PASSWORD
        )
        ua.send(register(ua, sim.sip_port, call_id, 6, expires=10, auth=again), sim.sip_port)
        ok2, _ = await ua.expect(200)
        assert (ok2.headers.get("Contact") or "").endswith(";expires=10")
        status, every = await sim.http("GET", "/registrations?all=1")
        assert status == 200
        assert [r["status"] for r in every] == [401, 403, 404, 200, 401, 200]
        status, done = await sim.http("GET", "/registrations")
        assert len(done) == 2
        assert done[0]["expires_requested"] == 3600 and done[0]["expires_granted"] == 20
        assert done[0]["refresh"] is False and done[0]["refreshed_before_expiry"] is None
        assert done[1]["refresh"] is True and done[1]["refreshed_before_expiry"] is True
        assert done[1]["t"] < done[0]["expires_at"]
        assert done[1]["contact"] == f"sip:{PROFILE}@{LOCAL}:{ua.port}"
        status, bindings = await sim.http("GET", "/registrations/bindings")
        assert bindings[0]["expires_in"] in (9, 10)
        status, waited = await sim.http("GET", "/registrations?wait=2&timeout=0.1")
        assert status == 200 and len(waited) == 2
        status, _ = await sim.http("GET", "/registrations?wait=3&timeout=0.1")
        assert status == 408
        # unregister: Expires 0 removes the binding
        nonce_reuse = build_authorization(
            r401b.headers.get("WWW-Authenticate") or "",
            "REGISTER",
            first.uri,
            PROFILE,
            PASSWORD,
            nc=2,
        )
        ua.send(register(ua, sim.sip_port, call_id, 7, expires=0, auth=nonce_reuse), sim.sip_port)
        ok3, _ = await ua.expect(200)
        assert ok3.headers.get("Contact") is None
        status, bindings = await sim.http("GET", "/registrations/bindings")
        assert bindings == []
        status, done = await sim.http("GET", "/registrations")
        assert len(done) == 2  # a removal is not a registration
        status, deleted = await sim.http("DELETE", "/registrations")
        assert deleted == {"deleted": 7}


# -- calls to the echo test number ----------------------------------------------------------


@run_async
async def test_invite_407_then_accepted_and_rtp_echoed() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d, _invite, ok = await establish(ua, sim, rtp)
        body = ok.body.decode()
        assert "m=audio" in body and "RTP/AVP 0 101" in body and "a=rtpmap:0 PCMU/8000" in body
        assert (ok.headers.get("Contact") or "").startswith(f"<sip:{ECHO}@{LOCAL}:")
        port = answer_port(ok)
        sent = []
        for n in range(10):
            payload = bytes([n]) * 160
            sent.append(payload)
            packet = RtpPacket(0, 1000 + n, 5000 + 160 * n, 0x1234, payload, n == 0)
            rtp.send(packet.pack(), port)
        echoed = [RtpPacket.parse((await rtp.datagram())[0]) for _ in range(10)]
        assert [p.payload for p in echoed] == sent
        assert {p.payload_type for p in echoed} == {0}
        assert len({p.ssrc for p in echoed}) == 1 and echoed[0].ssrc != 0x1234
        assert all((b.sequence - a.sequence) & 0xFFFF == 1 for a, b in itertools.pairwise(echoed))
        assert all(
            (b.timestamp - a.timestamp) & 0xFFFFFFFF == 160 for a, b in itertools.pairwise(echoed)
        )
        assert echoed[0].marker and not echoed[1].marker
        ua.send(d.in_dialog("BYE", ok), sim.sip_port)
        await ua.expect(200)
        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert status == 200, record
        assert record["state"] == "ended" and record["challenges"] == 1
        assert record["codec"] == "PCMU" and record["payload_type"] == 0
        assert record["caller_id"] == PROFILE and record["destination"] == ECHO
        assert record["rtp_received"] == 10 and record["rtp_echoed"] == 10
        assert record["rtp_sent"] == 10 and record["status_code"] == 200
        names = [e["event"] for e in record["events"]]
        assert names.index("challenge") < names.index("authenticated") < names.index("answered")
        status, calls = await sim.http("GET", "/calls")
        assert len(calls) == 1


@run_async
async def test_caller_id_must_be_the_profile_number() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port, caller="+14255550150")
        ua.send(await d.challenged(), sim.sip_port)
        await ua.expect(100)
        r403, _raw = await ua.expect(403)
        assert r403.reason == "Forbidden"
        assert r403.headers.get("Warning") == (
            '399 sip.skype.com "Caller ID must be your SIP profile number"'
        )
        # P-Asserted-Identity wins over From
        pai = [("P-Asserted-Identity", "<sip:+14255550150@10.0.0.1>")]
        d2 = Dialler(ua, sim.sip_port, rtp.port, extra=pai)
        ua.send(await d2.challenged(), sim.sip_port)
        await ua.expect(403)
        _status, record = await sim.http("GET", "/calls/last")
        assert record["state"] == "rejected" and record["status_code"] == 403
        assert record["caller_id"] == "+14255550150"
        assert record["caller_id_header"] == "P-Asserted-Identity"
        assert record["reason"] == ("403 Forbidden: Caller ID must be your SIP profile number")
        # status, reason phrase and warning are configurable
        custom = {
            "reject_status_for_caller_id": 480,
            "reject_reason_for_caller_id": "Caller ID Not Allowed",
            "caller_id_warning": "",
        }
        await sim.http("PUT", "/behaviour", custom)
        d3 = Dialler(ua, sim.sip_port, rtp.port, caller="1000")
        ua.send(await d3.challenged(), sim.sip_port)
        r480, _ = await ua.expect(480)
        assert r480.reason == "Caller ID Not Allowed" and r480.headers.get("Warning") is None
        # and the check can be switched off
        await sim.http("PUT", "/behaviour", {"reject_status_for_caller_id": None})
        d4 = Dialler(ua, sim.sip_port, rtp.port, caller="1000")
        ua.send(await d4.challenged(), sim.sip_port)
        await ua.expect(200)


@run_async
async def test_destination_must_be_e164_and_known() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port, to="17606604690")
        ua.send(await d.challenged(), sim.sip_port)
        r404, _ = await ua.expect(404)
        assert r404.headers.get("Warning") == (
            '399 sip.skype.com "Destination must be in E.164 format"'
        )
        d2 = Dialler(ua, sim.sip_port, rtp.port, to="echo123")  # no Skype names here
        ua.send(await d2.challenged(), sim.sip_port)
        await ua.expect(404)
        await sim.http("PUT", "/behaviour", {"unknown_number_status": 480})
        d3 = Dialler(ua, sim.sip_port, rtp.port, to="+14255550100")
        ua.send(await d3.challenged(), sim.sip_port)
        await ua.expect(480)


@pytest.mark.parametrize(
    ("pts", "status", "chosen"),
    [((18, 0, 8, 101), 200, "18 101"), ((8,), 200, "8"), ((9, 3), 488, None)],
    ids=["g729-first-in-offer", "pcma-only", "g722-only"],
)
@run_async
async def test_codec_choice(pts: tuple[int, ...], status: int, chosen: str | None) -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port, pts=pts)
        ua.send(await d.challenged(), sim.sip_port)
        response, _ = await ua.expect(status)
        if chosen is None:
            assert response.headers.get("Warning").startswith('305 sip.skype.com "Incompatible')
            return
        audio = SessionDescription.parse(response.body).media[0]
        assert " ".join(audio.formats) == chosen


@run_async
async def test_channel_limit() -> None:
    async with Sim(channels=1) as sim, Ua() as ua, Udp() as rtp:
        await establish(ua, sim, rtp)
        d = Dialler(ua, sim.sip_port, rtp.port)
        ua.send(await d.challenged(), sim.sip_port)
        r503, _ = await ua.expect(503)
        assert "channels" in r503.headers.get("Warning")
        await sim.http("PUT", "/behaviour", {"limit_status": 486})
        d2 = Dialler(ua, sim.sip_port, rtp.port)
        ua.send(await d2.challenged(), sim.sip_port)
        await ua.expect(486)
        status, _ = await sim.http("POST", "/calls", {"to": PROFILE})
        assert status == 409


@run_async
async def test_retransmissions_are_answered_without_reprocessing() -> None:
    async with Sim(t1=0.1) as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port)
        first = d.invite()
        ua.send(first, sim.sip_port)
        _, raw1 = await ua.expect(407)
        ua.send(first, sim.sip_port)  # retransmission: the same 407, byte for byte
        _, raw2 = await ua.expect(407)
        assert raw1 == raw2
        # the 407 is retransmitted until the ACK (Timer G)
        _, raw3 = await ua.expect(407, timeout=1.0)
        assert raw3 == raw1
        r407 = parse_message(raw1)
        assert isinstance(r407, Response)
        challenge = r407.headers.get("Proxy-Authenticate") or ""
        ua.send(make_ack(first, r407), sim.sip_port)
        invite = d.invite(build_authorization(challenge, "INVITE", d.uri, PROFILE, PASSWORD))
        ua.send(invite, sim.sip_port)
        await ua.expect(100)
        ua.send(invite, sim.sip_port)  # retransmitted INVITE
        await ua.expect(200)
        ua.clear()
        # no ACK yet: the 200 comes again (T1 doubling); then ACK stops it
        ok, raw = await ua.expect(200, timeout=1.0)
        ua.send(invite, sim.sip_port)  # a late retransmission gets the 200 again
        _, again = await ua.expect(200)
        assert again == raw
        ua.send(make_ack(invite, ok), sim.sip_port)
        await asyncio.sleep(0.05)
        ua.clear()
        assert await ua.nothing(0.5, status=200)
        _status, calls = await sim.http("GET", "/calls")
        assert len(calls) == 1 and calls[0]["state"] == "confirmed"
        assert sum(1 for e in calls[0]["events"] if e["event"] == "invite") == 2  # 407 + retry


@run_async
async def test_echo_hangs_up_after_configured_time_and_cancel() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        await sim.http("PUT", "/behaviour", {"echo_hangup_after_ms": 100})
        d, _invite, ok = await establish(ua, sim, rtp)
        bye, _ = await ua.expect(method="BYE")
        assert bye.uri == f"sip:{PROFILE}@{LOCAL}:{ua.port}"
        assert bye.headers.get("To") == d.from_ and bye.headers.get("From") == ok.headers.get("To")
        ua.send(make_response(bye, 200), sim.sip_port)
        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert status == 200 and "BYE sent" in record["events"][-1]["detail"]
        # CANCEL while ringing
        await sim.http("PUT", "/behaviour", {"answer_delay_ms": 5000})
        d2 = Dialler(ua, sim.sip_port, rtp.port)
        invite = await d2.challenged()
        ua.send(invite, sim.sip_port)
        await ua.expect(180)
        cancel = make_cancel(invite)
        ua.send(cancel, sim.sip_port)
        await ua.expect(200)
        r487, _ = await ua.expect(487)
        ua.send(make_ack(invite, r487), sim.sip_port)
        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["status_code"] == 487


# -- Skype for Asterisk ---------------------------------------------------------------------


@run_async
async def test_sfa_echo123_needs_no_auth_and_echoes() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sfa_port, rtp.port, to="echo123", caller="contoso", pts=(0, 101))
        invite = d.invite()
        ua.send(invite, sim.sfa_port)
        await ua.expect(100)
        ok, _ = await ua.expect(200)
        ua.send(make_ack(invite, ok), sim.sfa_port)
        port = answer_port(ok)
        rtp.send(RtpPacket(0, 1, 160, 7, b"\x01" * 160).pack(), port)
        packet = RtpPacket.parse((await rtp.datagram())[0])
        assert packet.payload == b"\x01" * 160 and packet.ssrc != 7
        # hold from the gateway (re-INVITE a=sendonly): answered recvonly, echo stops
        hold = d.in_dialog("INVITE", ok)
        hold.headers.add("Contact", f"<sip:contoso@{LOCAL}:{ua.port}>")
        hold.headers.add("Content-Type", "application/sdp")
        hold.body = d.sdp.replace("a=sendrecv", "a=sendonly").encode()
        ua.send(hold, sim.sfa_port)
        held, _ = await ua.expect(200)
        assert "a=recvonly" in held.body.decode()
        ua.send(make_ack(hold, held), sim.sfa_port)
        rtp.send(RtpPacket(0, 2, 320, 7, b"\x02" * 160).pack(), port)
        with pytest.raises(TimeoutError):
            await rtp.datagram(timeout=0.2)
        ua.send(d.in_dialog("BYE", ok), sim.sfa_port)
        await ua.expect(200)
        _status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert record["service"] == "sfa" and record["destination"] == "echo123"
        assert record["rtp_echoed"] == 1 and record["challenges"] == 0
        for name, warning in (
            ("bob_skype", "Skype user not found"),
            ("12", "Destination must be a Skype name or an E.164 number"),
            ("+14255550100", "Number not reachable"),
        ):
            d2 = Dialler(ua, sim.sfa_port, rtp.port, to=name)
            ua.send(d2.invite(), sim.sfa_port)
            r404, _ = await ua.expect(404)
            assert warning in r404.headers.get("Warning")
        ua.send(register(ua, sim.sfa_port, "r1", 1), sim.sfa_port)
        await ua.expect(405)


# -- calls from Skype to the gateway --------------------------------------------------------


@run_async
async def test_call_from_skype_anonymous_answered_with_pcmu_rtp_and_bye() -> None:
    async with Ua() as gw, Udp() as rtp, Sim(gateway_port=gw.port) as sim:
        status, placed = await sim.http("POST", "/calls", {"hangup_after_ms": 300})
        assert status == 200
        invite, raw = await gw.expect(method="INVITE")
        assert invite.uri == f"sip:{PROFILE}@{LOCAL}:{gw.port}"
        assert invite.headers.get("From").startswith(
            '"Anonymous" <sip:anonymous@anonymous.invalid>;tag='
        )
        assert invite.headers.get("To") == f"<sip:{PROFILE}@{DOMAIN}>"
        assert b"\r\nUser-Agent: Skype SIP" in raw
        audio = SessionDescription.parse(invite.body).media[0]
        assert audio.formats == ["18", "0", "8", "101"]
        gw.send(make_response(invite, 100), sim.sip_port)
        gw.send(make_response(invite, 180, to_tag="gw1"), sim.sip_port)
        answer = offer(rtp.port, (0, 101))
        ok = make_response(
            invite,
            200,
            to_tag="gw1",
            headers=[("Contact", f"<sip:{PROFILE}@{LOCAL}:{gw.port}>")],
            body=answer,
            content_type="application/sdp",
        )
        gw.send(ok, sim.sip_port)
        ack, _ = await gw.expect(method="ACK")
        assert ack.headers.get("To").endswith(";tag=gw1") and ack.cseq == (1, "ACK")
        gw.send(ok, sim.sip_port)  # a retransmitted 200 is ACKed again
        await gw.expect(method="ACK")
        packets = [RtpPacket.parse((await rtp.datagram())[0]) for _ in range(5)]
        assert {p.payload_type for p in packets} == {0}
        assert all(len(p.payload) == 160 for p in packets) and packets[0].marker
        bye, _ = await gw.expect(method="BYE", timeout=2.0)
        gw.send(make_response(bye, 200), sim.sip_port)
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["direction"] == "outbound"
        assert record["anonymous"] is True and record["codec"] == "PCMU"
        assert record["rtp_sent"] >= 5


@run_async
async def test_call_from_skype_with_caller_rejected_by_gateway() -> None:
    async with Ua() as gw, Sim(gateway_port=gw.port) as sim:
        status, placed = await sim.http(
            "POST", "/calls", {"from": "14255550100", "anonymous": False}
        )
        invite, _ = await gw.expect(method="INVITE")
        assert invite.headers.get("From").startswith(f"<sip:+14255550100@{DOMAIN}>;tag=")
        gw.send(make_response(invite, 486, to_tag="gw2"), sim.sip_port)
        ack, _ = await gw.expect(method="ACK")
        assert ack.via_branch == invite.via_branch and ack.uri == invite.uri
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "rejected" and record["status_code"] == 486
        status, err = await sim.http("POST", "/calls", {"from": "bad name!"})
        assert status == 400 and err["field"] == "from"


# -- robustness and the API -----------------------------------------------------------------


@run_async
async def test_malformed_requests_get_400_and_options_200() -> None:
    async with Sim() as sim, Ua() as ua:
        bad = (
            f"INVITE sip:{ECHO}@{LOCAL} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCAL}:{ua.port};branch={new_branch()};rport\r\n"
            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: bad1\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        ua.send(bad, sim.sip_port)
        r400, _ = await ua.expect(400)
        assert r400.headers.get("Warning").startswith("399 sip.skype.com ")
        short = bad.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE").replace(
            b"Content-Length: 0", b"Content-Length: 99"
        )
        ua.send(short, sim.sip_port)
        await ua.expect(400)
        ua.send(b"\x00\x01garbage\r\n\r\n", sim.sip_port)
        ua.send(b"\r\n\r\n", sim.sip_port)  # keep-alive
        options = make_request(
            "OPTIONS",
            f"sip:{DOMAIN}",
            from_="<sip:ping@b>;tag=2",
            to=f"<sip:{DOMAIN}>",
            call_id="opt1",
            cseq=1,
            via=via_value("UDP", LOCAL, ua.port, rport=True),
        )
        ua.send(options, sim.sip_port)
        ok, _raw = await ua.expect(200)
        assert ok.headers.get("Allow") and ok.headers.get("Via").endswith(
            f";received={LOCAL};rport={ua.port}"
        )
        ua.send(options, sim.sfa_port)
        await ua.expect(200)
        assert any("INVALID" in line for line in sim.lines)


@run_async
async def test_behaviour_api() -> None:
    async with Sim(channels=4) as sim:
        status, body = await sim.http("GET", "/behaviour")
        assert status == 200 and body["channels"] == 4 and body["echo_numbers"] == [ECHO]
        status, err = await sim.http("PUT", "/behaviour", {"echo_numbers": ["1234"]})
        assert status == 400 and err["field"] == "echo_numbers"
        status, err = await sim.http("PUT", "/behaviour", {"nope": 1})
        assert status == 400 and err["field"] == "nope"
        status, body = await sim.http("PUT", "/behaviour", {"echo_numbers": [ECHO, "+15550001111"]})
        assert body["echo_numbers"] == [ECHO, "+15550001111"] and body["channels"] == 4
        status, body = await sim.http("DELETE", "/behaviour")
        assert body["echo_numbers"] == [ECHO] and body["channels"] == 4
        status, health = await sim.http("GET", "/health")
        assert health == {"ok": True}


def test_cli_help_and_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    assert "--sfa-port" in capsys.readouterr().out
    args = build_parser().parse_args(
        [
            "--address",
            "192.168.100.30",
            "--sip-port",
            "5060",
            "--sfa-port",
            "5070",
            "--control-port",
            "8070",
            "--rtp-ports",
            "41000-41199",
            "--domain",
            "sip.skype.com",
            "--gateway",
            "192.168.100.10:5060",
            "--profile",
            "99051000107808",
            "--password",
            "pw",
            "--channels",
            "2",
        ]
    )
    config = config_from_args(args)
    assert config.gateway == ("192.168.100.10", 5060) and config.rtp_ports == (41000, 41199)
    assert config.channels == 2 and config.password == "pw"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--gateway", "nohost"])


@run_async
async def test_own_requests_retransmitted_timer_a_b_and_e() -> None:
    async with Ua() as gw, Sim(gateway_port=gw.port, t1=0.02) as sim:
        # Timer A: the INVITE is resent at T1, 2*T1, 4*T1 ... until Timer B (64*T1)
        status, placed = await sim.http("POST", "/calls", {})
        loop = asyncio.get_running_loop()
        times = []
        for _ in range(5):
            invite, _raw = await gw.expect(method="INVITE")
            times.append(loop.time())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[-1] > gaps[0] * 3, gaps  # doubling
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=3")
        assert record["state"] == "failed" and "no response" in record["error"]
        # Timer E: the BYE is resent until answered; CANCEL after cancel_after_ms
        gw.clear()
        status, placed = await sim.http("POST", "/calls", {"hangup_after_ms": 50})
        invite, _ = await gw.expect(method="INVITE")
        ok = make_response(
            invite,
            200,
            to_tag="gw3",
            headers=[("Contact", f"<sip:{PROFILE}@{LOCAL}:{gw.port}>")],
            body=offer(9, (8,)),
            content_type="application/sdp",
        )
        gw.send(ok, sim.sip_port)
        await gw.expect(method="ACK")
        _bye1, raw1 = await gw.expect(method="BYE")
        bye2, raw2 = await gw.expect(method="BYE")
        assert raw1 == raw2
        gw.send(make_response(bye2, 200), sim.sip_port)
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["codec"] == "PCMA"
        gw.clear()
        status, placed = await sim.http("POST", "/calls", {"cancel_after_ms": 100})
        assert status == 200
        invite, _ = await gw.expect(method="INVITE")
        gw.send(make_response(invite, 180, to_tag="gw4"), sim.sip_port)
        cancel, _ = await gw.expect(method="CANCEL")
        assert cancel.via_branch == invite.via_branch and cancel.cseq == (1, "CANCEL")
        gw.send(make_response(cancel, 200), sim.sip_port)
        gw.send(make_response(invite, 487, to_tag="gw4"), sim.sip_port)
        await gw.expect(method="ACK")
        _status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["status_code"] == 487


@run_async
async def test_call_from_skype_sends_dtmf_from_the_dial_pad() -> None:
    async with Ua() as gw, Udp() as rtp, Sim(gateway_port=gw.port) as sim:
        body = {"dtmf": "1#", "dtmf_after_ms": 40, "offer_codecs": ["PCMU"]}
        status, placed = await sim.http("POST", "/calls", body)
        assert status == 200
        invite, _ = await gw.expect(method="INVITE")
        assert SessionDescription.parse(invite.body).media[0].formats == ["0", "101"]
        ok = make_response(
            invite,
            200,
            to_tag="gw5",
            headers=[("Contact", f"<sip:{PROFILE}@{LOCAL}:{gw.port}>")],
            body=offer(rtp.port, (0, 101)),
            content_type="application/sdp",
        )
        gw.send(ok, sim.sip_port)
        events: set[int] = set()
        while len(events) < 2:
            packet = RtpPacket.parse((await rtp.datagram())[0])
            if packet.payload_type == 101 and packet.payload[1] & 0x80:
                events.add(packet.payload[0])
        assert events == {1, 11}
        _status, record = await sim.http("GET", f"/calls/{placed['id']}")
        assert record["state"] == "confirmed"
