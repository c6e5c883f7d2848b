"""RTP payload types: names and clock rates exactly as tshark 4.0 uses them for ``rtp,streams``.

Static types (< 96) take the IANA clock and tshark's short name whatever the SDP says.
Dynamic types take the encoding name and clock of the ``a=rtpmap`` that set the stream up;
with no SDP, tshark names 100 and 101 ``rtpevent`` and 99 ``rtp.rfc2198`` (its default
``rtp.pt`` registrations) and knows no clock for them. ``telephone-event`` has no clock for
jitter (RFC 4733 events do not advance the timestamp), though its ``a=rtpmap`` rate still
converts event durations.
"""

from __future__ import annotations

# tshark ui/tap-rtp-analysis.c clock_map
STATIC_CLOCK: dict[int, int] = {
    0: 8000,
    1: 8000,
    2: 8000,
    3: 8000,
    4: 8000,
    5: 8000,
    6: 16000,
    7: 8000,
    8: 8000,
    9: 8000,
    10: 44100,
    11: 44100,
    12: 8000,
    13: 8000,
    14: 90000,
    15: 8000,
    16: 11025,
    17: 22050,
    18: 8000,
    19: 8000,
    25: 90000,
    26: 90000,
    28: 90000,
    31: 90000,
    32: 90000,
    33: 90000,
    34: 90000,
}

# tshark mimetype_and_clock_map (matched case-insensitively on a prefix, longest table
# position last, like tshark's reverse search)
DYNAMIC_CLOCK: tuple[tuple[str, int], ...] = (
    ("AMR", 8000),
    ("AMR-WB", 16000),
    ("BMPEG", 90000),
    ("BT656", 90000),
    ("DV", 90000),
    ("EVRC", 8000),
    ("EVRC0", 8000),
    ("EVRC1", 8000),
    ("EVRCB", 8000),
    ("EVRCB0", 8000),
    ("EVRCB1", 8000),
    ("EVRCWB", 16000),
    ("EVRCWB0", 16000),
    ("EVRCWB1", 16000),
    ("EVS", 16000),
    ("G7221", 16000),
    ("G726-16", 8000),
    ("G726-24", 8000),
    ("G726-32", 8000),
    ("G726-40", 8000),
    ("G729D", 8000),
    ("G729E", 8000),
    ("GSM-EFR", 8000),
    ("H263-1998", 90000),
    ("H263-2000", 90000),
    ("H264", 90000),
    ("MP1S", 90000),
    ("MP2P", 90000),
    ("MP4V-ES", 90000),
    ("mpa-robust", 90000),
    ("opus", 48000),
    ("pointer", 90000),
    ("raw", 90000),
    ("red", 1000),
    ("SMV", 8000),
    ("SMV0", 8000),
    ("t140", 1000),
    ("telephone-event", 8000),
)

_NAMED = {
    0: "g711U",
    1: "fs-1016",
    2: "g721",
    3: "GSM",
    4: "g723",
    5: "DVI4 8k",
    6: "DVI4 16k",
    7: "Exp. from Xerox PARC",
    8: "g711A",
    9: "g722",
    10: "16-bit audio, stereo",
    11: "16-bit audio, monaural",
    12: "Qualcomm",
    13: "CN",
    14: "MPEG-I/II Audio",
    15: "g728",
    16: "DVI4 11k",
    17: "DVI4 22k",
    18: "g729",
    19: "CN(old)",
    25: "CellB",
    26: "JPEG",
    28: "NV",
    31: "h261",
    32: "MPEG-I/II Video",
    33: "MPEG-II streams",
    34: "h263",
}

# Dissectors tshark ties to dynamic payload types by default (no SDP needed).
DEFAULT_DYNAMIC_NAMES = {99: "rtp.rfc2198", 100: "rtpevent", 101: "rtpevent"}

PT_CN = 13
PT_CN_OLD = 19


def short_name(pt: int) -> str:
    """tshark's rtp_payload_type_short_vals."""
    if pt in _NAMED:
        return _NAMED[pt]
    if 72 <= pt <= 76:
        return "Reserved for RTCP conflict avoidance"
    if 96 <= pt <= 127:
        return f"RTPType-{pt}"
    return "Unassigned"


def dynamic_clock(name: str) -> int:
    low = name.lower()
    for prefix, clock in reversed(DYNAMIC_CLOCK):
        if low.startswith(prefix.lower()):
            return clock
    return 0


def is_telephone_event(name: str | None) -> bool:
    return name is not None and name.lower().startswith("telephone-event")


def payload_info(pt: int, rtpmap: dict[int, tuple[str, int]] | None) -> tuple[str, int]:
    """(display name, clock rate for jitter) of one payload type, as tshark computes them.

    ``rtpmap`` is the map of the SDP that set the stream up (pt -> (encoding, rate)), or
    None for a stream found without signalling. Clock 0 means "no jitter for this type".
    """
    if pt < 96 or pt > 127:
        return short_name(pt), STATIC_CLOCK.get(pt, 0)
    name: str | None
    rate = 0
    if rtpmap is not None:
        entry = rtpmap.get(pt)
        name, rate = entry if entry is not None else (None, 0)
    else:
        name = DEFAULT_DYNAMIC_NAMES.get(pt)
    if name is None:
        return short_name(pt), 0
    if is_telephone_event(name):
        return name, 0
    return name, rate if rate else dynamic_clock(name)


def event_clock(pt: int, rtpmap: dict[int, tuple[str, int]] | None) -> int:
    """Clock for RFC 4733 durations: the telephone-event rate, 8000 when not signalled."""
    if rtpmap is not None and pt in rtpmap and rtpmap[pt][1]:
        return rtpmap[pt][1]
    return 8000
