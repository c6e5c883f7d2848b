"""RTP rules on one leg, from the capture's streams (harness.media: Wireshark's figures).

Seed step 7 (media both ways once answered), 8 (none while held, after the hold's 200/ACK
and a small margin), 9 (back after the resume), 12 (none after the BYE's 200); RFC 3550:
one SSRC per direction and talk spell, sequence +1, timestamp +160 per 20 ms PCMU packet,
payload type 0; and the RTP really goes where the receiver's c= and m= lines said.

Where the gateway relays one leg's RTP to the other (``check_call_media``), a gap or a
timestamp jump it copied from the stream it relays is that stream's sender's, judged on the
sender's own leg; the relayed stream's check passes with a note naming the source's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.analysis.legs import Leg
from harness.analysis.relay import Packets, relayed_gaps, relayed_jumps
from harness.analysis.sdp_rules import sdp_events
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.media.find import rtp_streams
from harness.media.streams import RtpStream

# Packets already in flight when a hold, resume or BYE is signalled: 5 packetisation
# intervals. Spacing tolerance for 20 ms packets measured on the receive side.
MARGIN_S = 0.1
PTIME_S = 0.020
MEAN_TOLERANCE_S = 0.002
MAX_DELTA_S = 0.060
MIN_PACKETS_PER_SEGMENT = 10
# How far one interval may exceed the nominal one: what a relay may add to its source's
# gap before the gap is its own.
SLACK_S = MAX_DELTA_S - PTIME_S
SAMPLES_PER_PACKET = 160


@dataclass
class LegTimes:
    answered: float | None = None
    held: float | None = None
    resumed: float | None = None
    ended: float | None = None


@dataclass
class MediaTimeline:
    legs: dict[str, LegTimes] = field(default_factory=dict)

    def of(self, leg: str) -> LegTimes:
        return self.legs.setdefault(leg, LegTimes())

    def answered_at(self, leg: str, t: float) -> None:
        self.of(leg).answered = t

    def held_from(self, leg: str, t: float) -> None:
        self.of(leg).held = t

    def resumed_at(self, leg: str, t: float) -> None:
        self.of(leg).resumed = t

    def ended_at(self, leg: str, t: float) -> None:
        self.of(leg).ended = t


@dataclass
class Direction:
    """All RTP packets from one host to the address:port the receiver advertised."""

    sender: str
    receiver: str
    target: tuple[str | None, int | None]
    streams: list[RtpStream]
    time: np.ndarray
    seq: np.ndarray
    timestamp: np.ndarray
    pt: np.ndarray
    ssrc: np.ndarray  # per packet
    ssrcs: list[int]
    frame: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def who(self) -> str:
        return f"{self.sender} -> {self.receiver}"


@dataclass(frozen=True)
class Source:
    """The stream a relayed direction carries on: the other leg's, into the relay."""

    leg: str
    direction: Direction


def rtp_targets(leg: Leg) -> dict[str, tuple[str, tuple[str | None, int | None]]]:
    """Role -> (its host address on this leg, where it asked for RTP in its first SDP)."""
    out: dict[str, tuple[str, tuple[str | None, int | None]]] = {}
    for s in sdp_events(leg):
        role = s.event.sender
        if role not in out:
            out[role] = (s.event.src, s.rtp_target)
    return out


def direction_of(streams: list[RtpStream], sender: str, sender_addr: str, receiver: str,
               target: tuple[str | None, int | None]) -> Direction:
    mine = [s for s in streams if s.src == sender_addr and (s.dst, s.dst_port) == target]
    if mine:
        time = np.concatenate([s.time for s in mine])
        order = np.argsort(time, kind="stable")

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(s, name) for s in mine])[order]

        ssrc = np.concatenate([np.full(len(s), int(s.ssrc), dtype=np.uint64) for s in mine])[order]
        return Direction(sender, receiver, target, mine, time[order], cat("seq"), cat("timestamp"),
                         cat("pt"), ssrc, sorted({int(s.ssrc) for s in mine}), cat("frame"))
    empty = np.zeros(0)
    return Direction(sender, receiver, target, [], empty, empty, empty, empty, empty, [])


