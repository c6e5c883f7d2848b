"""A gap or timestamp jump that Asterisk relays from the stream it receives is the sender's:
on generated calls (both legs, RTP relayed packet by packet as Asterisk does, keeping SSRC
and timestamps), the relayed stream's checks pass with a note naming the source's gap, the
source's own checks judge the source, and a gap of Asterisk's own still fails."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import lync_flow
from harness.analysis.cursor import parsed_events
from harness.analysis.legs import LYNC_LEG, build_leg, lync_trunk
from harness.analysis.lync_flow import PHONE_LEG
from harness.analysis.relay import Packets, relayed_gaps, relayed_jumps
from harness.analysis.rtp_rules import MediaTimeline, check_call_media, check_leg_media
from harness.analysis.verdict import CheckResult, Verdict
from harness.capture import open_capture
from harness.roles import ASTERISK, SOFTPHONE
from tests.support.capgen import T0, rtp, udp_frame
from tests.support.paths import DATA
from tests.support.sipcall import ROLES, CallCapture, Dialog, address, sdp

PCMU = {0: "PCMU/8000"}
# RTP ports: each host's port on each leg.
PHONE_PORT, AST_PHONE_PORT, AST_LYNC_PORT, MS_PORT = 6000, 10000, 10002, 40000
START_MS, COUNT, BYE_MS = 100.0, 150, 3250.0


@dataclass(frozen=True)
class Sent:
    t_ms: float
    seq: int
    ts: int
    marker: bool = False


def sender(count: int = COUNT, *, at: int | None = None, missed: int = 0, late_ms: float = 0.0,
           burst: bool = False) -> list[Sent]:
    """What a simulator sends from START_MS, one packet per 20 ms slot. A stall at slot `at`
    wakes the sender `late_ms` after that slot began. Skipping (what RtpSession does when
    more than two packet times behind): the `missed` slots are not sent, the next goes out
    with its own timestamp and the marker. `burst` (RtpSession before issue 14): every
    missed packet goes out at the wake-up."""
    out: list[Sent] = []
    for n in range(count):
        t = START_MS + 20 * n
        if at is not None and at <= n < at + missed + 1:
            wake = START_MS + 20 * at + late_ms
            if not burst and n < at + missed:
                continue
            t = max(t, wake)
        out.append(Sent(t, 100 + len(out), 8000 + 160 * n,
                        n == 0 or (not burst and at is not None and n == at + missed)))
    return out


def relayed(packets: list[Sent], latency_ms: float = 0.3,
            stall: tuple[float, float] | None = None) -> list[Sent]:
    """Asterisk's copy: each packet `latency_ms` after it arrived, same timestamp and marker,
    its own sequence numbers. `stall` (from, until): what arrives then leaves at `until`."""
    out: list[Sent] = []
    held = 0
    for i, p in enumerate(packets):
        t = p.t_ms + latency_ms
        if stall is not None and stall[0] <= t < stall[1]:
            t, held = stall[1] + 0.05 * held, held + 1
        out.append(Sent(t, 5000 + i, p.ts, p.marker))
    return out


def add(cap: CallCapture, sender_role: str, sport: int, receiver: str, dport: int,
        packets: list[Sent], ssrc: int) -> None:
    src, dst = address(sender_role), address(receiver)
    for p in packets:
        cap.frames.append(udp_frame(T0 + int(p.t_ms * 1_000_000), src, dst, sport, dport,
                                    rtp(p.seq, p.ts, ssrc, 0, b"\xff" * 160, p.marker)))


def call(tmp_path: Path, *, from_lync: list[Sent] | None = None,
         to_phone: list[Sent] | None = None, from_phone: list[Sent] | None = None,
         to_lync: list[Sent] | None = None, bye_ms: float = BYE_MS) -> Path:
    """The softphone calls Lync through Asterisk; both answer; RTP both ways, relayed."""
    cap = CallCapture()
    phone = Dialog("softphone", "asterisk", "<sip:1000@192.168.100.10>;tag=sp1",
                   "<sip:+14255550150@192.168.100.10>", "phone-call")
    lync = Dialog("asterisk", "mediation", "<sip:1000@192.168.100.10>;tag=as1",
                  "<sip:+14255550150@192.168.100.20>", "lync-call", transport="TCP")
    phone_uri, lync_uri = "sip:+14255550150@192.168.100.10", "sip:+14255550150@192.168.100.20"
    cap.sip("softphone", "asterisk", phone.request(
        "INVITE", phone_uri, 1, sdp("softphone", PHONE_PORT, PCMU), tagged=False))
    cap.sip("asterisk", "mediation", lync.request(
        "INVITE", lync_uri, 1, sdp("asterisk", AST_LYNC_PORT, PCMU), tagged=False), "TCP")
    cap.sip("mediation", "asterisk", lync.response(
        200, "OK", 1, "INVITE", sdp("mediation", MS_PORT, PCMU)), "TCP")
    cap.sip("asterisk", "softphone", phone.response(
        200, "OK", 1, "INVITE", sdp("asterisk", AST_PHONE_PORT, PCMU)))
    cap.sip("asterisk", "mediation", lync.request("ACK", lync_uri, 1), "TCP")
    cap.sip("softphone", "asterisk", phone.request("ACK", phone_uri, 1))
    source = from_lync or sender()
    add(cap, "mediation", MS_PORT, "asterisk", AST_LYNC_PORT, source, 0x4D530001)
    add(cap, "asterisk", AST_PHONE_PORT, "softphone", PHONE_PORT,
        to_phone or relayed(source), 0x4D530001)
    source = from_phone or sender()
    add(cap, "softphone", PHONE_PORT, "asterisk", AST_PHONE_PORT, source, 0x50480001)
    add(cap, "asterisk", AST_LYNC_PORT, "mediation", MS_PORT,
        to_lync or relayed(source), 0x50480001)
    cap.at(bye_ms).sip("softphone", "asterisk", phone.request("BYE", phone_uri, 2))
    cap.sip("asterisk", "softphone", phone.response(200, "OK", 2, "BYE"))
    cap.sip("asterisk", "mediation", lync.request("BYE", lync_uri, 2), "TCP")
    cap.sip("mediation", "asterisk", lync.response(200, "OK", 2, "BYE"), "TCP")
    return cap.write(tmp_path / "call.pcap")


def media_verdict(path: Path, *, per_leg: bool = False) -> Verdict:
    """The RTP rules on both legs: answered at the 200 OKs (frames 3-4, 3 and 4 ms into the
    capture), ended at the BYEs' 200 OKs."""
    capture = open_capture(path)
    v = Verdict("relay", path)
    events = parsed_events(v, capture.sip_messages(), ROLES)
    legs = [lync_trunk(events), build_leg(PHONE_LEG, "UDP", (ASTERISK, SOFTPHONE), events)]
    timeline = MediaTimeline()
    for leg in legs:
        ok = [e for e in leg.events if not e.is_request and e.cseq == 1]
        bye_ok = [e for e in leg.events if not e.is_request and e.cseq == 2]
        timeline.answered_at(leg.name, ok[0].time)
        timeline.ended_at(leg.name, bye_ok[0].time)
    if per_leg:
        for leg in legs:
            check_leg_media(v, capture, leg, timeline.of(leg.name))
    else:
        check_call_media(v, capture, legs, timeline, relay=ASTERISK)
    return v


