"""Hold checks: each direction sends, or is silent, as the SDP in force says."""

from __future__ import annotations

from pathlib import Path

from harness.capture import open_capture
from harness.capture.sip import CapturedSip
from harness.media.hold import HoldWindow, check_hold, held_direction, hold_windows, media_periods
from harness.sip import parse_message
from tests.support.capgen import (
    T0,
    StreamSpec,
    merge,
    sdp,
    sip_request,
    sip_response,
    udp_frame,
    write_pcap,
)

A, B = "10.5.0.1", "10.5.0.2"
S = 1_000_000_000


def _call(tmp_path: Path, hold: tuple[str, str], b_bursts: list, a_bursts: list) -> Path:
    """Media both ways for 10 s; re-INVITE at 4 s with ``hold`` directions (offer from A,
    answer from B), back to sendrecv at 8 s, BYE at 10 s."""

    def offer(d: str, v: int) -> str:
        return sdp(A, 30000, [(0, None)], d, session_id=v)

    def answer(d: str, v: int) -> str:
        return sdp(B, 40000, [(0, None)], d, session_id=v)

    sig = []
    for k, (t, d_a, d_b) in enumerate(
        [(0, "sendrecv", "sendrecv"), (4, *hold), (8, "sendrecv", "sendrecv")]
    ):
        t_ns = T0 + t * S - 50_000_000
        sig.append(
            udp_frame(
                t_ns,
                A,
                B,
                5060,
                5060,
                sip_request("INVITE", "h", k + 1, offer(d_a, k), branch=f"z9hG4bK{k}"),
            )
        )
        sig.append(
            udp_frame(
                t_ns + 20_000_000,
                B,
                A,
                5060,
                5060,
                sip_response(200, "OK", "h", k + 1, "INVITE", answer(d_b, k), branch=f"z9hG4bK{k}"),
            )
        )
    sig.append(udp_frame(T0 + 10 * S + 10_000_000, A, B, 5060, 5060, sip_request("BYE", "h", 5)))
    a = StreamSpec(A, 30000, B, 40000, ssrc=1, count=500, bursts=a_bursts, seed=1)
    b = StreamSpec(B, 40000, A, 30000, ssrc=2, count=500, bursts=b_bursts, seed=2)
    return write_pcap(tmp_path / "hold.pcap", merge(sig, a.frames(), b.frames()))


def test_hold_and_resume_as_negotiated(tmp_path: Path) -> None:
    cap = open_capture(
        _call(tmp_path, ("sendonly", "recvonly"), b_bursts=[(200, 400)], a_bursts=[])
    )
    periods = [p for p in media_periods(cap) if p.src == B]
    # B may send from A's offer, must stop at A's hold offer, resumes with its own answer
    assert [(round(p.start - T0 / 1e9, 2), p.may_send) for p in periods] == [
        (-0.05, True),
        (3.95, False),
        (7.97, True),
    ]
    assert (periods[1].own_direction, periods[1].peer_direction) == ("sendrecv", "sendonly")
    assert round(periods[-1].end - T0 / 1e9, 2) == 10.01  # the BYE
    assert check_hold(cap) == []


def test_held_side_keeps_sending(tmp_path: Path) -> None:
    cap = open_capture(_call(tmp_path, ("sendonly", "recvonly"), b_bursts=[], a_bursts=[]))
    (finding,) = check_hold(cap)
    assert finding.period.src == B and not finding.period.may_send
    assert " but sent 17" in str(finding) and "peer SDP sendonly" in str(finding)


def test_lync_inactive_hold_and_a_silent_direction(tmp_path: Path) -> None:
    # both inactive from 4 s: A keeps sending (wrong); B stops, but also goes quiet
    # for 2 s before the hold (wrong too)
    cap = open_capture(_call(tmp_path, ("inactive", "inactive"), b_bursts=[(50, 400)], a_bursts=[]))
    found = sorted((f.period.src, f.period.may_send, f.problem.split()[0]) for f in check_hold(cap))
    assert found == [(A, False, "sent"), (B, True, "was")]


# ----------------------------------------------------------------------------- hold windows


def _sip(frame: int, t: float, src: str, dst: str, data: bytes) -> CapturedSip:
    return CapturedSip(frame, t, src, 5060, dst, 5060, "UDP", data, parse_message(data), None)


def _invite(frame: int, t: float, call_id: str, cseq: int, body: str) -> CapturedSip:
    invite = sip_request("INVITE", call_id, cseq, body, branch=f"z9hG4bK{frame}")
    return _sip(frame, t, A, B, invite)


def test_hold_window_from_the_hold_to_the_resume(tmp_path: Path) -> None:
    cap = open_capture(_call(tmp_path, ("sendonly", "recvonly"), b_bursts=[], a_bursts=[]))
    msgs = cap.sip_messages()
    invites = [m for m in msgs if m.is_request and m.method == "INVITE"]
    origin = msgs[0].time
    (window,) = hold_windows(msgs, origin=origin)
    assert window == HoldWindow(
        a=A,
        b=B,
        start=invites[1].time - origin,
        end=invites[2].time - origin,
        direction="sendonly",
        call_id="h",
        start_frame=invites[1].frame,
        end_frame=invites[2].frame,
    )


def test_hold_windows_closed_by_bye_or_left_open() -> None:
    held = sdp(A, 30000, [(0, None)], "inactive")
    rfc2543 = sdp(A, 30000, [(0, None)]).replace(f"c=IN IP4 {A}", "c=IN IP4 0.0.0.0")
    msgs = [
        _invite(1, 10.0, "one", 1, sdp(A, 30000, [(0, None)])),
        _invite(2, 11.0, "one", 2, held),
        _invite(3, 11.5, "one", 3, held),  # still held: the window goes on
        _sip(4, 12.0, B, A, sip_request("BYE", "one", 1)),
        _invite(5, 13.0, "two", 1, rfc2543),
        _sip(6, 14.0, A, B, sip_request("OPTIONS", "three", 1)),
    ]
    windows = hold_windows(reversed(msgs), origin=10.0)  # put back in frame order
    assert [(w.call_id, w.direction, w.start, w.end, w.start_frame, w.end_frame)
            for w in windows] == [
        ("one", "inactive", 1.0, 2.0, 2, 4),
        ("two", "inactive", 3.0, 4.0, 5, None),  # never resumed: ends at the last message
    ]


def test_held_direction() -> None:
    assert held_direction(["sendrecv", "recvonly", "inactive"]) == "recvonly"
    assert held_direction(["sendrecv"]) is None
    assert held_direction(["sendrecv"], hold_address=True) == "inactive"
    assert held_direction([]) is None