def check_call_media(v: Verdict, capture: Capture, legs: Sequence[Leg],
                     timeline: MediaTimeline, *, relay: str) -> None:
    """``check_leg_media`` on each leg in turn, for a call whose media ``relay`` bridges
    between two legs: its stream toward one leg's far end carries on the stream it receives
    from the other's, so a gap or timestamp jump there that the source already had is the
    source's (its own check, on its own leg, judges it)."""
    into = {leg.name: src for leg in legs if (src := into_relay(capture, leg, relay))}
    for leg in legs:
        others = [src for name, src in into.items() if name != leg.name]
        sources = {relay: others[0]} if len(others) == 1 else {}
        check_leg_media(v, capture, leg, timeline.of(leg.name), sources)


def into_relay(capture: Capture, leg: Leg, relay: str) -> Source | None:
    """The leg's stream from its far end into ``relay``, when the leg has one."""
    if not leg.events or relay not in leg.roles:
        return None
    targets = rtp_targets(leg)
    far = next(r for r in leg.roles if r != relay)
    if far not in targets or relay not in targets:
        return None
    d = direction_of(rtp_streams(capture), far, targets[far][0], relay, targets[relay][1])
    return Source(leg.name, d) if len(d.time) else None


def check_leg_media(v: Verdict, capture: Capture, leg: Leg, times: LegTimes,
                    sources: Mapping[str, Source] | None = None) -> None:
    """The RTP rules on both directions of ``leg``. ``sources``: for a sender that relays
    another leg's stream on this one, that stream (see ``check_call_media``)."""
    if not leg.events:
        return
    if times.answered is None:
        # Each direction's RTP is judged from the answer on; a deployment's capture that
        # began after it says so (the suite's captures fail at the answer's step instead).
        if v.one_leg_ok:
            v.not_checked("7", leg.name, "RTP", "the answer (200 OK) is not in the capture")
        return
    targets = rtp_targets(leg)
    a, b = leg.roles
    if a not in targets or b not in targets:
        if v.one_leg_ok and leg.started_before_capture:
            v.not_checked("7", leg.name, "SDP on both sides",
                          f"the capture starts at frame {leg.events[0].frame}, after an SDP",
                          "an SDP from each side of the leg")
            return
        v.check("7", leg.name, "SDP on both sides", False, "an SDP from each side of the leg",
                f"SDP from {sorted(targets)} only")
        return
    streams = rtp_streams(capture)
    for sender, receiver in ((a, b), (b, a)):
        d = direction_of(streams, sender, targets[sender][0], receiver, targets[receiver][1])
        check_direction(v, leg.name, d, times, (sources or {}).get(sender))


def _window(d: Direction, start: float | None, end: float | None) -> np.ndarray:
    lo = -np.inf if start is None else start
    hi = np.inf if end is None else end
    return (d.time > lo) & (d.time < hi)


