"""The DTMF checks (harness.analysis.dtmf_rules) on real captures of the suite's DTMF calls
(tests/callflow/test_dtmf.py, topology on 192.168.123.0/24): the softphone keying 50150#
and the Skype user keying 1# into Lync, each as captured, then with one fault injected by
rewriting its RTP: a digit dropped on the Lync trunk, the end packets gone, a marker bit
cleared, two digits swapped."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.analysis.dtmf_rules import PHONE_LEG, SKYPE_LEG, Kind, check_dtmf_call
from harness.analysis.legs import LYNC_LEG
from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from harness.flows.dtmf import PCAP_NAME, SKYPE_DIGITS, SOFTPHONE_DIGITS
from harness.roles import Roles
from harness.rtp.packet import RtpPacket
from harness.rtp.rfc4733 import digit_to_event, event_plan
from tests.support.rewrite import UDP, layout, read_pcap, write_pcap

DATA = Path(__file__).parent / "data" / "dtmf"
SCENARIOS = Path(__file__).parents[2] / "scenarios"
PREFIX = "192.168.123"
ROLES = Roles.of_topology(PREFIX)
ASTERISK, MEDIATION = f"{PREFIX}.10", f"{PREFIX}.20"
SKYPE, SOFTPHONE = f"{PREFIX}.30", f"{PREFIX}.40"
CAPTURES: dict[Kind, tuple[str, str, str]] = {
    # kind: (pcap, digits, the caller's address)
    "softphone": ("softphone_50150.pcap", SOFTPHONE_DIGITS, SOFTPHONE),
    "skype": ("skype_1.pcap", SKYPE_DIGITS, SKYPE),
}
EGRESS = "Asterisk -> Mediation Server"

# An edit sees one RTP telephone-event packet (source, destination, its bytes from the RTP
# header on) and its event's index on that path; it changes the bytes, or returns False to
# drop the packet.
Edit = Callable[[str, str, bytearray, int], bool]


def _ip(data: bytearray, off: int) -> str:
    return ".".join(str(b) for b in data[off:off + 4])


def inject(src: Path, dst: Path, edit: Edit) -> Path:
    """`src` with `edit` applied to its telephone-event packets (payload type 101, one
    4-byte event); UDP checksums zeroed (IPv4: none) where a packet changed."""
    pcap = read_pcap(src)
    kept = []
    starts: dict[tuple[str, str], list[int]] = {}  # path -> its events' timestamps
    for r in pcap.records:
        lay = layout(pcap.linktype, r.data)
        rtp = lay.payload
        if (lay.proto != UDP or lay.l4 < 0 or lay.end - rtp != 16 or r.data[rtp] >> 6 != 2
                or r.data[rtp + 1] & 0x7F != 101):
            kept.append(r)
            continue
        path = (_ip(r.data, lay.ip + 12), _ip(r.data, lay.ip + 16))
        ts = struct.unpack("!I", r.data[rtp + 4:rtp + 8])[0]
        seen = starts.setdefault(path, [])
        if ts not in seen:
            seen.append(ts)
        body = bytearray(r.data[rtp:lay.end])
        if edit(*path, body, seen.index(ts)):
            if body != r.data[rtp:lay.end]:
                r.data[rtp:lay.end] = body
                r.data[lay.l4 + 6:lay.l4 + 8] = b"\0\0"
            kept.append(r)
    return write_pcap(pcap, dst, kept)


# --- scenarios/softphone_dtmf_50150.pcap, the RTP SIPp replays (play_pcap_audio rewrites
# addresses and ports only). Regenerate: .venv/bin/python -c "from tests.unit.test_dtmf_rules
# import write_scenario_pcap; write_scenario_pcap()"

_PTIME_S = 0.02
_LEAD_S, _GAP_S, _TAIL_S = 0.6, 0.2, 1.0
_SSRC, _SEQ0, _TS0 = 0x58AB1000, 1000, 16000


def _frame(t: float, rtp: bytes) -> bytes:
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 20 + len(udp), 0, 0x4000, 64, 17,
                               0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
    total = sum(struct.unpack("!10H", bytes(ip)))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    ip[10:12] = struct.pack("!H", ~total & 0xFFFF)
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    data = eth + bytes(ip) + udp
    sec, usec = int(t), round((t - int(t)) * 1e6)
    return struct.pack("<IIII", sec, usec, len(data), len(data)) + data


def event_pcap(digits: str, event_pt: int = 101, start: float = 1_700_000_000.0) -> bytes:
    """A classic Ethernet pcap of one RTP stream: PCMU silence, then each digit as RFC 4733
    events (100 ms, 20 ms updates, the end three times, audio suppressed meanwhile) with
    200 ms of audio between digits, then a second of audio. The clock runs on: a digit's
    timestamp is the time it is pressed (RFC 4733 2.5.1.2)."""
    frames: list[bytes] = []
    seq, tick = _SEQ0, 0

    def send(pt: int, payload: bytes, marker: bool, ts: int) -> None:
        nonlocal seq
        pkt = RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, _SSRC, payload, marker)
        frames.append(_frame(start + tick * _PTIME_S, pkt.pack()))
        seq += 1

    def audio(seconds: float) -> None:
        nonlocal tick
        for _ in range(round(seconds / _PTIME_S)):
            send(0, b"\xff" * 160, False, _TS0 + tick * 160)
            tick += 1

    audio(_LEAD_S)
    for d in digits:
        begin = _TS0 + tick * 160
        first = True
        for interval in event_plan(digit_to_event(d)):
            for ev in interval:
                send(event_pt, ev.pack(), first, begin)
                first = False
                tick += 1
        audio(_GAP_S)
    audio(_TAIL_S - _GAP_S)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return header + b"".join(frames)


def write_scenario_pcap() -> Path:
    path = SCENARIOS / PCAP_NAME
    path.write_bytes(event_pcap(SOFTPHONE_DIGITS))
    return path



def verdict(kind: Kind, path: Path | None = None) -> Verdict:
    name, digits, _caller = CAPTURES[kind]
    pcap = path or DATA / name
    return check_dtmf_call(open_capture(pcap), ROLES, pcap, f"{kind} keys {digits}", kind, digits)


def failed(v: Verdict) -> dict[str, str]:
    return {f"{r.leg}|{r.subject}": r.actual for r in v.failures}


@pytest.mark.parametrize("kind", ["softphone", "skype"])
def test_real_capture_passes_on_both_legs(kind: Kind) -> None:
    v = verdict(kind)
    assert v.ok, v.report()
    caller_leg = PHONE_LEG if kind == "softphone" else SKYPE_LEG
    legs = {r.leg for r in v.results}
    assert {caller_leg, LYNC_LEG} <= legs
    digits = {r.subject: r.actual for r in v.results if r.subject.startswith("RFC 4733 digits")}
    assert set(digits.values()) == {CAPTURES[kind][1]}, digits
    assert len(digits) == 2  # both legs


def test_baresip_through_chan_sip_passes() -> None:
    """baresip's own events (180 ms, 12 packets each) through Asterisk 16's chan_sip."""
    v = verdict("softphone", DATA / "softphone_50150_chansip_baresip.pcap")
    assert v.ok, v.report()
    assert any("5 (180 ms, 12 packets, 3 end" in n for n in v.notes), v.notes


def test_digit_dropped_on_the_lync_trunk_fails_there(tmp_path: Path) -> None:
    # The third digit (1 of 50150#) never leaves Asterisk.
    out = inject(DATA / CAPTURES["softphone"][0], tmp_path / "dropped.pcap",
                 lambda s, d, rtp, k: not (s == ASTERISK and d == MEDIATION and k == 2))
    bad = failed(verdict("softphone", out))
    assert bad[f"{LYNC_LEG}|RFC 4733 digits {EGRESS}"] == "5050#"
    relayed = f"{LYNC_LEG}|same digits in order (Softphone -> Asterisk relayed as {EGRESS})"
    assert bad[relayed] == "5050#"
    assert not any(k.startswith(PHONE_LEG) for k in bad), bad


def _no_end(s: str, d: str, rtp: bytearray, k: int) -> bool:
    return not (s == SOFTPHONE and k == 0 and rtp[13] & 0x80)


def test_end_packets_missing_on_the_softphone_leg(tmp_path: Path) -> None:
    out = inject(DATA / CAPTURES["softphone"][0], tmp_path / "noend.pcap", _no_end)
    bad = failed(verdict("softphone", out))
    assert list(bad) == [f"{PHONE_LEG}|RFC 4733 end Softphone -> Asterisk"], bad
    assert "digit 5" in bad[f"{PHONE_LEG}|RFC 4733 end Softphone -> Asterisk"]
    assert "no end packet" in bad[f"{PHONE_LEG}|RFC 4733 end Softphone -> Asterisk"]


def test_one_end_packet_instead_of_three(tmp_path: Path) -> None:
    kept: dict[int, int] = {}

    def once(s: str, d: str, rtp: bytearray, k: int) -> bool:
        if s == ASTERISK and d == MEDIATION and rtp[13] & 0x80:
            kept[k] = kept.get(k, 0) + 1
            return kept[k] == 1
        return True

    out = inject(DATA / CAPTURES["skype"][0], tmp_path / "once.pcap", once)
    bad = failed(verdict("skype", out))
    assert list(bad) == [f"{LYNC_LEG}|RFC 4733 end {EGRESS}"], bad
    assert "1 end packet " in bad[f"{LYNC_LEG}|RFC 4733 end {EGRESS}"]


def test_marker_missing_on_the_lync_trunk(tmp_path: Path) -> None:
    def clear(s: str, d: str, rtp: bytearray, k: int) -> bool:
        if s == ASTERISK and k == 1:
            rtp[1] &= 0x7F
        return True

    out = inject(DATA / CAPTURES["softphone"][0], tmp_path / "nomarker.pcap", clear)
    bad = failed(verdict("softphone", out))
    assert list(bad) == [f"{LYNC_LEG}|RFC 4733 marker {EGRESS}"], bad
    assert "digit 0" in bad[f"{LYNC_LEG}|RFC 4733 marker {EGRESS}"]


def test_digits_reordered_on_the_lync_trunk(tmp_path: Path) -> None:
    swap = {0: 1, 1: 0}  # the first two digits, 5 and 0, change places

    def reorder(s: str, d: str, rtp: bytearray, k: int) -> bool:
        if s == ASTERISK and k in swap:
            rtp[12] = (5, 0)[swap[k]]
        return True

    out = inject(DATA / CAPTURES["softphone"][0], tmp_path / "swapped.pcap", reorder)
    bad = failed(verdict("softphone", out))
    relayed = f"{LYNC_LEG}|same digits in order (Softphone -> Asterisk relayed as {EGRESS})"
    assert bad[relayed] == "05150#", bad
    assert not any(k.startswith(PHONE_LEG) for k in bad), bad


def test_skype_digit_dropped_on_its_own_leg_fails_both_comparisons(tmp_path: Path) -> None:
    out = inject(DATA / CAPTURES["skype"][0], tmp_path / "skype-drop.pcap",
                 lambda s, d, rtp, k: not (s == SKYPE and k == 1))
    bad = failed(verdict("skype", out))
    assert bad[f"{SKYPE_LEG}|RFC 4733 digits Skype -> Asterisk"] == "1"
    assert bad[f"{LYNC_LEG}|same digits in order (Skype -> Asterisk relayed as {EGRESS})"] \
        == "1#"


def test_trunk_with_inband_dtmf_fails_on_the_trunk_only() -> None:
    """A real misconfiguration: [to_lync] dtmf_mode=inband (Asterisk 22; the seed's trunk
    has dtmfmode=rfc2833). The softphone's events arrive; toward Lync there is no
    telephone-event in the SDP and no event: the digits become tones in the audio."""
    v = verdict("softphone", DATA / "softphone_50150_trunk_inband.pcap")
    bad = failed(v)
    assert {k.split("|")[0] for k in bad} == {LYNC_LEG}, bad
    assert bad[f"{LYNC_LEG}|RFC 4733 digits {EGRESS}"] == "none"
    assert bad[f"{LYNC_LEG}|telephone-event payload type in Asterisk's SDP ({EGRESS})"] \
        == "None"
    assert v.failures[0].subject.startswith("telephone-event payload type")
    # the rules of events that never came are not checked rather than failed
    assert {r.subject for r in v.unchecked} == {
        f"RFC 4733 {k} {EGRESS}" for k in ("marker", "timestamp", "durations", "end", "overlap")}


def test_trunk_with_sip_info_dtmf_names_the_info() -> None:
    """A real misconfiguration: [to_lync] dtmf_mode=info (Asterisk 22). The digits reach
    the Mediation Server as SIP INFO (application/dtmf-relay), not as RFC 4733."""
    bad = failed(verdict("softphone", DATA / "softphone_50150_trunk_info.pcap"))
    assert {k.split("|")[0] for k in bad} == {LYNC_LEG}, bad
    assert bad[f"{LYNC_LEG}|RFC 4733 digits {EGRESS}"] == \
        "none (sent as SIP INFO instead: 50150#)"


def test_committed_rtp_pcap_is_what_the_generator_writes() -> None:
    """scenarios/softphone_dtmf_50150.pcap (SIPp's play_pcap_audio) is event_pcap's output."""
    assert (SCENARIOS / PCAP_NAME).read_bytes() == event_pcap(SOFTPHONE_DIGITS)
    assert PCAP_NAME in (SCENARIOS / "softphone_uac_dtmf.xml").read_text()
