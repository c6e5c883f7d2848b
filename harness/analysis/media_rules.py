"""Media content rules: each direction of each leg carries the audio its sender sent.

Seed step 7 (the parties talk once answered), 8 (hold: nothing heard) and 9 (talk again
after the resume). The suite's senders each send one steady tone (``SUITE_TONES``): the
softphone 1000 Hz (SIPp's /media/tone-1khz.ulaw, baresip's 1 kHz WAV), the Mediation
Server simulator 1013 Hz (compose.yaml's --tone-hz; a frequency apart from the softphone's,
so a stream sent back to its own sender shows). Per leg and direction, over each talk
segment of the call (``MediaTimeline``: the windows the RTP timing rules use):

- a far end's own stream into the gateway is a steady tone: audible (``MIN_LEVEL_DBFS``),
  at least ``MIN_SHARE`` of its power in the tone, in every 200 ms block;
- the gateway's stream toward one far end carries the other far end's tone as that one sent
  it over the same span: frequency within ``FREQ_TOL_HZ``, level within ``LEVEL_TOL_DB``,
  as pure, in every block (a dropout or a burst of noise shows);
- while held, whatever RTP still flows is silence (below ``SILENCE_DBFS``).

One-way audio (a relayed stream that is silent), crossed audio (a far end hearing its own
tone) and garbled audio (noise, the wrong codec) each fail with the direction, the segment
and what was measured. A deployment's capture carries speech: a direction without a
steady tone is reported as not checked there (``strict=False``), never failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis.legs import Leg
from harness.analysis.rtp_rules import (
    MARGIN_S,
    Direction,
    LegTimes,
    MediaTimeline,
    direction_of,
    into_relay,
    rtp_targets,
)
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.media import content
from harness.media.find import rtp_streams
from harness.roles import MEDIATION, SOFTPHONE

# The tone each of the suite's senders sends (Hz).
SUITE_TONES: Mapping[str, float] = {SOFTPHONE: 1000.0, MEDIATION: 1013.0}
FREQ_TOL_HZ = 2.0  # a relay does not resample; 2 Hz still tells 1000 from 1013
BLOCK_FREQ_TOL_HZ = 4.0  # a 200 ms block's estimate, with a relay's phase jumps in it
LEVEL_TOL_DB = 3.0  # PCMU relayed as PCMU is bit-exact; a transcoding gateway stays close
MIN_SHARE = 0.9  # a clean G.711 tone holds over 99%; noise a few per cent
MIN_LEVEL_DBFS = -40.0  # an audible tone, for a sender whose level is not known
SILENCE_DBFS = -50.0  # held: no more than comfort noise
MIN_SAMPLES = 800  # 100 ms: less is not measured (a segment cut short fails elsewhere)


@dataclass(frozen=True)
class Audio:
    """The decoded G.711 samples of a direction within a window."""

    samples: np.ndarray
    packets: int  # G.711 packets decoded
    others: int  # packets of other payload types (telephone-event...) left out
    first_time: float | None


def audio_of(d: Direction, start: float, end: float) -> Audio:
    """The samples of ``d``'s G.711 packets arriving within (start, end), in arrival order."""
    parts: list[tuple[float, np.ndarray]] = []
    others = 0
    for s in d.streams:
        inside = np.flatnonzero((s.time > start) & (s.time < end))
        for i in inside:
            pt = int(s.pt[i])
            if pt not in content.CODECS:
                others += 1
                continue
            parts.append((float(s.time[i]), content.decode(s.payload(int(i)), pt)))
    parts.sort(key=lambda p: p[0])
    samples = (np.concatenate([p[1] for p in parts]) if parts
               else np.zeros(0, dtype=np.int16))
    return Audio(samples, len(parts), others, parts[0][0] if parts else None)


def _segments(t: LegTimes) -> list[tuple[str, float, float]]:
    """(step, start, end) of each talk segment, margins applied as the RTP rules do."""
    if t.answered is None:
        return []
    end_of_first = t.held if t.held is not None else t.ended
    out = [("7", t.answered + MARGIN_S, (end_of_first or np.inf) - MARGIN_S)]
    if t.held is not None and t.resumed is not None:
        out.append(("9", t.resumed + MARGIN_S, (t.ended or np.inf) - MARGIN_S))
    return out