def check_direction(v: Verdict, leg: str, d: Direction, t: LegTimes,
                    source: Source | None = None) -> None:
    if t.answered is None:  # check_leg_media checks only answered legs
        return
    who = d.who
    host, port = d.target
    if not v.check("7", leg, f"RTP {who}", len(d.time) > 0,
                   f"RTP to {host}:{port}, the c= and m= {d.receiver} advertised",
                   f"{len(d.time)} packets there" if len(d.time) else
                   "no RTP to that address and port"):
        return
    if t.held is None:
        # Loss, duplicates and reordering over the whole direction, as Wireshark counts
        # them. With a hold, a gateway that relays sequence numbers leaves a gap for the
        # packets it rightly withheld, so only the talk segments' own checks apply.
        for stream in d.streams:
            st = stream.stats()
            v.check("7", leg, f"RTP {who} loss (0x{st.ssrc:08X})",
                    st.lost == 0 and st.duplicates == 0 and st.out_of_order == 0,
                    "no packet lost, duplicated or out of order",
                    f"{st.lost} lost, {st.duplicates} duplicated, {st.out_of_order} out of order "
                    f"of {st.packets} (expected {st.expected})", st.first_frame)
    first_talk_end = t.held if t.held is not None else t.ended
    talk = [(t.answered, first_talk_end)]
    if t.resumed is not None:
        talk.append((t.resumed, t.ended))
    for n, (start, end) in enumerate(talk):
        step = "7" if n == 0 else "9"
        sel = _window(d, start + MARGIN_S if start else None, end - MARGIN_S if end else None)
        count = int(sel.sum())
        v.check(step, leg, f"RTP {who} {'after the answer' if n == 0 else 'after the resume'}",
                count >= MIN_PACKETS_PER_SEGMENT, f"at least {MIN_PACKETS_PER_SEGMENT} packets",
                f"{count} packets")
        if count < 2:
            continue
        times = d.time[sel]
        seqs, stamps = d.seq[sel].astype(np.int64), d.timestamp[sel].astype(np.int64)
        deltas = np.diff(times)
        relayed = Packets(times, d.frame[sel], stamps)
        spacing_ok = (abs(float(deltas.mean()) - PTIME_S) <= MEAN_TOLERANCE_S
                      and float(deltas.max()) <= MAX_DELTA_S)
        spacing = (f"mean {deltas.mean() * 1000:.2f} ms, max {deltas.max() * 1000:.2f} ms "
                   f"over {count} packets")
        if not spacing_ok and source is not None:
            if _sources_gaps(v, leg, d, t, relayed, source, deltas):
                spacing_ok = True
                spacing += (f"; its gaps over {MAX_DELTA_S * 1000:.0f} ms are "
                            f"{source.direction.sender}'s, relayed (see the notes)")
        v.check(step, leg, f"RTP {who} spacing", spacing_ok,
                f"mean {PTIME_S * 1000:.0f} ms +- {MEAN_TOLERANCE_S * 1000:.0f}, "
                f"max <= {MAX_DELTA_S * 1000:.0f} ms", spacing)
        seq_steps = np.diff(seqs) % 65536
        v.check(step, leg, f"RTP {who} sequence", bool((seq_steps == 1).all()), "+1 per packet",
                "+1 per packet" if (seq_steps == 1).all() else
                f"steps {sorted({int(x) for x in seq_steps})[:6]}")
        ts_steps = np.diff(stamps) % (1 << 32)
        ts_ok = bool((ts_steps == SAMPLES_PER_PACKET).all())
        ts_text = "+160 per packet" if ts_ok else f"steps {sorted({int(x) for x in ts_steps})[:6]}"
        if not ts_ok and source is not None:
            copied = _sources_jumps(v, leg, d, t, relayed, source)
            if copied:
                ts_ok = True
                ts_text = (f"+160 per packet but for {sorted(copied)[:6]}, as "
                           f"{source.direction.sender} sent them (see the notes)")
        v.check(step, leg, f"RTP {who} timestamp", ts_ok, "+160 per packet (20 ms at 8 kHz)",
                ts_text)
    pts = sorted({int(x) for x in d.pt})
    v.check("7", leg, f"RTP {who} payload type", pts == [0] or pts == [0, 101],
            "0 (PCMU), with 101 for DTMF",
            str(pts))
    # One SSRC per talk spell (RFC 3550 5.1: one source's packets share one sequence and
    # timestamp space), over the talk spells the checks above read: from the answer to the
    # hold, and from the resume, a new offer/answer after which a gateway may start a new
    # source (Asterisk does when its native RTP bridge comes back after the hold and relays
    # the far end's SSRC). As its bridge changes, Asterisk may send a packet or two of its
    # own (seen: one 1.5 ms after the 200 OK; one 0.5 ms before it passed the resume on):
    # the same margins as the other checks apply, and what they hide is noted.
    seen: list[list[int]] = []
    for n, (start, until) in enumerate(talk):
        sel = _window(d, start + MARGIN_S if start else None,
                      until - MARGIN_S if until else None)
        ssrcs = list(dict.fromkeys(int(x) for x in d.ssrc[sel]))
        seen.append(ssrcs)
        v.check("7" if n == 0 else "9", leg, f"RTP {who} SSRC" if n == 0 else
                f"RTP {who} SSRC after the resume", len(ssrcs) == 1,
                f"one SSRC for the direction from {MARGIN_S * 1000:.0f} ms after the "
                f"{'answer' if n == 0 else 'resume'}",
                ", ".join(f"0x{x:08X}" for x in ssrcs) or "no packets")
    if len(seen) == 2 and len(seen[0]) == 1 and len(seen[1]) == 1 and seen[0] != seen[1]:
        v.note(f"RTP {who} on the {leg} leg: a new source after the resume, SSRC "
               f"0x{seen[0][0]:08X} then 0x{seen[1][0]:08X} (RFC 3550 8: the receiver "
               f"takes it as a new participant)")
    counted = {x for spell in seen for x in spell}
    early = sorted(set(d.ssrcs) - counted)
    if early:
        v.note(f"RTP {who} on the {leg} leg: SSRC {', '.join(f'0x{x:08X}' for x in early)} only "
               f"within {MARGIN_S * 1000:.0f} ms of the answer, hold, resume or end "
               f"({int(np.isin(d.ssrc, early).sum())} packets)")
    if t.held is not None and t.resumed is not None:
        held = _window(d, t.held + MARGIN_S, t.resumed - MARGIN_S)
        stray = d.time[held]
        v.check("8", leg, f"RTP {who} while held", len(stray) == 0,
                f"none from {MARGIN_S * 1000:.0f} ms after the hold's ACK to the resume",
                "none" if len(stray) == 0 else
                f"{len(stray)} packets, the first {stray[0] - t.held:.3f} s after the hold")
    if t.ended is not None:
        late = d.time[d.time > t.ended + MARGIN_S]
        v.check("12", leg, f"RTP {who} after the BYE", len(late) == 0,
                f"none from {MARGIN_S * 1000:.0f} ms after the BYE's 200 OK",
                "none" if len(late) == 0 else
                f"{len(late)} packets, the last {late[-1] - t.ended:.3f} s after")