def result(v: Verdict, leg: str, subject: str) -> CheckResult:
    found = [r for r in v.results if (r.leg, r.subject) == (leg, subject)]
    assert len(found) == 1, v.report()
    return found[0]


# ----------------------------------------------------------------------------- matching


def packets(times_ms: list[float], step: int = 160, jumps: dict[int, int] | None = None,
            first_frame: int = 1) -> Packets:
    ts = np.cumsum([0] + [step + (jumps or {}).get(i, 0) for i in range(1, len(times_ms))])
    return Packets(np.array(times_ms) / 1000, np.arange(first_frame, first_frame + len(times_ms)),
                   ts.astype(np.uint32))


def regular(n: int, gap_after: int | None = None, gap_ms: float = 0.0,
            shift_ms: float = 0.0) -> list[float]:
    out, t = [], shift_ms
    for i in range(n):
        out.append(t)
        t += gap_ms if i == gap_after else 20.0
    return out


def test_a_relayed_gap_is_paired_with_the_sources_gap_around_it():
    source = packets(regular(20, gap_after=9, gap_ms=71.0), first_frame=100)
    relay = packets(regular(20, gap_after=9, gap_ms=71.4, shift_ms=0.3))
    [gap] = relayed_gaps(relay, source, limit=0.060, slack=0.040)
    assert gap.the_sources and gap.index == 9 and gap.frame == 11
    assert gap.source_size == pytest.approx(0.071) and gap.source_frame == 110


def test_a_relayed_gap_without_one_in_the_source_is_the_relays():
    source = packets(regular(20))
    [gap] = relayed_gaps(packets(regular(20, gap_after=9, gap_ms=61.0, shift_ms=0.3)), source,
                         limit=0.060, slack=0.040)
    assert not gap.the_sources and gap.source_size == pytest.approx(0.020)


def test_what_the_relay_adds_beyond_the_slack_is_its_own():
    source = packets(regular(20, gap_after=9, gap_ms=50.0))
    relay = packets(regular(20, gap_after=9, gap_ms=100.0, shift_ms=0.3))
    [gap] = relayed_gaps(relay, source, limit=0.060, slack=0.040)
    assert not gap.the_sources  # 50 ms of the source's explain 60 of the 100 at most


