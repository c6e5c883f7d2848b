"""Ladder (sequence) diagrams of a capture's SIP: a standalone SVG and an HTML view.

One column per host, named by role (Softphone, Asterisk, Mediation Server, Skype, XMPP, or
the address when the role is not known); one arrow per SIP message, in capture order,
labelled with the method or the status, the capture-relative time and frame, and the SDP
direction when the message carries SDP. RTP streams are bands between the two hosts (one
band per stretch of packets, with the packet count of every stream); hold windows
(:func:`harness.media.hold.hold_windows`) are shaded. With a
:class:`~harness.analysis.verdict.Verdict`, the messages of failed checks are drawn in red,
with what was expected and what was seen.

Modules: ``model`` (what a ladder is; :func:`build_ladder` from the capture's records),
``layout`` (positions), ``svg`` (:func:`render_svg`), ``page`` (:func:`render_html`, with
the CSS and script of ``static/``), ``files`` (:func:`ladder_of_capture`,
:func:`write_ladder`, :func:`parse_role`: what the command line and the call artifacts use).
"""

from harness.media.hold import HoldWindow
from harness.report.ladder.files import ladder_of_capture, parse_role, write_ladder
from harness.report.ladder.layout import GAP_S
from harness.report.ladder.model import (
    RTP_GAP_S,
    Arrow,
    Band,
    Ladder,
    LadderError,
    build_ladder,
)
from harness.report.ladder.page import ladder_data, render_html
from harness.report.ladder.svg import render_svg

__all__ = [
    "GAP_S",
    "RTP_GAP_S",
    "Arrow",
    "Band",
    "HoldWindow",
    "Ladder",
    "LadderError",
    "build_ladder",
    "ladder_data",
    "ladder_of_capture",
    "parse_role",
    "render_html",
    "render_svg",
    "write_ladder",
]
