"""Reading a capture for a command: one line on stderr for a file that cannot be used."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def analyse(prog: str, path: str, work: Callable[[], T]) -> T | None:
    """Runs `work` (which opens and analyses `path`); on failure prints one line naming
    the problem and returns None. Never a traceback."""
    from harness.capture import CaptureError

    try:
        return work()
    except CaptureError as exc:
        print(f"{prog}: {path}: {exc.reason}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"{prog}: {path}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return None


def warn(prog: str, path: str, capture: Any) -> None:
    """The capture's partial-read warnings, one line each."""
    for warning in capture.warnings:
        print(f"{prog}: warning: {path}: {warning}", file=sys.stderr)


def add_capture_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")


def add_heuristic_options(parser: argparse.ArgumentParser, also: str) -> None:
    """``--heuristic`` (help: ``also``) and ``--no-heuristic``; without either the RTP
    search is heuristic only in a capture without SDP."""
    heur = parser.add_mutually_exclusive_group()
    heur.add_argument(
        "--heuristic", dest="heuristic", action="store_const", const=True, help=also
    )
    heur.add_argument(
        "--no-heuristic",
        dest="heuristic",
        action="store_const",
        const=False,
        help="only RTP set up by SDP",
    )
