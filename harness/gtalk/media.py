"""A Jingle call's media, on the loop: ICE-UDP (XEP-0176, RFC 8445) through aioice, bound to
the one host address the topology can reach, and RTP PCMU over the nominated pair.

Sending follows the simulators' 20 ms rules (harness/peers/common/rtp_session.py): packet
n belongs to the slot ``start + n * 20 ms`` and carries the timestamp ``ts0 + n * 160``; a
sender that fell behind catches up a packet every 10 ms, and after a stall of over three
packet times drops the slots that passed (the sequence number counts packets sent, the
timestamp keeps the sampling clock, RFC 3550 5.1) with the marker on the next packet
(RFC 3551 4.1), as the first packet has it. (The layer rules keep harness.gtalk from
importing harness.peers, so the schedule is written here again, smaller.)
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import aioice

from harness.gtalk.jingle import Candidate, Transport
from harness.rtp.packet import PT_PCMU, RtpPacket, RtpParseError, looks_like_rtcp
from harness.rtp.tone import ToneGenerator

PTIME_S = 0.020
SAMPLES = 160
MIN_GAP_S = PTIME_S / 2
CATCH_UP_S = 3 * PTIME_S
COMPONENTS = 2  # RTP and RTCP: chan_motif's RTP instance has RTCP on (XEP-0176 5.2 component)


class BridgeIce(aioice.Connection):
    """aioice gathers a host candidate on every interface; the topology's containers reach
    the host at one address only (the bridge's), so only that one is offered: an
    unreachable candidate costs the peer a failed check per pair."""

    def __init__(self, address: str, ice_controlling: bool) -> None:
        super().__init__(ice_controlling=ice_controlling, components=COMPONENTS, use_ipv6=False)
        self._bridge_address = address

    async def gather_candidates(self) -> None:
        if self._local_candidates_start:
            return
        self._local_candidates_start = True
        for component in self._components:
            self._local_candidates += await self.get_component_candidates(
                component=component, addresses=[self._bridge_address])
        if not self._local_candidates:
            raise OSError(f"cannot bind UDP on {self._bridge_address} for ICE")
        self._local_candidates_end = True


def to_jingle(candidate: aioice.Candidate, index: int) -> Candidate:
    return Candidate(candidate.component, candidate.foundation, candidate.host, candidate.port,
                     candidate.priority, candidate.type, candidate.transport.lower(),
                     0, f"h{index}")


def from_jingle(candidate: Candidate) -> aioice.Candidate:
    return aioice.Candidate(foundation=candidate.foundation, component=candidate.component,
                            transport=candidate.protocol, priority=candidate.priority,
                            host=candidate.ip, port=candidate.port, type=candidate.type)


@dataclass
class MediaStats:
    packets_sent: int = 0
    packets_received: int = 0
    rtcp_received: int = 0
    invalid_received: int = 0
    payload_types_received: set[int] = field(default_factory=set)
    slots_skipped: int = 0
    first_sent: float | None = None  # wall clock (time.time())
    first_received: float | None = None
    last_received: float | None = None
    ice_started: float | None = None
    ice_completed: float | None = None
    ice_error: str | None = None
    selected: tuple[str, str] | None = None  # (local ip:port, remote ip:port) for RTP


@dataclass
class CallMedia:
    """One call's ICE agent and RTP. ``start`` gathers; ``set_remote`` takes the peer's
    transport (any number of times: candidates may come in pieces); ``connect`` runs the
    checks and then sends and receives RTP until ``close``."""

    address: str
    controlling: bool
    stats: MediaStats = field(default_factory=MediaStats)
    tone: ToneGenerator = field(default_factory=ToneGenerator)
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    _ice: BridgeIce | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _remote_known: bool = False
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _may_send: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False

    async def start(self) -> Transport:
        """Gathers the local candidates; the transport to offer or accept with."""
        self._ice = BridgeIce(self.address, self.controlling)
        await self._ice.gather_candidates()
        ice = self._ice
        return Transport(ice.local_username, ice.local_password,
                         tuple(to_jingle(c, n) for n, c in enumerate(ice.local_candidates)))

    async def set_remote(self, transport: Transport) -> None:
        ice = self._require()
        if transport.ufrag and transport.pwd:
            ice.remote_username, ice.remote_password = transport.ufrag, transport.pwd
        for c in transport.candidates:
            if c.protocol.lower() == "udp" and ":" not in c.ip:
                await ice.add_remote_candidate(from_jingle(c))
        if transport.candidates:
            self._remote_known = True

    def ready(self) -> bool:
        """The peer's credentials and candidates are known: the checks can run."""
        ice = self._ice
        return bool(ice and ice.remote_password and self._remote_known)

    def allow_sending(self) -> None:
        """RTP may go once ICE completes: the session is accepted (XEP-0167 6.3: media
        flows after the session-accept)."""
        self._may_send.set()

    def connect_soon(self) -> None:
        """Runs the checks, then the media, in the background (once)."""
        if self._tasks or self._closed:
            return
        self._tasks.append(asyncio.get_running_loop().create_task(self._connect()))

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return self.stats.ice_completed is not None

    async def _connect(self) -> None:
        ice = self._require()
        await ice.add_remote_candidate(None)  # chan_motif sends its candidates at once
        self.stats.ice_started = time.time()
        try:
            await ice.connect()
        except (ConnectionError, OSError) as exc:
            self.stats.ice_error = str(exc)
            self._connected.set()
            return
        self.stats.ice_completed = time.time()
        pair = ice._nominated.get(1)  # aioice keeps the selected pairs per component
        if pair is not None:
            lc, rc = pair.local_candidate, pair.remote_candidate
            self.stats.selected = (f"{lc.host}:{lc.port}", f"{rc.host}:{rc.port}")
        self._connected.set()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._send()))
        self._tasks.append(loop.create_task(self._receive()))

    async def _send(self) -> None:
        ice = self._require()
        await self._may_send.wait()
        loop = asyncio.get_running_loop()
        seq, ts0 = random.getrandbits(16), random.getrandbits(32)
        start = loop.time()
        tick, last, marker = 0, None, True
        while not self._closed:
            frame = self.tone.frame(SAMPLES)
            due = start + tick * PTIME_S
            if last is not None:
                due = max(due, last + MIN_GAP_S)
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            if now - (start + tick * PTIME_S) > CATCH_UP_S:
                current = int((now - start) / PTIME_S)
                self.stats.slots_skipped += current - tick
                tick, marker = current, True
            packet = RtpPacket(PT_PCMU, seq, (ts0 + tick * SAMPLES) & 0xFFFFFFFF, self.ssrc,
                               frame, marker)
            try:
                await ice.sendto(packet.pack(), 1)
            except ConnectionError:
                return
            if self.stats.first_sent is None:
                self.stats.first_sent = time.time()
            self.stats.packets_sent += 1
            seq, tick, last, marker = (seq + 1) & 0xFFFF, tick + 1, now, False

    async def _receive(self) -> None:
        ice = self._require()
        while not self._closed:
            try:
                data, component = await ice.recvfrom()
            except ConnectionError:
                return
            if component != 1 or looks_like_rtcp(data):
                self.stats.rtcp_received += 1
                continue
            try:
                packet = RtpPacket.parse(data)
            except RtpParseError:
                self.stats.invalid_received += 1
                continue
            now = time.time()
            if self.stats.first_received is None:
                self.stats.first_received = now
            self.stats.last_received = now
            self.stats.packets_received += 1
            self.stats.payload_types_received.add(packet.payload_type)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ice is not None:
            await self._ice.close()

    def _require(self) -> BridgeIce:
        if self._ice is None:
            raise RuntimeError("CallMedia.start() first")
        return self._ice