def _sources_gaps(v: Verdict, leg: str, d: Direction, t: LegTimes, relayed: Packets,
                  source: Source, deltas: np.ndarray) -> bool:
    """Notes each gap over the limit that the source's stream had too. True when all of them
    had, and the mean spacing is in tolerance or the source's own over the same span (a
    sender that skipped packets in a stall lowers the rate of both streams)."""
    src = source.direction
    gaps = relayed_gaps(relayed, Packets(src.time, src.frame, src.timestamp),
                        limit=MAX_DELTA_S, slack=SLACK_S)
    answered = t.answered or 0.0
    for g in gaps:
        if g.the_sources:
            v.note(f"RTP {d.who} on the {leg} leg: the {g.size * 1000:.1f} ms gap from "
                   f"{g.start - answered:.3f} s after the answer to frame {g.frame} relays the "
                   f"{(g.source_size or 0.0) * 1000:.1f} ms gap in {src.who} on the "
                   f"{source.leg} leg before frame {g.source_frame}: the sender's, judged there")
    if not gaps or not all(g.the_sources for g in gaps):
        return False  # a mean out of tolerance alone is not put down to the source
    mean = float(deltas.mean())
    if abs(mean - PTIME_S) <= MEAN_TOLERANCE_S:
        return True
    # The source's packets that the relayed ones carry on: from half a packet time before
    # the first (the relay's delay) to the last.
    span = src.time[(src.time > relayed.time[0] - PTIME_S / 2) & (src.time <= relayed.time[-1])]
    return len(span) > 1 and abs(float(np.diff(span).mean()) - mean) <= MEAN_TOLERANCE_S


def _sources_jumps(v: Verdict, leg: str, d: Direction, t: LegTimes, relayed: Packets,
                   source: Source) -> set[int]:
    """Notes each timestamp step other than +160 that the source's stream had too; the
    steps when all of them had, else the empty set."""
    src = source.direction
    jumps = relayed_jumps(relayed, Packets(src.time, src.frame, src.timestamp),
                          step=SAMPLES_PER_PACKET, window=PTIME_S)
    answered = t.answered or 0.0
    for j in jumps:
        if j.source_frame is not None:
            v.note(f"RTP {d.who} on the {leg} leg: the timestamp step {j.step} at frame "
                   f"{j.frame} ({j.time - answered:.3f} s after the answer) copies the same "
                   f"step in {src.who} on the {source.leg} leg at frame {j.source_frame}: "
                   f"the sender's, judged there")
    if all(j.source_frame is not None for j in jumps):
        return {j.step for j in jumps}
    return set()
