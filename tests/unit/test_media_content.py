"""Media content: the G.711 decoding and tone measurements, and the rules on real captures
of the suite (Asterisk 22 with SIPp and with baresip, Asterisk 16 chan_sip) with faults
injected by rewriting RTP payloads: one-way (silent), crossed (the softphone hears itself),
garbled, a dropout, a quieter relay, the wrong codec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.legs import LYNC_LEG
from harness.analysis.lync_flow import PHONE_LEG, check_lync_flow
from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from harness.media import content
from harness.roles import Roles
from harness.rtp.tone import ToneGenerator, linear_to_ulaw, ulaw_decode
from tests.support.rewrite import UDP, _fix_checksums, layout, read_pcap, write_pcap

DATA = Path(__file__).parent / "data" / "media"
SIPP_OUT = DATA / "asterisk22_sipp_outbound.pcap"
BARESIP_IN = DATA / "asterisk22_baresip_inbound.pcap"
CHANSIP_OUT = DATA / "asterisk16_sipp_outbound.pcap"
AST, MED, PHONE = "192.168.100.10", "192.168.100.20", "192.168.100.40"
ROLES = Roles({AST: "Asterisk", MED: "Mediation Server", PHONE: "Softphone"})
TO_MED = "RTP Asterisk -> Mediation Server content"
TO_PHONE = "RTP Asterisk -> Softphone content"

Change = Callable[[int, bytes], bytes]  # (packet index in the direction, payload) -> payload


def verdict_of(path: Path, direction: str = "outbound", deployment: bool = False) -> Verdict:
    cap = open_capture(path)
    return check_lync_flow(cap.sip_messages(), cap, ROLES, path, direction, direction,
                           deployment=deployment)


def rtp_payloads(path: Path, src: str, dst: str) -> list[bytes]:
    out: list[bytes] = []
    rewrite_rtp(path, None, src, dst, lambda i, p: out.append(p) or p)
    return out


def rewrite_rtp(path: Path, out: Path | None, src: str, dst: str, change: Change) -> int:
    """Replaces the G.711 payload of each RTP packet from ``src`` to ``dst`` (same length),
    checksums recomputed; the number of packets changed."""
    pcap = read_pcap(path)
    n = 0
    for r in pcap.records:
        lay = layout(pcap.linktype, r.data)
        if lay.proto != UDP or lay.payload < 0:
            continue
        ip = bytes(r.data[lay.ip + 12: lay.ip + 20])
        if ip != bytes(map(int, src.split("."))) + bytes(map(int, dst.split("."))):
            continue
        rtp = r.data[lay.payload: lay.end]
        if len(rtp) <= 12 or rtp[0] >> 6 != 2 or rtp[1] & 0x7F not in (0, 8):
            continue
        start = lay.payload + 12 + 4 * (rtp[0] & 0x0F)
        old = bytes(r.data[start: lay.end])
        new = change(n, old)
        assert len(new) == len(old)
        r.data[start: lay.end] = new
        _fix_checksums(r.data, lay)
        n += 1
    assert n, "the fault injection matched no packet"
    if out is not None:
        write_pcap(pcap, out)
    return n


def faulty(tmp_path: Path, path: Path, src: str, dst: str, change: Change) -> Path:
    out = tmp_path / "faulty.pcap"
    rewrite_rtp(path, out, src, dst, change)
    return out


def failed(v: Verdict) -> dict[tuple[str, str, str], str]:
    return {(r.step, r.leg, r.subject): r.actual for r in v.failures}


def content_results(v: Verdict) -> list:
    return [r for r in v.results if " content" in r.subject]


# ------------------------------------------------------------------------- signal maths


def test_g711_tables_are_the_reference_decoders():
    assert content.ULAW.tolist() == ulaw_decode(bytes(range(256)))
    # ITU-T G.711 A-law: 0xD5 and 0x55 are the smallest steps, 0xAA and 0x2A full scale
    assert [int(content.ALAW[x]) for x in (0xD5, 0x55, 0xAA, 0x2A)] == [8, -8, 32256, -32256]
    with pytest.raises(ValueError, match="payload type 18 is not G.711"):
        content.decode(b"\x00", 18)


def test_tone_frequency_level_and_share():
    t = content.measure(content.decode(ToneGenerator(1013).frame(4800), 0))
    assert abs(t.frequency_hz - 1013) < 0.1
    assert abs(t.level_dbfs - 20 * np.log10(8000 / 32768)) < 0.2  # amplitude 8000: -12.2 dBFS
    assert t.share > 0.99
    # 13 Hz apart is told apart over 200 ms
    short = content.measure(content.decode(ToneGenerator(1000).frame(1600), 0))
    assert abs(short.frequency_hz - 1000) < 0.5
    noise = np.random.default_rng(7).integers(0, 256, 4800).astype(np.uint8)
    assert content.measure(content.decode(noise, 0)).share < 0.1
    silence = content.measure(content.decode(np.full(4800, 0xFF, np.uint8), 0))
    assert silence.level_dbfs == content.FLOOR_DBFS and silence.share == 0.0


def test_two_tones_mixed_are_not_a_steady_tone():
    a = content.decode(ToneGenerator(1000).frame(4800), 0).astype(float)
    b = content.decode(ToneGenerator(1500).frame(4800), 0).astype(float)
    assert content.measure(a + b).share < 0.6


# ------------------------------------------------------------------ the suite's captures


@pytest.mark.parametrize("path, direction", [(SIPP_OUT, "outbound"),
                                             (BARESIP_IN, "inbound")])
def test_real_calls_pass_with_every_direction_checked(path, direction):
    v = verdict_of(path, direction)
    assert v.ok, v.report()
    checked = {(r.step, r.leg, r.subject) for r in content_results(v)}
    # both legs, both directions, before the hold and after the resume
    assert len(checked) == 8, checked
    assert ("9", PHONE_LEG, f"{TO_PHONE} after the resume") in checked
    heard = {r.subject: r.actual for r in content_results(v) if r.step == "7"}
    assert heard[TO_PHONE].startswith("1013.0 Hz"), heard  # the Mediation Server's tone
    assert heard[TO_MED].startswith("1000.0 Hz"), heard  # the softphone's


def test_chan_sip_call_passes_its_content_checks():
    # Asterisk 16 keeps Lync's hold to itself: one long segment on the softphone's leg
    v = verdict_of(CHANSIP_OUT)
    assert not [r for r in content_results(v) if not r.ok], v.report()
    assert len(content_results(v)) == 6


def test_the_same_verdict_as_a_deployment_capture():
    strict, loose = verdict_of(SIPP_OUT), verdict_of(SIPP_OUT, deployment=True)
    assert [r.line() for r in content_results(strict)] == [
        r.line() for r in content_results(loose)]


# ---------------------------------------------------------------------- injected faults


def test_silent_relay_toward_lync_is_one_way_audio(tmp_path):
    v = verdict_of(faulty(tmp_path, SIPP_OUT, AST, MED, lambda i, p: b"\xff" * len(p)))
    bad = failed(v)
    assert bad.keys() == {("7", LYNC_LEG, TO_MED), ("9", LYNC_LEG, f"{TO_MED} after the resume")}
    assert "one-way audio, the Mediation Server hears nothing" in bad[("7", LYNC_LEG, TO_MED)]


def test_softphone_hearing_itself_is_the_wrong_audio(tmp_path):
    own = rtp_payloads(SIPP_OUT, PHONE, AST)
    v = verdict_of(faulty(tmp_path, SIPP_OUT, AST, PHONE, lambda i, p: own[i % len(own)]))
    actual = failed(v)[("7", PHONE_LEG, TO_PHONE)]
    assert "the Softphone's own tone sent back to it" in actual
    assert "1000.0 Hz" in actual


def test_garbled_after_the_resume_fails_step_9(tmp_path):
    rng = np.random.default_rng(3)

    def garble(i: int, p: bytes) -> bytes:
        return rng.integers(0, 256, len(p), dtype=np.uint8).tobytes() if i >= 45 else p

    v = verdict_of(faulty(tmp_path, BARESIP_IN, AST, PHONE, garble), "inbound")
    bad = failed(v)
    assert list(bad) == [("9", PHONE_LEG, f"{TO_PHONE} after the resume")], v.report()
    assert "garbled" in bad[("9", PHONE_LEG, f"{TO_PHONE} after the resume")]


def test_a_dropout_in_the_relay_fails_its_blocks(tmp_path):
    v = verdict_of(faulty(tmp_path, SIPP_OUT, AST, MED,
                          lambda i, p: b"\xff" * len(p) if 15 <= i < 27 else p))
    actual = failed(v)[("7", LYNC_LEG, TO_MED)]
    assert "200 ms blocks without the tone" in actual, actual


def test_a_quieter_relay_fails_its_level(tmp_path):
    def attenuate(i: int, p: bytes) -> bytes:  # 10 dB down
        return bytes(linear_to_ulaw(round(s / 3.162)) for s in ulaw_decode(p))

    v = verdict_of(faulty(tmp_path, SIPP_OUT, AST, PHONE, attenuate))
    actual = failed(v)[("7", PHONE_LEG, TO_PHONE)]
    assert "level -10.0 dB from the source's" in actual, actual


def test_a_law_sent_as_pcmu_is_garbled(tmp_path):
    def alaw(i: int, p: bytes) -> bytes:  # the same tone A-law encoded, still labelled 0
        table = content.ALAW
        return bytes(int(np.argmin(np.abs(table.astype(int) - s))) for s in ulaw_decode(p))

    v = verdict_of(faulty(tmp_path, SIPP_OUT, AST, MED, alaw))
    assert ("7", LYNC_LEG, TO_MED) in failed(v), v.report()


def test_a_silent_softphone_fails_at_its_source_not_only_at_the_relay(tmp_path):
    v = verdict_of(faulty(tmp_path, SIPP_OUT, PHONE, AST, lambda i, p: b"\xff" * len(p)))
    bad = failed(v)
    assert bad[("7", PHONE_LEG, "RTP Softphone -> Asterisk content")].startswith("silent")
    # nothing to compare the relay with: not checked, rather than a second failure
    skipped = {r.subject for r in v.unchecked}
    assert TO_MED in skipped, v.report()


def test_speech_in_a_deployment_is_not_checked_nor_failed(tmp_path):
    rng = np.random.default_rng(5)
    path = faulty(tmp_path, SIPP_OUT, PHONE, AST,
                  lambda i, p: rng.integers(0, 256, len(p), dtype=np.uint8).tobytes())
    v = verdict_of(path, deployment=True)
    assert not [r for r in content_results(v) if r.checked and not r.ok], v.report()
    assert "RTP Softphone -> Asterisk content" in {r.subject for r in v.unchecked}


def test_tone_held_rtp_is_judged_silent_or_not(tmp_path):
    # the seed's hold stops the media: a stream still carrying the tone while held fails
    # step 8 as content too (the RTP rules fail its packets): here the check on its own
    from harness.analysis import media_rules
    from harness.analysis.rtp_rules import Direction

    def direction(payload: bytes) -> Direction:
        pcap = tmp_path / "held.pcap"
        rewrite_rtp(SIPP_OUT, pcap, AST, MED, lambda i, p: payload[: len(p)])
        cap = open_capture(pcap)
        streams = [s for s in media_rules.rtp_streams(cap) if (s.src, s.dst) == (AST, MED)]
        t = np.concatenate([s.time for s in streams])
        return Direction("Asterisk", "Mediation Server", (MED, 40000), streams, t, t, t, t, t,
                         [], np.zeros(t.size, dtype=np.int64))

    for payload, ok in ((b"\xff" * 160, True), (ToneGenerator(1000).frame(160), False)):
        v = Verdict("held", None)
        d = direction(payload)
        media_rules._check_held(v, LYNC_LEG, d, float(d.time[0]), float(d.time[-1]))
        assert v.results[0].ok is ok and v.results[0].step == "8", v.report()