def check_call_content(v: Verdict, capture: Capture, legs: Sequence[Leg],
                       timeline: MediaTimeline, *, relay: str,
                       tones: Mapping[str, float], strict: bool = True) -> None:
    """The content rules on both directions of each leg of a call that ``relay`` bridges.
    ``tones``: role -> the tone the suite's sender of that role sends, to name what is heard
    (a sender that sends another one gets a note). ``strict`` (the suite's own captures): a
    sender whose audio is no steady tone fails; otherwise (a deployment's capture: speech)
    that direction and its relay are not checked."""
    into = {leg.name: src for leg in legs if (src := into_relay(capture, leg, relay))}
    streams = rtp_streams(capture)
    for leg in legs:
        times = timeline.of(leg.name)
        if not leg.events or times.answered is None:
            continue  # the RTP rules already say why
        targets = rtp_targets(leg)
        a, b = leg.roles
        if a not in targets or b not in targets:
            continue
        others = [src for name, src in into.items() if name != leg.name]
        pair = {s: direction_of(streams, s, targets[s][0], r, targets[r][1])
                for s, r in ((a, b), (b, a))}
        for sender, d in pair.items():
            if not len(d.time):
                continue  # "no RTP" is the RTP rules' verdict
            source = others[0].direction if sender == relay and len(others) == 1 else None
            back = pair[d.receiver]  # what the receiver sends itself
            for step, start, end in _segments(times):
                if source is None:
                    _check_origin(v, leg.name, step, d, start, end, tones, strict)
                else:
                    _check_relayed(v, leg.name, step, d, start, end, source, back)
            if times.held is not None and times.resumed is not None:
                _check_held(v, leg.name, d, times.held + MARGIN_S, times.resumed - MARGIN_S)


def _subject(d: Direction, step: str) -> str:
    return f"RTP {d.who} content{'' if step == '7' else ' after the resume'}"


def _steady(t: content.Tone) -> bool:
    return t.share >= MIN_SHARE and t.level_dbfs >= MIN_LEVEL_DBFS


def _measured(d: Direction, start: float, end: float) -> tuple[Audio, content.Tone] | None:
    audio = audio_of(d, start, end)
    if audio.samples.size < MIN_SAMPLES:
        return None  # too little to measure: the segment's packet count check fails it
    return audio, content.measure(audio.samples)


def _check_origin(v: Verdict, leg: str, step: str, d: Direction, start: float, end: float,
                  tones: Mapping[str, float], strict: bool) -> None:
    """A far end's own stream into the gateway: a steady, audible tone."""
    m = _measured(d, start, end)
    if m is None:
        return
    audio, got = m
    known = tones.get(d.sender)
    expected = (f"a steady tone from the {d.sender}"
                + (f" (the suite's {known:g} Hz)" if known is not None else "")
                + f" above {MIN_LEVEL_DBFS:g} dBFS, at least {MIN_SHARE:.0%} of the power in "
                f"the tone, in every {content.BLOCK_SAMPLES // 8} ms")
    if not strict and not _steady(got):
        v.not_checked(step, leg, _subject(d, step),
                      f"no test tone ({got.describe()}): speech is not compared", expected)
        return
    problems: list[str] = []
    if got.level_dbfs < SILENCE_DBFS:
        problems.append("silent")
    elif got.share < MIN_SHARE:
        problems.append(f"garbled (only {got.share:.0%} of the power in a tone)")
    elif got.level_dbfs < MIN_LEVEL_DBFS:
        problems.append(f"too quiet ({got.level_dbfs:.1f} dBFS)")
    else:
        problems += _bad_blocks(audio.samples, got.frequency_hz, MIN_LEVEL_DBFS, 0.0)
    if known is not None and _steady(got) and abs(got.frequency_hz - known) > FREQ_TOL_HZ:
        # Named, not failed: the relay's checks compare with what was really sent.
        v.note(f"{d.who} on the {leg} leg carries {got.frequency_hz:.1f} Hz, not the suite's "
               f"{known:g} Hz for the {d.sender} (its simulator or file is another one)")
    _record(v, leg, step, d, start, expected, got, audio, problems)