def test_a_source_gap_just_before_the_relayed_one_does_not_explain_it():
    """The relay's own stall right after the source's: the source's interval ends before."""
    source = packets(regular(20, gap_after=9, gap_ms=71.0))
    times = regular(20, gap_after=9, gap_ms=71.3, shift_ms=0.3)
    times[11:] = [t + 70.0 for t in times[11:]]  # then the relay stalls on its own
    gaps = relayed_gaps(packets(times), source, limit=0.060, slack=0.040)
    assert [(g.index, g.the_sources) for g in gaps] == [(9, True), (10, False)]


def test_a_copied_timestamp_jump_is_paired_and_another_is_not():
    source = packets(regular(20, gap_after=9, gap_ms=80.0), jumps={10: 480}, first_frame=50)
    relay = packets(regular(20, gap_after=9, gap_ms=80.0, shift_ms=0.3), jumps={10: 480, 15: 160})
    jumps = relayed_jumps(relay, source, step=160, window=0.020)
    assert [(j.step, j.source_frame) for j in jumps] == [(640, 60), (320, None)]


# ----------------------------------------------------------------------------- verdicts


def test_a_clean_call_reads_as_the_per_leg_checks_did(tmp_path):
    path = call(tmp_path)
    v, before = media_verdict(path), media_verdict(path, per_leg=True)
    assert v.ok and not v.notes, v.report()
    assert v.results == before.results


@pytest.mark.parametrize("burst", [False, True], ids=["skipping", "bursting"])
def test_a_stall_of_the_mediation_server_is_its_own_not_asterisks(tmp_path, burst):
    """The issue's case: the simulator stalled 71 ms; Asterisk relayed the gap faithfully."""
    stalled = sender(at=60, missed=3, late_ms=71.0, burst=burst)
    v = media_verdict(call(tmp_path, from_lync=stalled))
    own = result(v, LYNC_LEG, "RTP Mediation Server -> Asterisk spacing")
    assert not own.ok and own.actual.startswith("mean ") and "max 91.00 ms" in own.actual
    relay = result(v, PHONE_LEG, "RTP Asterisk -> Softphone spacing")
    assert relay.ok, v.report()
    assert relay.actual.endswith(
        "; its gaps over 60 ms are Mediation Server's, relayed (see the notes)")
    assert any(n.startswith("RTP Asterisk -> Softphone on the softphone (UDP) leg: the 91.0 ms "
                            "gap from 1.276 s after the answer to frame ")
               and " relays the 91.0 ms gap in Mediation Server -> Asterisk on the Lync trunk "
                   "(TCP) leg before frame " in n
               and n.endswith(": the sender's, judged there") for n in v.notes), v.notes
    assert [r.leg for r in v.failures] == [LYNC_LEG] * len(v.failures)
    stamps = result(v, PHONE_LEG, "RTP Asterisk -> Softphone timestamp")
    if burst:  # every packet sent: +160 throughout, nothing to attribute
        assert stamps.actual == "+160 per packet" and len(v.failures) == 1
    else:  # three slots skipped: the source's timestamp jumps by 4 x 160
        assert stamps.ok and stamps.actual == (
            "+160 per packet but for [640], as Mediation Server sent them (see the notes)")
        source = result(v, LYNC_LEG, "RTP Mediation Server -> Asterisk timestamp")
        assert not source.ok and source.actual == "steps [160, 640]"


def test_a_stall_of_the_softphone_is_attributed_the_other_way(tmp_path):
    v = media_verdict(call(tmp_path, from_phone=sender(at=40, missed=2, late_ms=50.0)))
    assert result(v, LYNC_LEG, "RTP Asterisk -> Mediation Server spacing").ok, v.report()
    assert result(v, LYNC_LEG, "RTP Asterisk -> Mediation Server timestamp").ok
    assert {(r.leg, r.subject) for r in v.failures} == {
        (PHONE_LEG, "RTP Softphone -> Asterisk spacing"),
        (PHONE_LEG, "RTP Softphone -> Asterisk timestamp")}


def test_packets_skipped_in_a_short_talk_are_the_senders_in_the_mean_too(tmp_path):
    """Four slots skipped in 30: both streams' mean is 23 ms; the relayed one is as sent."""
    v = media_verdict(call(tmp_path, from_lync=sender(count=30, at=12, missed=4, late_ms=91.0),
                           from_phone=sender(count=30), bye_ms=800.0))
    own = result(v, LYNC_LEG, "RTP Mediation Server -> Asterisk spacing")
    assert not own.ok and own.actual.startswith("mean 23.33 ms, max 111.00 ms"), v.report()
    relay = result(v, PHONE_LEG, "RTP Asterisk -> Softphone spacing")
    assert relay.ok and relay.actual.startswith("mean 23.33 ms, max 111.00 ms"), v.report()
    assert {r.leg for r in v.failures} == {LYNC_LEG}


