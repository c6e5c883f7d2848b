"""The simulated Lync 2010 Mediation Server, driven over loopback by a tiny in-test SIP UA
playing Asterisk (built on harness.sip), with byte-level checks against the seed's trace."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import statistics
from typing import Any, Self, TypeVar

import pytest

from harness.rtp.packet import RtpPacket
from harness.rtp.rfc4733 import TelephoneEvent
from harness.sip.auth import make_challenge, parse_authorization, verify
from harness.sip.framing import StreamFramer
from harness.sip.message import Headers, Request, Response, parse_message
from harness.sip.sdp import SessionDescription
from tests.support.peers import LOCAL, mediation_server, run_async

T = TypeVar("T")

# -- harness around the simulator ---------------------------------------------------------


class Sim:
    """The simulator in-process on loopback, with an HTTP helper for its control API."""

    def __init__(self, gateway_port: int = 5060) -> None:
        self.lines: list[str] = []
        self.server = mediation_server(self.lines, gateway_port)

    async def __aenter__(self) -> Self:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()

    @property
    def sip_port(self) -> int:
        return self.server.sip_port

    async def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await http(self.server.control_port, method, path, body)


async def http(
    port: int, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    if raw is None:
        payload = (
            b""
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        raw = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
    writer.write(raw)
    data = await reader.read()
    writer.close()
    head, _, content = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(content)


# -- the in-test SIP UA (Asterisk's role) ---------------------------------------------------


class SipPeer:
    """One TCP connection carrying SIP; messages are queued with their raw bytes."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Request | Response, bytes] | None] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.port = 0  # our listening port (Contact)
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.accepted = asyncio.Event()

    async def listen(self) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writer = writer
            self.accepted.set()
            await self._read(reader)

        self._server = await asyncio.start_server(accept, LOCAL, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def connect(self, port: int) -> None:
        reader, self.writer = await asyncio.open_connection(LOCAL, port)
        self._tasks.append(asyncio.get_running_loop().create_task(self._read(reader)))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        while data := await reader.read(65536):
            for raw in framer.feed(data):
                await self.queue.put((parse_message(raw), raw))
        await self.queue.put(None)

    def send(self, message: Request | Response | bytes) -> None:
        assert self.writer is not None
        self.writer.write(message if isinstance(message, bytes) else message.serialize())

    async def recv(self, timeout: float = 2.0) -> tuple[Request | Response, bytes]:
        item = await asyncio.wait_for(self.queue.get(), timeout)
        assert item is not None, "connection closed"
        return item

    async def request(self, method: str, timeout: float = 2.0) -> tuple[Request, bytes]:
        msg, raw = await self.recv(timeout)
        assert isinstance(msg, Request) and msg.method == method, raw.decode()
        return msg, raw

    async def response(self, status: int, timeout: float = 2.0) -> tuple[Response, bytes]:
        msg, raw = await self.recv(timeout)
        assert isinstance(msg, Response) and msg.status == status, raw.decode()
        return msg, raw

    async def closed(self, timeout: float = 2.0) -> bool:
        return await asyncio.wait_for(self.queue.get(), timeout) is None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()


class RtpPeer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list[tuple[float, RtpPacket]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def open(self) -> int:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(LOCAL, 0))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self.port

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((asyncio.get_running_loop().time(), RtpPacket.parse(data)))

    def send_to(self, port: int, count: int) -> None:
        assert self.transport is not None
        for n in range(count):
            packet = RtpPacket(0, n, n * 160, 0x1234, b"\xff" * 160, n == 0)
            self.transport.sendto(packet.pack(), (LOCAL, port))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def asterisk_sdp(
    rtp_port: int, direction: str = "sendrecv", version: int = 304001039, formats: str = "0 3 8 101"
) -> str:
    lines = [
        "v=0",
        f"o=root 304001039 {version} IN IP4 {LOCAL}",
        "s=Asterisk PBX 1.6.2.7",
        f"c=IN IP4 {LOCAL}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {formats}",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:3 GSM/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=silenceSupp:off - - - -",
        "a=ptime:20",
        f"a={direction}",
    ]
    return "\r\n".join(lines) + "\r\n"


def seed_invite(
    sim_port: int,
    ua_port: int,
    rtp_port: int,
    *,
    call_id: str | None = None,
    sdp: str | None = None,
    branch: str | None = None,
) -> Request:
    """Seed step 1 (Asterisk 1.6's INVITE), addresses moved to loopback."""
    body = asterisk_sdp(rtp_port) if sdp is None else sdp
    headers = Headers(
        [
            ("Via", f"SIP/2.0/TCP {LOCAL}:{ua_port};branch={branch or new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f'"Test User" <sip:1000@{LOCAL}>;tag=as6f893afb'),
            ("To", f"<sip:+14255550150@{LOCAL}>"),
            ("Contact", f"<sip:1000@{LOCAL}:{ua_port};transport=TCP>"),
            ("Call-ID", call_id or f"{secrets.token_hex(16)}@{LOCAL}"),
            ("CSeq", "102 INVITE"),
            ("User-Agent", "Asterisk PBX 1.6.2.7"),
            ("Date", "Sun, 13 Jun 2010 22:22:42 GMT"),
            ("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO"),
            ("Supported", "replaces, timer"),
            ("Content-Type", "application/sdp"),
            ("Content-Length", str(len(body))),
        ]
    )
    return Request("INVITE", f"sip:+14255550150@{LOCAL}:{sim_port};transport=tcp", headers, body)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(4)


def ack_for(invite: Request, ok: Response, ua_port: int, cseq: int | None = None) -> Request:
    """Seed step 6: the ACK goes to the 200's Contact."""
    contact = ok.headers.get("Contact") or ""
    target = contact.strip("<>") if contact.startswith("<") else contact
    number = cseq if cseq is not None else invite.cseq[0]
    return Request(
        "ACK",
        target,
        Headers(
            [
                ("Via", f"SIP/2.0/TCP {LOCAL}:{ua_port};branch={new_branch()};rport"),
                ("Max-Forwards", "70"),
                ("From", invite.headers.get("From") or ""),
                ("To", ok.headers.get("To") or ""),
                ("Call-ID", invite.call_id or ""),
                ("CSeq", f"{number} ACK"),
                ("Content-Length", "0"),
            ]
        ),
    )


def in_dialog(
    method: str, invite: Request, ok: Response, ua_port: int, cseq: int, sdp: str | None = None
) -> Request:
    """A request from Asterisk inside the dialog set up by ``invite``/``ok``."""
    contact = (ok.headers.get("Contact") or "").strip("<>")
    body = sdp or ""
    headers = Headers(
        [
            ("Via", f"SIP/2.0/TCP {LOCAL}:{ua_port};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", invite.headers.get("From") or ""),
            ("To", ok.headers.get("To") or ""),
            ("Contact", invite.headers.get("Contact") or ""),
            ("Call-ID", invite.call_id or ""),
            ("CSeq", f"{cseq} {method}"),
            ("User-Agent", "Asterisk PBX 1.6.2.7"),
        ]
    )
    if body:
        headers.add("Content-Type", "application/sdp")
    headers.add("Content-Length", str(len(body)))
    return Request(method, contact, headers, body)


def answer(
    request: Request,
    status: int,
    reason: str,
    ua_port: int,
    sdp: str | None = None,
    to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    """Asterisk's response to a request from the simulator (seed step 9 shape)."""
    to = request.headers.get("To") or ""
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    headers = Headers(
        [
            (h.name.title() if h.name.isupper() else h.name, h.value)
            for h in request.headers
            if h.key in ("via",)
        ]
    )
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", to)
    headers.add("Call-ID", request.call_id or "")
    headers.add("CSeq", request.headers.get("CSeq") or "")
    headers.add("Server", "Asterisk PBX 1.6.2.7")
    headers.add("Contact", f"<sip:1000@{LOCAL}:{ua_port};transport=TCP>")
    for name, value in extra or []:
        headers.add(name, value)
    if sdp:
        headers.add("Content-Type", "application/sdp")
    headers.add("Content-Length", str(len(sdp or "")))
    return Response(status, reason, headers, sdp or "")


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    return [line.split(":", 1)[0] for line in head.split("\r\n")[1:]]


def sdp_lines(body: bytes) -> list[str]:
    assert body.endswith(b"\r\n")
    return body.decode().split("\r\n")[:-1]


def assert_lync_sdp(body: bytes, port: int | None = None, direction: str | None = None) -> int:
    """The seed's 200 OK SDP shape (step 5); returns the o= version."""
    lines = sdp_lines(body)
    pattern = [
        r"v=0",
        r"o=- \d+ \d+ IN IP4 127\.0\.0\.1",
        r"s=session",
        r"c=IN IP4 127\.0\.0\.1",
        r"b=CT:1000",
        r"t=0 0",
        r"m=audio \d+ RTP/AVP 0 101",
        r"c=IN IP4 127\.0\.0\.1",
        r"a=rtcp:\d+",
        *([f"a={direction}"] if direction else []),
        r"a=label:Audio",
        r"a=rtpmap:0 PCMU/8000",
        r"a=rtpmap:101 telephone-event/8000",
        r"a=fmtp:101 0-16",
        r"a=ptime:20",
    ]
    assert len(lines) == len(pattern), lines
    for line, pat in zip(lines, pattern, strict=True):
        assert re.fullmatch(pat, line), (line, pat)
    sd = SessionDescription.parse(body)
    audio = sd.media[0]
    assert audio.rtcp_port == audio.port + 1
    if port is not None:
        assert audio.port == port
    return sd.origin.sess_version


async def call_up(
    sim: Sim, ua: SipPeer, rtp: RtpPeer, **invite_kw: Any
) -> tuple[Request, Response, dict[int, bytes]]:
    """INVITE -> 100/183/180/200, ACK. Returns the INVITE, the 200 and raw responses."""
    invite = seed_invite(sim.sip_port, ua.port, rtp.port, **invite_kw)
    ua.send(invite)
    raws: dict[int, bytes] = {}
    for status in (100, 183, 180, 200):
        _msg, raw = await ua.response(status)
        raws[status] = raw
    ok = parse_message(raws[200])
    assert isinstance(ok, Response)
    ua.send(ack_for(invite, ok, ua.port))
    return invite, ok, raws


# -- tests ----------------------------------------------------------------------------------


@run_async
async def test_inbound_call_seed_wire_format_hold_resume_and_bye() -> None:
    ua, rtp = SipPeer(), RtpPeer()
    await ua.listen()
    await rtp.open()
    async with Sim() as sim:
        status, _ = await sim.http(
            "PUT",
            "/behaviour",
            {
                "progress_delay_ms": 10,
                "ring_delay_ms": 30,
                "answer_delay_ms": 60,
                "hold_after_ms": 300,
                "hold_duration_ms": 200,
                "hangup_after_ms": 200,
            },
        )
        assert status == 200
        await ua.connect(sim.sip_port)
        invite, ok, raws = await call_up(sim, ua, rtp)
        epid = re.search(r"epid=([0-9A-F]{10})", ok.headers.get("To") or "")
        assert epid, ok.headers.get("To")
        tag = ok.to_tag
        assert tag and re.fullmatch(r"[0-9a-f]{9}", tag)

        # 100 Trying: seed step 2, byte for byte apart from the addresses.
        via = invite.headers.get("Via")
        assert (
            raws[100]
            == (
                "SIP/2.0 100 Trying\r\n"
                f'FROM: "Test User"<sip:1000@{LOCAL}>;tag=as6f893afb\r\n'
                f"TO: <sip:+14255550150@{LOCAL}>\r\n"
                "CSEQ: 102 INVITE\r\n"
                f"CALL-ID: {invite.call_id}\r\n"
                f"VIA: {via}\r\n"
                "CONTENT-LENGTH: 0\r\n\r\n"
            ).encode()
        )
        # 183 and 180: seed steps 3-4, no SDP, two ALLOW lines.
        contact = f"<sip:mediationsrv.contoso.com:{sim.sip_port};transport=Tcp;maddr={LOCAL}>"
        for status, reason in ((183, "Session Progress"), (180, "Ringing")):
            assert (
                raws[status]
                == (
                    f"SIP/2.0 {status} {reason}\r\n"
                    f'FROM: "Test User"<sip:1000@{LOCAL}>;tag=as6f893afb\r\n'
                    f"TO: <sip:+14255550150@{LOCAL}>;tag={tag};epid={epid.group(1)}\r\n"
                    "CSEQ: 102 INVITE\r\n"
                    f"CALL-ID: {invite.call_id}\r\n"
                    f"VIA: {via}\r\n"
                    f"CONTACT: {contact}\r\n"
                    "CONTENT-LENGTH: 0\r\n"
                    "ALLOW: UPDATE\r\n"
                    "ALLOW: PRACK\r\n"
                    "SERVER: RTCC/3.5.0.0 MediationServer\r\n\r\n"
                ).encode()
            )
        # 200 OK: seed step 5 header order and case, SDP shape.
        assert header_names(raws[200]) == [
            "FROM",
            "TO",
            "CSEQ",
            "CALL-ID",
            "VIA",
            "CONTACT",
            "CONTENT-LENGTH",
            "SUPPORTED",
            "CONTENT-TYPE",
            "ALLOW",
            "SERVER",
            "Allow",
        ]
        assert (
            b"\r\nSUPPORTED: 100rel\r\nCONTENT-TYPE: application/sdp; charset=utf-8\r\n"
            b"ALLOW: ACK\r\nSERVER: RTCC/3.5.0.0 MediationServer\r\n"
            b"Allow: CANCEL,BYE,INVITE,PRACK,UPDATE\r\n\r\n" in raws[200]
        )
        assert ok.headers.get("Contact") == contact
        assert int(ok.headers.get("CONTENT-LENGTH") or 0) == len(ok.body)
        v1 = assert_lync_sdp(ok.body)
        sim_rtp_port = SessionDescription.parse(ok.body).media[0].port
        rtp.send_to(sim_rtp_port, 5)

        # Hold: seed step 8 (CSeq 1, a=inactive, msopaque, o= version + 1).
        hold, hold_raw = await ua.request("INVITE")
        t_hold = asyncio.get_running_loop().time()
        assert hold_raw.startswith(
            f"INVITE sip:1000@{LOCAL}:{ua.port};transport=TCP SIP/2.0\r\n".encode()
        )
        assert header_names(hold_raw) == [
            "FROM",
            "TO",
            "CSEQ",
            "CALL-ID",
            "MAX-FORWARDS",
            "VIA",
            "CONTACT",
            "CONTENT-LENGTH",
            "SUPPORTED",
            "USER-AGENT",
            "CONTENT-TYPE",
        ]
        assert hold.headers.get("FROM") == (
            f"<sip:+14255550150@{LOCAL}>;epid={epid.group(1)};tag={tag}"
        )
        assert hold.headers.get("TO") == f"<sip:1000@{LOCAL}>;tag=as6f893afb"
        assert hold.headers.get("CSEQ") == "1 INVITE"
        assert re.fullmatch(
            rf"SIP/2\.0/TCP {LOCAL}:{sim.sip_port};branch=z9hG4bK[0-9a-f]{{8}}",
            hold.headers.get("VIA") or "",
        )
        assert re.fullmatch(
            rf"<sip:mediationsrv\.contoso\.com:{sim.sip_port};transport=Tcp;maddr=127\.0\.0\.1;"
            r"msopaque=[0-9a-f]{16}>",
            hold.headers.get("CONTACT") or "",
        )
        assert hold.headers.get("USER-AGENT") == "RTCC/3.5.0.0 MediationServer"
        assert assert_lync_sdp(hold.body, sim_rtp_port, "inactive") == v1 + 1
        ua.send(answer(hold, 200, "OK", ua.port, asterisk_sdp(rtp.port, "inactive", 304001040)))
        ack, _ = await ua.request("ACK")
        assert ack.uri == f"sip:1000@{LOCAL}:{ua.port};transport=TCP"
        assert ack.headers.get("CSEQ") == "1 ACK"
        assert ack.via_branch != hold.via_branch
        packets_before_hold = [(t, p) for t, p in rtp.packets if t <= t_hold]

        # Resume: CSeq 2, a=sendrecv, o= version + 1 again.
        resume, _ = await ua.request("INVITE")
        t_resume = asyncio.get_running_loop().time()
        assert resume.headers.get("CSEQ") == "2 INVITE"
        assert resume.headers.get("CONTACT") == hold.headers.get("CONTACT")
        assert assert_lync_sdp(resume.body, sim_rtp_port, "sendrecv") == v1 + 2
        ua.send(answer(resume, 200, "OK", ua.port, asterisk_sdp(rtp.port, "sendrecv", 304001041)))
        await ua.request("ACK")

        # BYE: seed step 10 (CSeq 3).
        bye, bye_raw = await ua.request("BYE")
        t_bye = asyncio.get_running_loop().time()
        assert header_names(bye_raw) == [
            "FROM",
            "TO",
            "CSEQ",
            "CALL-ID",
            "MAX-FORWARDS",
            "VIA",
            "CONTENT-LENGTH",
            "USER-AGENT",
        ]
        assert bye.headers.get("CSEQ") == "3 BYE"
        ua.send(answer(bye, 200, "OK", ua.port))

        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=3")
        assert status == 200
        assert record["state"] == "ended"
        assert record["direction"] == "inbound"
        assert record["call_id"] == invite.call_id
        assert record["remote_sdp_direction"] == "sendrecv"
        assert record["rtp_received"] == 5
        states = [e["event"] for e in record["events"] if e["event"].startswith("state:")]
        assert states == [
            "state:early",
            "state:confirmed",
            "state:held",
            "state:confirmed",
            "state:ended",
        ]
        await asyncio.sleep(0.05)

    # RTP: PCMU every 20 ms on schedule, +1 sequence, +160 timestamp, one SSRC, marker first.
    first = packets_before_hold
    assert len(first) >= 10
    assert first[0][1].marker and not any(p.marker for _, p in first[1:])
    assert {p.ssrc for _, p in rtp.packets} == {first[0][1].ssrc}
    assert all(p.payload_type == 0 and len(p.payload) == 160 for _, p in rtp.packets)
    for (_, a), (_, b) in itertools.pairwise(first):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.timestamp == (a.timestamp + 160) & 0xFFFFFFFF
    times = [t for t, _ in rtp.packets if t <= t_hold]
    # Absolute schedule: offsets from the n*20 ms grid stay constant (no drift). Arrival
    # jitter on a busy machine only delays packets, so compare medians, not single packets.
    offsets = sorted(t - n * 0.020 for n, t in enumerate(times))
    half = len(times) // 2
    early = statistics.median(t - n * 0.020 for n, t in enumerate(times[:half]))
    late = statistics.median(t - (n + half) * 0.020 for n, t in enumerate(times[half:]))
    assert abs(late - early) < 0.008, (early, late)
    assert statistics.median(offsets) - offsets[0] < 0.010
    assert 0.017 < (times[-1] - times[0]) / (len(times) - 1) < 0.023
    # Nothing during the hold (a packet already in flight at most).
    during_hold = [p for t, p in rtp.packets if t_hold + 0.01 < t < t_resume]
    assert during_hold == []
    # After resume: marker again, sequence continues, timestamp kept in step with time.
    after = [(t, p) for t, p in rtp.packets if t > t_resume]
    assert after and after[0][1].marker
    last_before = [p for t, p in rtp.packets if t < t_resume][-1]
    assert after[0][1].sequence == (last_before.sequence + 1) & 0xFFFF
    jump = (after[0][1].timestamp - last_before.timestamp) & 0xFFFFFFFF
    assert jump % 160 == 0 and jump > 160 * 5
    assert not [p for t, p in rtp.packets if t > t_bye + 0.01]
    rtp.close()
    await ua.close()


@run_async
async def test_remote_hold_direction_rules_options_update_and_remote_bye() -> None:
    ua, rtp = SipPeer(), RtpPeer()
    await ua.listen()
    await rtp.open()
    async with Sim() as sim:
        await sim.http(
            "PUT",
            "/behaviour",
            {
                "progress_delay_ms": None,
                "ring_delay_ms": 0,
                "answer_delay_ms": 0,
                "hangup_by": "remote",
            },
        )
        await ua.connect(sim.sip_port)
        invite = seed_invite(sim.sip_port, ua.port, rtp.port)
        ua.send(invite)
        await ua.response(100)
        await ua.response(180)
        ok, _ = await ua.response(200)
        ua.send(ack_for(invite, ok, ua.port))
        version = SessionDescription.parse(ok.body).origin.sess_version
        await asyncio.sleep(0.1)

        cseq = 103
        expected = [
            ("sendonly", "recvonly"),
            ("inactive", "inactive"),
            ("recvonly", "sendonly"),
            ("sendrecv", None),
        ]
        for offered, answered in expected:
            reinvite = in_dialog(
                "INVITE",
                invite,
                ok,
                ua.port,
                cseq,
                asterisk_sdp(rtp.port, offered, 304001040 + cseq),
            )
            ua.send(reinvite)
            resp, raw = await ua.response(200)
            assert header_names(raw)[-1] == "Allow"
            version += 1
            assert assert_lync_sdp(resp.body, direction=answered) == version
            ua.send(ack_for(invite, ok, ua.port, cseq))
            cseq += 1
            await asyncio.sleep(0.08)
            _, record = await sim.http("GET", "/calls/last")
            assert record["remote_sdp_direction"] == offered
            assert record["state"] == ("confirmed" if offered == "sendrecv" else "held")
            sent = record["rtp_sent"]
            await asyncio.sleep(0.08)
            _, record = await sim.http("GET", "/calls/last")
            # RTP follows the answer: it sends only when its answer allows sending.
            assert (record["rtp_sent"] > sent) == (answered in (None, "sendonly")), offered

        # Same offer again: the answer is unchanged, so o= version stays (RFC 3264 8).
        ua.send(
            in_dialog(
                "INVITE", invite, ok, ua.port, cseq, asterisk_sdp(rtp.port, "sendrecv", 304001099)
            )
        )
        resp, _ = await ua.response(200)
        assert assert_lync_sdp(resp.body) == version
        ua.send(ack_for(invite, ok, ua.port, cseq))
        cseq += 1

        ua.send(in_dialog("UPDATE", invite, ok, ua.port, cseq))
        update_ok, _ = await ua.response(200)
        assert update_ok.headers.get("CONTACT")
        cseq += 1
        ua.send(in_dialog("OPTIONS", invite, ok, ua.port, cseq))
        _opt, opt_raw = await ua.response(200)
        assert b"\r\nSERVER: RTCC/3.5.0.0 MediationServer\r\n" in opt_raw
        assert "ALLOW" in header_names(opt_raw)
        cseq += 1
        ua.send(in_dialog("BYE", invite, ok, ua.port, cseq))
        bye_ok, bye_raw = await ua.response(200)
        assert bye_ok.headers.get("CSEQ") == f"{cseq} BYE"
        assert bye_raw.startswith(b"SIP/2.0 200 OK\r\nFROM: ")
        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert (status, record["state"]) == (200, "ended")
        # In-dialog request after the end: 481.
        ua.send(in_dialog("OPTIONS", invite, ok, ua.port, cseq + 1))
        await ua.response(481)
    rtp.close()
    await ua.close()


@run_async
async def test_reject_code_no_pcmu_and_cancel() -> None:
    ua, rtp = SipPeer(), RtpPeer()
    await ua.listen()
    await rtp.open()
    async with Sim() as sim:
        await ua.connect(sim.sip_port)
        # 486 after the provisionals due before the answer time.
        await sim.http("PUT", "/behaviour", {"reject_code": 486, "answer_delay_ms": 50})
        invite = seed_invite(sim.sip_port, ua.port, rtp.port)
        ua.send(invite)
        await ua.response(100)
        await ua.response(183)
        await ua.response(180)
        busy, busy_raw = await ua.response(486)
        assert busy_raw.startswith(b"SIP/2.0 486 Busy Here\r\nFROM: ")
        assert busy.to_tag and "epid=" in (busy.headers.get("TO") or "")
        ua.send(ack_for(invite, busy, ua.port))
        _, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert (record["state"], record["status_code"]) == ("rejected", 486)

        # PCMU not offered: 488 at once, with the reason in a Warning.
        await sim.http("DELETE", "/behaviour")
        sdp = asterisk_sdp(rtp.port, formats="8 101")
        sdp = sdp.replace("a=rtpmap:0 PCMU/8000\r\n", "")
        invite = seed_invite(sim.sip_port, ua.port, rtp.port, sdp=sdp)
        ua.send(invite)
        await ua.response(100)
        rejected, _ = await ua.response(488)
        assert "PCMU" in (rejected.headers.get("WARNING") or "")
        ua.send(ack_for(invite, rejected, ua.port))

        # CANCEL while ringing: 200 to the CANCEL, 487 to the INVITE.
        await sim.http("PUT", "/behaviour", {"answer_delay_ms": 5000})
        invite = seed_invite(sim.sip_port, ua.port, rtp.port)
        ua.send(invite)
        await ua.response(100)
        await ua.response(183)
        cancel = Request(
            "CANCEL",
            invite.uri,
            Headers(
                [
                    ("Via", invite.headers.get("Via") or ""),
                    ("Max-Forwards", "70"),
                    ("From", invite.headers.get("From") or ""),
                    ("To", invite.headers.get("To") or ""),
                    ("Call-ID", invite.call_id or ""),
                    ("CSeq", "102 CANCEL"),
                    ("Content-Length", "0"),
                ]
            ),
        )
        await ua.response(180)
        ua.send(cancel)
        got = {}
        for _ in range(2):
            msg, _raw = await ua.recv()
            assert isinstance(msg, Response)
            got[msg.cseq[1]] = msg.status
        assert got == {"CANCEL": 200, "INVITE": 487}
        _, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert (record["state"], record["status_code"]) == ("ended", 487)
    rtp.close()
    await ua.close()


@run_async
async def test_malformed_requests_get_400_and_server_keeps_answering() -> None:
    ua = SipPeer()
    await ua.listen()
    async with Sim() as sim:
        await ua.connect(sim.sip_port)
        bad = (
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {LOCAL}:{ua.port};branch=z9hG4bKbad1\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n"
            "Call-ID: bad1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        ua.send(bad.encode())
        resp, raw = await ua.response(400)
        assert raw.startswith(b"SIP/2.0 400 Bad Request\r\n")
        warning = resp.headers.get("WARNING") or ""
        assert warning.startswith('399 mediationsrv.contoso.com "') and "CSeq method" in warning
        # Unanswerable (no Call-ID): dropped, and the connection still works.
        ua.send(
            b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        options = (
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {LOCAL}:{ua.port};branch=z9hG4bKok1\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n"
            "Call-ID: ok1\r\nCSeq: 2 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        ua.send(options.encode())
        ok, _ = await ua.response(200)
        assert ok.call_id == "ok1"
        assert "epid=" in (ok.headers.get("TO") or "")
        # A stray response is dropped silently; an unknown method gets 405.
        ua.send(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bKx\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: s\r\n"
            b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        ua.send(options.replace("OPTIONS", "SUBSCRIBE").replace("ok1", "ok2").encode())
        await ua.response(405)
        # A framing error (no Content-Length over TCP) closes that connection only.
        ua.send(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: z\r\n\r\n")
        assert await ua.closed()
        other = SipPeer()
        await other.connect(sim.sip_port)
        other.send(options.replace("ok1", "ok3").encode())
        ok3, _ = await other.response(200)
        assert ok3.call_id == "ok3"
        await other.close()
        assert any("SIP FRAMING ERROR" in line for line in sim.lines)
        assert any("dropped (cannot answer it)" in line for line in sim.lines)
    await ua.close()


@run_async
async def test_dtmf_rfc4733_events() -> None:
    ua, rtp = SipPeer(), RtpPeer()
    await ua.listen()
    await rtp.open()
    async with Sim() as sim:
        await sim.http(
            "PUT",
            "/behaviour",
            {
                "progress_delay_ms": None,
                "ring_delay_ms": None,
                "answer_delay_ms": 0,
                "dtmf": "1#",
                "dtmf_after_ms": 60,
                "hangup_after_ms": 600,
            },
        )
        await ua.connect(sim.sip_port)
        invite = seed_invite(sim.sip_port, ua.port, rtp.port)
        ua.send(invite)
        await ua.response(100)
        ok, _ = await ua.response(200)
        ua.send(ack_for(invite, ok, ua.port))
        bye, _ = await ua.request("BYE")
        ua.send(answer(bye, 200, "OK", ua.port))
        _, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert record["dtmf_sent"] == "1#"
    packets = [p for _, p in rtp.packets]
    seqs = [p.sequence for p in packets]
    assert all(b == (a + 1) & 0xFFFF for a, b in itertools.pairwise(seqs))
    assert len({p.ssrc for p in packets}) == 1
    events = [i for i, p in enumerate(packets) if p.payload_type == 101]
    assert len(events) == 14  # 2 digits x (4 + 3 end packets)
    for digit_index, code in enumerate((1, 11)):
        idx = events[digit_index * 7 : (digit_index + 1) * 7]
        assert idx == list(range(idx[0], idx[0] + 7))  # voice paused during the event
        group = [packets[i] for i in idx]
        te = [TelephoneEvent.parse(p.payload) for p in group]
        assert [e.event for e in te] == [code] * 7
        assert [e.duration for e in te] == [160, 320, 480, 640, 800, 800, 800]
        assert [e.end for e in te] == [False] * 4 + [True] * 3
        assert [p.marker for p in group] == [True] + [False] * 6
        assert len({p.timestamp for p in group}) == 1
        # The event's timestamp is the voice timeline's at the event start.
        before = packets[idx[0] - 1]
        assert before.payload_type == 0
        assert (group[0].timestamp - before.timestamp) & 0xFFFFFFFF == 160
    # 50 ms gap between digits: voice packets in between.
    gap = events[7] - events[6] - 1
    assert gap >= 2
    rtp.close()
    await ua.close()


@run_async
async def test_outbound_call_with_digest_retry() -> None:
    gateway, rtp = SipPeer(), RtpPeer()
    gw_port = await gateway.listen()
    await rtp.open()
    async with Sim(gateway_port=gw_port) as sim:
        status, body = await sim.http(
            "POST",
            "/calls",
            {
                "to": "+1000",
                "auth_user": "lync",
                "auth_password": "secret",
                "hangup_after_ms": 200,
            },
        )
        assert status == 200 and body["id"]
        first, first_raw = await gateway.request("INVITE")
        assert first_raw.startswith(
            f"INVITE sip:+1000@{LOCAL}:{gw_port};user=phone SIP/2.0\r\n".encode()
        )
        assert header_names(first_raw) == [
            "FROM",
            "TO",
            "CSEQ",
            "CALL-ID",
            "MAX-FORWARDS",
            "VIA",
            "CONTACT",
            "CONTENT-LENGTH",
            "SUPPORTED",
            "USER-AGENT",
            "CONTENT-TYPE",
        ]
        assert re.fullmatch(
            r"<sip:\+14255550150@mediationsrv\.contoso\.com;user=phone>;epid=[0-9A-F]{10};"
            r"tag=[0-9a-f]{9}",
            first.headers.get("FROM") or "",
        )
        assert first.headers.get("CSEQ") == "1 INVITE"
        assert_lync_sdp(first.body)
        challenge = make_challenge("asterisk", nonce="abc123")
        gateway.send(
            answer(
                first,
                401,
                "Unauthorized",
                gw_port,
                to_tag="gw401",
                extra=[("WWW-Authenticate", str(challenge))],
            )
        )
        ack, _ = await gateway.request("ACK")
        assert ack.via_branch == first.via_branch and ack.to_tag == "gw401"
        assert ack.uri == first.uri
        second, _ = await gateway.request("INVITE")
        assert second.headers.get("CSEQ") == "2 INVITE"
        assert second.call_id == first.call_id and second.from_tag == first.from_tag
        assert second.via_branch != first.via_branch
        auth = second.headers.get("AUTHORIZATION") or ""
        assert verify(parse_authorization(auth), "INVITE", "secret")
        gateway.send(answer(second, 100, "Trying", gw_port))
        gateway.send(answer(second, 180, "Ringing", gw_port, to_tag="gwtag"))
        gateway.send(answer(second, 200, "OK", gw_port, asterisk_sdp(rtp.port), to_tag="gwtag"))
        ack2, _ = await gateway.request("ACK")
        assert ack2.uri == f"sip:1000@{LOCAL}:{gw_port};transport=TCP"
        assert ack2.headers.get("CSEQ") == "2 ACK" and ack2.to_tag == "gwtag"
        bye, _ = await gateway.request("BYE")
        assert bye.headers.get("CSEQ") == "3 BYE"
        gateway.send(answer(bye, 200, "OK", gw_port))
        status, record = await sim.http("GET", f"/calls/{body['id']}?wait=ended&timeout=2")
        assert status == 200
        assert record["direction"] == "outbound"
        assert record["state"] == "ended"
        assert record["rtp_sent"] >= 5
        assert [e["event"] for e in record["events"]].count("auth_retry") == 1

        # A second call that the gateway rejects.
        status, body = await sim.http("POST", "/calls", {"to": f"sip:+1001@{LOCAL}:{gw_port}"})
        invite, _ = await gateway.request("INVITE")
        assert invite.uri == f"sip:+1001@{LOCAL}:{gw_port}"
        gateway.send(answer(invite, 503, "Service Unavailable", gw_port, to_tag="x"))
        await gateway.request("ACK")
        _, record = await sim.http("GET", f"/calls/{body['id']}?wait=ended&timeout=2")
        assert (record["state"], record["status_code"]) == ("rejected", 503)
    rtp.close()
    await gateway.close()


@run_async
async def test_outbound_call_to_unreachable_gateway_fails() -> None:
    probe = SipPeer()
    port = await probe.listen()
    await probe.close()  # nothing listens there any more
    async with Sim(gateway_port=port) as sim:
        _, body = await sim.http("POST", "/calls", {"to": "+1000"})
        status, record = await sim.http("GET", f"/calls/{body['id']}?wait=ended&timeout=2")
        assert status == 200
        assert record["state"] == "failed" and record["error"]


def test_cli_help_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.peers.lync.mediation import build_parser, main

    text = build_parser().format_help()
    for option in (
        "--address",
        "--sip-port",
        "--control-port",
        "--gateway",
        "--rtp-ports",
        "--domain",
    ):
        assert option in text
    with pytest.raises(SystemExit) as info:
        main(["--gateway", "nohostport"])
    assert info.value.code == 2
    assert "HOST:PORT" in capsys.readouterr().err