def _check_relayed(v: Verdict, leg: str, step: str, d: Direction, start: float, end: float,
                   source: Direction, back: Direction) -> None:
    """The gateway's stream toward one far end: the other far end's audio, as it was sent
    over the same span."""
    m = _measured(d, start, end)
    if m is None:
        return
    audio, got = m
    src = _measured(source, start, end)
    expected = f"the {source.sender}'s tone as {source.who} carried it"
    if src is None or not _steady(src[1]):
        v.not_checked(step, leg, _subject(d, step),
                      f"{source.who} carries no steady tone to compare with"
                      + (f" ({src[1].describe()})" if src is not None else ""), expected)
        return
    ref = src[1]
    own = _measured(back, start, end)
    if own is not None and abs(own[1].frequency_hz - ref.frequency_hz) <= 2 * FREQ_TOL_HZ:
        text = (f"the {source.sender} and the {d.receiver} send the same tone "
                f"({ref.frequency_hz:.1f} Hz): audio sent back to its sender instead of the "
                f"other's cannot be told apart on the {leg} leg")
        if text not in v.notes:
            v.note(text)
    expected += (f" ({ref.frequency_hz:.1f} Hz, {ref.level_dbfs:.1f} dBFS): within "
                 f"{FREQ_TOL_HZ:g} Hz and {LEVEL_TOL_DB:g} dB, at least {MIN_SHARE:.0%} of the "
                 f"power in the tone, in every {content.BLOCK_SAMPLES // 8} ms")
    problems: list[str] = []
    if got.level_dbfs < SILENCE_DBFS:
        problems.append(f"silent: one-way audio, the {d.receiver} hears nothing")
    elif got.share < MIN_SHARE:
        problems.append(f"garbled (only {got.share:.0%} of the power in a tone)")
    elif abs(got.frequency_hz - ref.frequency_hz) > FREQ_TOL_HZ:
        if own is not None and abs(own[1].frequency_hz - got.frequency_hz) <= FREQ_TOL_HZ:
            problems.append(f"the wrong audio: the {d.receiver}'s own tone sent back to it")
        else:
            problems.append(f"the wrong audio ({got.frequency_hz - ref.frequency_hz:+.1f} Hz "
                            "from the source's)")
    if not problems and abs(got.level_dbfs - ref.level_dbfs) > LEVEL_TOL_DB:
        problems.append(f"level {got.level_dbfs - ref.level_dbfs:+.1f} dB from the source's")
    if not problems:
        problems += _bad_blocks(audio.samples, ref.frequency_hz, ref.level_dbfs, LEVEL_TOL_DB)
    _record(v, leg, step, d, start, expected, got, audio, problems)


def _record(v: Verdict, leg: str, step: str, d: Direction, start: float, expected: str,
            got: content.Tone, audio: Audio, problems: list[str]) -> None:
    actual = f"{got.describe()} over {got.seconds:.2f} s ({audio.packets} packets)"
    if problems:
        actual = f"{'; '.join(problems)}: {actual}"
    v.check(step, leg, _subject(d, step), not problems, expected, actual, _first_frame(d, start))


def _bad_blocks(samples: np.ndarray, hz: float, level_ref: float, level_tol: float) -> list[str]:
    """A dropout or a burst of noise in part of the segment: the blocks without the tone."""
    parts = content.blocks(samples)
    bad: list[int] = []
    for i, block in enumerate(parts):
        t = content.measure(block)
        floor = level_ref - level_tol if level_tol else MIN_LEVEL_DBFS
        if (t.share < MIN_SHARE or abs(t.frequency_hz - hz) > BLOCK_FREQ_TOL_HZ
                or t.level_dbfs < floor):
            bad.append(i)
    if not bad:
        return []
    ms = content.BLOCK_SAMPLES // 8
    return [f"{len(bad)} of {len(parts)} {ms} ms blocks without the tone (the first "
            f"{bad[0] * ms} ms into the segment's audio)"]


def _check_held(v: Verdict, leg: str, d: Direction, start: float, end: float) -> None:
    if end <= start:
        return
    audio = audio_of(d, start, end)
    if audio.packets == 0:
        return  # no RTP while held: silence (the RTP rules judge whether packets may flow)
    level = content.level_dbfs(audio.samples)
    got = content.measure(audio.samples)
    v.check("8", leg, f"RTP {d.who} content while held", level <= SILENCE_DBFS,
            f"silence while held (at most {SILENCE_DBFS:g} dBFS) or no RTP",
            f"{got.describe()} in {audio.packets} packets", _first_frame(d, start))


def _first_frame(d: Direction, start: float) -> int | None:
    after = np.flatnonzero(d.time > start)
    return int(d.frame[after[0]]) if after.size and d.frame.size > after[0] else None
