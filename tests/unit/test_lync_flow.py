"""The seed's twelve-step checks on a real capture of the outbound flow, and on copies of it
with one real fault each (a packet dropped with scapy): each fault fails the right step."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from harness.analysis.legs import LYNC_LEG
from harness.analysis.lync_flow import PHONE_LEG, check_lync_flow
from harness.capture import open_capture
from harness.roles import Roles

CAPTURE = Path(__file__).parent / "data" / "lync_outbound.pcap"
ROLES = Roles(
    {
        "192.168.100.10": "Asterisk",
        "192.168.100.20": "Mediation Server",
        "192.168.100.40": "Softphone",
    }
)


def verdict_of(path: Path):
    cap = open_capture(path)
    return check_lync_flow(cap.sip_messages(), cap, ROLES, path, "outbound", "outbound")


def without(tmp_path: Path, drop) -> Path:
    from scapy.all import rdpcap, wrpcap  # type: ignore[import-untyped]
    packets = rdpcap(str(CAPTURE))
    kept = [p for p in packets if not drop(p)]
    assert len(kept) < len(packets), "the fault injection matched no packet"
    out = tmp_path / "faulty.pcap"
    wrpcap(str(out), kept)
    return out


def test_real_capture_passes_every_step():
    v = verdict_of(CAPTURE)
    assert v.ok, v.report()
    assert set(v.steps()) >= {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}
    assert len(v.results) > 150


def test_dropped_softphone_ack_fails_step_6_on_its_leg(tmp_path):
    from scapy.all import IP, UDP  # type: ignore[import-untyped]
    def is_ack(p):
        return (
            UDP in p
            and bytes(p[UDP].payload).startswith(b"ACK ")
            and p[IP].src == "192.168.100.40"
            and b"CSeq: 2 ACK" in bytes(p[UDP].payload)
        )

    v = verdict_of(without(tmp_path, is_ack))
    first = v.failures[0]
    assert (first.step, first.leg, first.subject) == ("6", PHONE_LEG, "ACK"), v.report()


def test_rtp_lost_during_the_call_fails_step_7(tmp_path):
    # five consecutive RTP packets from the Mediation Server disappear after the answer
    from scapy.all import IP, UDP, rdpcap, wrpcap  # type: ignore[import-untyped]
    packets = rdpcap(str(CAPTURE))
    rtp = [
        i
        for i, p in enumerate(packets)
        if UDP in p and p[IP].src == "192.168.100.20" and p[UDP].sport >= 40000
    ]
    doomed = set(rtp[10:15])
    out = tmp_path / "lossy.pcap"
    wrpcap(str(out), [p for i, p in enumerate(packets) if i not in doomed])
    v = verdict_of(out)
    failed = {(r.step, r.leg, r.subject) for r in v.failures}
    assert ("7", LYNC_LEG, "RTP Mediation Server -> Asterisk sequence") in failed, v.report()
    assert ("7", LYNC_LEG, "RTP Mediation Server -> Asterisk spacing") in failed, v.report()


def test_report_names_step_leg_expected_actual_and_pcap(tmp_path):
    from scapy.all import UDP  # type: ignore[import-untyped]
    def is_bye(p):
        return UDP in p and bytes(p[UDP].payload).startswith(b"BYE ")

    path = without(tmp_path, is_bye)
    v = verdict_of(path)
    assert not v.ok
    report = v.report()
    assert "step 10 [softphone (UDP)] BYE: expected BYE from Asterisk" in report
    assert str(path) in report


def test_no_call_in_capture_is_a_clear_failure(tmp_path):
    v = verdict_of(without(tmp_path, lambda p: b"SIP/2.0" in bytes(p)))
    assert not v.ok and v.failures[0].step == "1"
    assert "no INVITE on either leg" in v.report()


def _with_ssrc(tmp_path: Path, pick) -> Path:
    """The capture with the SSRC of the Asterisk -> Softphone RTP packets ``pick`` chooses
    (from their indexes, in two lists: before and after the hold) set to 0x12345678."""
    from scapy.all import IP, UDP, rdpcap, wrpcap  # type: ignore[import-untyped]
    packets = rdpcap(str(CAPTURE))
    rtp = [i for i, p in enumerate(packets)
           if UDP in p and p[IP].dst == "192.168.100.40" and p[UDP].dport == 6000]
    gaps = [float(packets[b].time - packets[a].time) for a, b in pairwise(rtp)]
    hold = gaps.index(max(gaps)) + 1  # the hold is the longest silence
    for i in pick(rtp[:hold], rtp[hold:]):
        victim = packets[i]
        raw = bytearray(bytes(victim[UDP].payload))
        raw[8:12] = b"\x12\x34\x56\x78"
        victim[UDP].remove_payload()
        victim[UDP].add_payload(bytes(raw))
        del victim[IP].chksum, victim[UDP].chksum, victim[IP].len, victim[UDP].len
    out = tmp_path / "ssrc.pcap"
    wrpcap(str(out), packets)
    return out


def test_a_second_ssrc_mid_call_fails_the_ssrc_check(tmp_path):
    """Asterisk -> Softphone switches SSRC for one packet in the middle of the talk."""
    v = verdict_of(_with_ssrc(tmp_path, lambda before, after: [before[20]]))
    failed = {(r.step, r.leg, r.subject): r for r in v.failures}
    key = ("7", PHONE_LEG, "RTP Asterisk -> Softphone SSRC")
    assert key in failed and "0x12345678" in failed[key].actual, v.report()


def test_a_new_ssrc_from_the_resume_on_is_a_new_source_noted(tmp_path):
    """Asterisk relays another source after the hold (its native bridge coming back): one
    SSRC in each talk spell passes, and the verdict names the change."""
    v = verdict_of(_with_ssrc(tmp_path, lambda before, after: after))
    assert v.ok, v.report()
    assert any("a new source after the resume" in n and "0x12345678" in n for n in v.notes), \
        v.report()


def test_a_packet_of_another_source_as_the_hold_goes_through_is_noted(tmp_path):
    """Asterisk sends a packet of its own as its bridge changes at the hold (seen at the
    resume at pytest -n 4): inside the margin every RTP check leaves at a spell's end, so
    the talk spells still have one SSRC each, and the verdict names it."""
    v = verdict_of(_with_ssrc(tmp_path, lambda before, after: [before[-1]]))
    assert v.ok, v.report()
    assert any("0x12345678 only within 100 ms of the answer, hold, resume or end" in n
               for n in v.notes), v.report()


def test_a_second_ssrc_inside_the_resumed_talk_fails_step_9(tmp_path):
    v = verdict_of(_with_ssrc(tmp_path, lambda before, after: after[len(after) // 2:]))
    failed = {(r.step, r.leg, r.subject): r for r in v.failures}
    key = ("9", PHONE_LEG, "RTP Asterisk -> Softphone SSRC after the resume")
    assert key in failed and "0x12345678" in failed[key].actual, v.report()


def _rewritten(tmp_path: Path, src: str, dst: str, old: bytes, new: bytes) -> Path:
    """The capture with `old` replaced by `new` (same length) in the UDP payloads from
    `src` to `dst`, checksums recomputed."""
    from scapy.all import IP, UDP, rdpcap, wrpcap  # type: ignore[import-untyped]
    assert len(old) == len(new)
    packets = rdpcap(str(CAPTURE))
    changed = 0
    out_packets = []
    for p in packets:
        if UDP in p and p[IP].src == src and p[IP].dst == dst and old in bytes(p[UDP].payload):
            payload = bytes(p[UDP].payload).replace(old, new)
            p[UDP].remove_payload()
            p[UDP].add_payload(payload)
            del p[UDP].chksum, p[IP].chksum
            changed += 1
        out_packets.append(p)
    assert changed, "the fault injection matched no packet"
    out = tmp_path / "rewritten.pcap"
    wrpcap(str(out), out_packets)
    return out


def test_gateway_offering_a_codec_the_seed_disallows_fails_the_codec_set(tmp_path):
    # Asterisk's SDP to the phone lists GSM and PCMA instead of telephone-event: the seed's
    # [1000] has disallow=all, allow=ulaw (and rfc2833 for DTMF)
    v = verdict_of(_rewritten(tmp_path, "192.168.100.10", "192.168.100.40",
                              b"RTP/AVP 0 101\r\n", b"RTP/AVP 0 3 8\r\n"))
    failed = {(r.step, r.leg, r.subject) for r in v.failures}
    assert ("SDP", PHONE_LEG, "codec set") in failed, v.report()
    assert all(r.leg == PHONE_LEG for r in v.failures if r.subject == "codec set"), v.report()


def test_no_ringing_toward_the_caller_fails_step_4(tmp_path):
    # the trunk's 183 and 180 are not turned into a 180 toward X-Lite (seed steps 3-4)
    from scapy.all import IP, UDP  # type: ignore[import-untyped]
    v = verdict_of(without(tmp_path, lambda p: UDP in p and p[IP].src == "192.168.100.10"
                           and bytes(p[UDP].payload).startswith(b"SIP/2.0 180 ")))
    failed = {(r.step, r.leg, r.subject) for r in v.failures}
    assert ("4", PHONE_LEG, "180 Ringing") in failed, v.report()
