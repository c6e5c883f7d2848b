"""`harness load`'s per-call analysis on captures it made of its own topology (subnet
192.168.123.0/24): 6 calls at 2/s with the Mediation Server told to stop answering for 1 s
(load_stop_answering.pcap), and the SIP of a call whose ACK the Mediation Server ignored
(load_drop_ack_sip.pcap, cut from a run with --fault drop-acks)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.capture import open_capture
from harness.load.analyse import analyse
from harness.load.correlate import correlate
from harness.load.cut import CutError, cut, frames_of
from harness.load.verify import check_call
from harness.media.find import rtp_streams
from harness.roles import ASTERISK, MEDIATION, Roles, role_names

DATA = Path(__file__).parent / "data"
STOP = DATA / "load_stop_answering.pcap"
DEAF = DATA / "load_drop_ack_sip.pcap"
ROLES = Roles(role_names("192.168.123"))
GATEWAY = "192.168.123.10"


def _named(path: Path) -> list:  # type: ignore[type-arg]
    cap = open_capture(path)
    return [m.with_roles(ROLES) for m in cap.sip_messages() if m.message is not None]


def test_each_softphone_leg_is_joined_to_its_trunk_leg() -> None:
    cap = open_capture(STOP)
    calls = correlate(_named(STOP), rtp_streams(cap), GATEWAY)
    assert len(calls) == 6
    # answered calls by the SSRC the gateway relays, the two never answered in time order
    assert [c.joined_by for c in calls] == ["ssrc", "time", "time", "ssrc", "ssrc", "ssrc"]
    assert [c.phone.call_id.split("@")[0] for c in calls if c.phone] == [
        f"{n}-79" for n in range(1, 7)]
    for c in calls:
        assert c.phone is not None and c.lync is not None
        # the trunk's INVITE follows the softphone's INVITE with credentials closely
        assert 0 < c.lync.placed_at - c.phone.placed_at < 0.05
        if c.joined_by == "ssrc":
            # the softphone's and Lync's SSRCs, each on both legs (the gateway may add a
            # packet of its own SSRC as the answer goes through)
            trunk = {s.ssrc for s in c.streams if "192.168.123.20" in (s.src, s.dst)}
            phone = {s.ssrc for s in c.streams if "192.168.123.40" in (s.src, s.dst)}
            assert len(trunk & phone) == 2 and len(c.streams) >= 4
        else:
            assert c.streams == []


def test_the_calls_verify_but_those_the_trunk_ignored() -> None:
    analysed = analyse(open_capture(STOP), ROLES, hold=False)
    verdicts = [(a.record.verified, a.record.failure.step if a.record.failure else None,
                 a.record.failure.leg if a.record.failure else None) for a in analysed]
    assert verdicts == [(True, None, None), (False, "2", "Lync trunk (TCP)"),
                        (False, "2", "Lync trunk (TCP)"), (True, None, None),
                        (True, None, None), (True, None, None)]
    for a in analysed:
        r = a.record
        if r.verified:
            assert r.pdd_ms is not None and 0 < r.pdd_ms < 200
            assert r.mos == pytest.approx(4.41, abs=0.01)
            assert len(r.directions) == 4 and all(d.lost == 0 for d in r.directions)
        else:
            assert r.mos is None and r.failure is not None
            assert "100 Trying from Mediation Server" in r.failure.expected


def test_a_lost_trunk_leg_fails_the_call_at_step_1() -> None:
    """The same real call with its trunk leg's messages taken away."""
    cap = open_capture(STOP)
    call = correlate(_named(STOP), rtp_streams(cap), GATEWAY)[0]
    alone = replace(call, lync=None, joined_by="one-leg")
    v = check_call(alone, cap, hold=False, title="t")
    first = v.failures[0]
    assert (first.step, first.leg, first.subject) == ("1", "Lync trunk (TCP)", "INVITE")
    assert check_call(call, cap, hold=False, title="t").ok


def test_a_call_checked_with_hold_expected_fails_at_the_hold() -> None:
    cap = open_capture(STOP)
    call = correlate(_named(STOP), rtp_streams(cap), GATEWAY)[0]
    v = check_call(call, cap, hold=True, title="t")
    assert not v.ok and v.failures[0].step == "8"


def test_an_ignored_ack_fails_step_6_on_the_trunk() -> None:
    analysed = analyse(open_capture(DEAF), ROLES, hold=False)
    assert len(analysed) == 1
    f = analysed[0].record.failure
    assert f is not None
    assert (f.step, f.leg, f.subject) == ("6", "Lync trunk (TCP)",
                                          "200 OK not sent again after the ACK")
    assert "the ACK did not reach it" in f.actual
    roles = {m.sender for m in analysed[0].call.messages}
    assert {ASTERISK, MEDIATION} <= roles


def test_a_failed_calls_pcap_holds_that_call_alone(tmp_path: Path) -> None:
    analysed = analyse(open_capture(STOP), ROLES, hold=False)
    failed = analysed[1]
    out = tmp_path / "call.pcap"
    counts = cut(STOP, {out: frames_of(failed.call)})
    assert counts[out] == len(frames_of(failed.call)) > 0
    again = analyse(open_capture(out), ROLES, hold=False)
    assert len(again) == 1
    assert again[0].record.phone_call_id == failed.record.phone_call_id
    assert again[0].record.failure == failed.record.failure
    ok = tmp_path / "ok.pcap"
    cut(STOP, {ok: frames_of(analysed[0].call)})
    assert analyse(open_capture(ok), ROLES, hold=False)[0].record.verified


def test_cut_refuses_what_is_not_a_pcap(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcapng"
    bad.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)
    with pytest.raises(CutError, match="not a classic pcap"):
        cut(bad, {tmp_path / "o.pcap": [1]})


def test_a_port_the_gateway_reuses_belongs_to_the_leg_that_announced_it_last() -> None:
    """Two calls of a 1000-call run (load_port_reused.pcap, 192.168.100.0/24): Asterisk
    gave call 333's RTP port to call 339, whose first packet on it came within a second of
    call 333's BYE. It is call 339's, so both calls verify (it failed call 333's SSRC rule
    before the index knew which leg announced the port last)."""
    roles = Roles(role_names("192.168.100"))
    analysed = analyse(open_capture(DATA / "load_port_reused.pcap"), roles, hold=False)
    assert [(a.record.phone_call_id.split("@")[0], a.record.verified) for a in analysed] == [
        ("333-14", True), ("339-14", True)]
    first, second = (a.call for a in analysed)
    assert not {s.ssrc for s in first.streams} & {s.ssrc for s in second.streams}
