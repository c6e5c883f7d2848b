"""``harness rtp-stats``: per-stream RTP figures of a capture, equal to tshark's rtp,streams.

Exit status: 0 figures printed (a capture read only in part still prints what could be
read, with a one-line warning per problem on stderr), 1 the file is not a usable capture
(one line on stderr naming the problem), 2 usage error.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.cli.capture_input import add_capture_argument, add_heuristic_options
from harness.cli.common import add_command

if TYPE_CHECKING:
    from harness.capture import Capture
    from harness.media.streams import StreamStats

EPILOG = """\
streams: RTP is found from the SDP of the SIP in the capture (UDP, or TCP reassembled);
a capture without SDP is searched with a heuristic like tshark's rtp_udp. --heuristic adds
heuristic streams to SDP ones, --no-heuristic turns it off.

figures: lost = expected - received (negative with duplicates), deltas and RFC 3550 jitter
in ms, computed as tshark 4.0 computes them (compare with
'tshark -r FILE -q -z rtp,streams [--enable-heuristic rtp_udp]'; --tshark prints that
exact block). --json adds expected, duplicates, out-of-order, timestamp anomalies,
marker and SSRC-change counts, frames and times.

examples:
  harness rtp-stats reports/call.pcapng
  harness rtp-stats --json capture.pcap | jq '.[] | select(.lost > 0)'
"""

_COLUMNS = (
    ("Source", "<"),
    ("Destination", "<"),
    ("SSRC", "<"),
    ("Payload", "<"),
    ("Pkts", ">"),
    ("Lost", ">"),
    ("Min Δ ms", ">"),
    ("Mean Δ ms", ">"),
    ("Max Δ ms", ">"),
    ("Min jit ms", ">"),
    ("Mean jit ms", ">"),
    ("Max jit ms", ">"),
    ("Problems", "<"),
)


HELP = "RTP stream figures of a capture (loss, delta, jitter), equal to tshark's"
DESCRIPTION = (
    "One row per RTP stream (addresses, ports, SSRC) of a pcap/pcapng file:\n"
    "packets, loss, inter-arrival delta and RFC 3550 jitter."
)


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "rtp-stats", HELP, DESCRIPTION, EPILOG)
    add_capture_argument(parser)
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON list of streams")
    fmt.add_argument(
        "--tshark", action="store_true", help="print tshark's '-q -z rtp,streams' block exactly"
    )
    add_heuristic_options(parser, "also find RTP without signalling")
    parser.add_argument(
        "--workers",
        type=int,
        choices=(1, 2),
        default=None,
        help="processes for a large capture (default: 2, or 1 where the load average is"
        " already at the CPU count)",
    )
    parser.set_defaults(func=run, heuristic=None)


def run(args: argparse.Namespace) -> int:
    # One pass over a capture, in a process that ends with it: the cyclic garbage collector
    # only costs here (every full collection rescans every object, and there is one more at
    # exit, tens of ms in all). It is off while the figures are computed, and what is left
    # then is frozen out of its way (gc.freeze).
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()
        gc.freeze()


def _run(args: argparse.Namespace) -> int:
    # numpy's OpenBLAS starts a thread per CPU when numpy is imported (~50 ms of CPU, ~25 ms
    # of wall time on 2 cores); nothing here calls BLAS. Only if numpy is not loaded yet.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from harness.capture import open_capture
    from harness.cli.capture_input import analyse, warn
    from harness.media.find import rtp_streams
    from harness.media.streams import stats_of

    workers = args.workers or default_workers()

    def work() -> tuple[Capture, list[StreamStats]]:
        cap = open_capture(args.capture, workers=workers)
        return cap, stats_of(rtp_streams(cap, heuristic=args.heuristic), workers=workers)

    result = analyse("harness rtp-stats", args.capture, work)
    if result is None:
        return 1
    cap, stats = result
    warn("harness rtp-stats", args.capture, cap)
    out = sys.stdout
    if args.json:
        import json

        json.dump([s.to_dict() for s in stats], out, indent=1)
        out.write("\n")
    elif args.tshark:
        out.write(tshark_block(stats))
    else:
        out.write(table(stats))
    return 0


def default_workers() -> int:
    """2 unless the machine is already busy (a 1-minute load average at or above its CPU
    count), else 1: a second process only pays when it runs beside this one; on a busy
    machine it waits its turn and its fork and hand-over cost time (on 2 cores it saved
    time up to a load average of about 2, and cost time above)."""
    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return 2 if cpus >= 2 and busy < cpus else 1


def tshark_block(stats: Sequence[StreamStats]) -> str:
    """The ``-q -z rtp,streams`` output of tshark 4.0 (streams newest first, as tshark)."""
    lines = [
        "========================= RTP Streams ========================",
        " ".join(
            f"{name:>{width}}" if width else name
            for name, width in (
                ("Start time", 13),
                ("End time", 13),
                ("Src IP addr", 15),
                ("Port", 5),
                ("Dest IP addr", 15),
                ("Port", 5),
                ("SSRC", 10),
                ("Payload", 16),
                ("Pkts", 5),
                ("Lost", 12),
                ("Min Delta(ms)", 15),
                ("Mean Delta(ms)", 15),
                ("Max Delta(ms)", 15),
                ("Min Jitter(ms)", 15),
                ("Mean Jitter(ms)", 15),
                ("Max Jitter(ms)", 15),
                ("Problems?", 0),
            )
        ),
    ]
    lines += [s.tshark_row() for s in reversed(stats)]
    lines.append("==============================================================")
    return "\n".join(lines) + "\n"


def table(stats: Sequence[StreamStats]) -> str:
    if not stats:
        return "no RTP streams\n"
    rows = [
        [
            f"{s.src}:{s.src_port}",
            f"{s.dst}:{s.dst_port}",
            f"0x{s.ssrc:08X}",
            s.payload,
            str(s.packets),
            f"{s.lost} ({s.lost_percent:.1f}%)",
            f"{s.min_delta_ms:.3f}",
            f"{s.mean_delta_ms:.3f}",
            f"{s.max_delta_ms:.3f}",
            f"{s.min_jitter_ms:.3f}",
            f"{s.mean_jitter_ms:.3f}",
            f"{s.max_jitter_ms:.3f}",
            _problems(s),
        ]
        for s in stats
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (h, _a) in enumerate(_COLUMNS)]
    lines = []
    for cells in [[h for h, _a in _COLUMNS], *rows]:
        parts = [
            c.ljust(w) if align == "<" else c.rjust(w)
            for c, w, (_h, align) in zip(cells, widths, _COLUMNS, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


# the counters behind the Problems column, in order, with their labels
_PROBLEMS = (
    ("sequence_errors", "seq errors"),
    ("duplicates", "dup"),
    ("out_of_order", "late"),
    ("wrong_timestamps", "ts before start"),
    ("timestamp_anomalies", "ts steps"),
    ("ssrc_changes", "ssrc changes"),
)


def _problems(s: StreamStats) -> str:
    counts = ((getattr(s, name), label) for name, label in _PROBLEMS)
    return ", ".join(f"{count} {label}" for count, label in counts if count)