def test_a_source_gap_under_the_limit_that_asterisk_stretches_over_it_passes(tmp_path):
    """The seen "max 60.58 ms" on the relayed stream: its source's gap was 59.9 ms, within
    the limit, and Asterisk added under a millisecond."""
    source = sender(at=60, missed=1, late_ms=39.9, burst=True)
    to_phone = relayed(source)
    late = next(i for i, p in enumerate(source) if p.t_ms == START_MS + 20 * 60 + 39.9)
    to_phone[late:] = [Sent(p.t_ms + 0.7, p.seq, p.ts, p.marker) for p in to_phone[late:]]
    v = media_verdict(call(tmp_path, from_lync=source, to_phone=to_phone))
    assert v.ok, v.report()
    assert "max 60.60 ms" in result(v, PHONE_LEG, "RTP Asterisk -> Softphone spacing").actual
    assert len(v.notes) == 1 and "59.9 ms gap in Mediation Server -> Asterisk" in v.notes[0]


def test_a_gap_of_asterisks_own_fails_with_the_text_it_always_had(tmp_path):
    path = call(tmp_path, to_phone=relayed(sender(), stall=(1500.0, 1575.0)))
    v, before = media_verdict(path), media_verdict(path, per_leg=True)
    failure = result(v, PHONE_LEG, "RTP Asterisk -> Softphone spacing")
    assert not failure.ok and failure == result(before, PHONE_LEG, failure.subject)
    assert failure.actual.startswith("mean ") and failure.actual.endswith(" packets")
    assert not v.notes and v.results == before.results


def test_a_timestamp_jump_the_source_did_not_send_is_asterisks(tmp_path):
    to_phone = relayed(sender())
    to_phone[70:] = [Sent(p.t_ms, p.seq, p.ts + 320, p.marker) for p in to_phone[70:]]
    v = media_verdict(call(tmp_path, to_phone=to_phone))
    stamps = result(v, PHONE_LEG, "RTP Asterisk -> Softphone timestamp")
    assert not stamps.ok and stamps.actual == "steps [160, 480]" and not v.notes


def test_one_gap_of_the_sources_and_one_of_asterisks_fails_and_notes_the_first(tmp_path):
    source = sender(at=30, missed=2, late_ms=50.0, burst=True)
    v = media_verdict(call(tmp_path, from_lync=source,
                           to_phone=relayed(source, stall=(2000.0, 2080.0))))
    failure = result(v, PHONE_LEG, "RTP Asterisk -> Softphone spacing")
    assert not failure.ok and "see the notes" not in failure.actual
    assert len(v.notes) == 1 and "70.0 ms gap in Mediation Server -> Asterisk" in v.notes[0]


# ----------------------------------------------------------------------------- the flow


@pytest.mark.skipif(not hasattr(lync_flow, "check_call_media"),
                    reason="lync_flow.py still calls check_leg_media once per leg")
def test_the_lync_flow_attributes_a_relayed_stall_on_a_real_capture(tmp_path):
    """The suite's outbound capture with the Mediation Server's RTP held back for 75 ms and
    then sent at once, as the issue saw it; Asterisk's copy shows the same."""
    from scapy.all import IP, UDP, rdpcap, wrpcap  # type: ignore[import-untyped]

    path = DATA / "deployment" / "test_outbound_softphone_calls_lync_twelve_steps.pcap"
    frames = rdpcap(str(path))

    def rtp_of(src: str, sport: int) -> list[int]:
        return [i for i, p in enumerate(frames)
                if UDP in p and p[IP].src == src and p[UDP].sport == sport]

    for indices in (rtp_of("192.168.100.20", 40000), rtp_of("192.168.100.10", 10880)):
        held = indices[12:15]
        release = frames[indices[15]].time - 0.0002
        for k, i in enumerate(held):
            frames[i].time = release + k * 0.00001
    out = tmp_path / "stalled.pcap"
    wrpcap(str(out), sorted(frames, key=lambda p: p.time))
    capture = open_capture(out)
    v = lync_flow.check_lync_flow(capture.sip_messages(), capture, ROLES, out, "outbound",
                                  "outbound")
    assert [(r.leg, r.subject) for r in v.failures] == [
        (LYNC_LEG, "RTP Mediation Server -> Asterisk spacing")], v.report()
    relay = [r for r in v.results if r.subject == "RTP Asterisk -> Softphone spacing"]
    assert len(relay) == 2 and all(r.ok for r in relay)
    assert relay[0].actual.endswith("its gaps over 60 ms are Mediation Server's, relayed "
                                    "(see the notes)")
    assert any("relays the" in n and "Mediation Server -> Asterisk" in n for n in v.notes)
