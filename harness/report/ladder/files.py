"""From a capture file to a ladder file: what ``harness ladder`` and the call artifacts use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.analysis.verdict import Verdict
from harness.capture import Capture, open_capture
from harness.capture.connections import failed_attempts
from harness.capture.xmpp import extract_xmpp
from harness.media.find import rtp_streams
from harness.report.ladder.model import Ladder, LadderError, build_ladder
from harness.report.ladder.page import render_html
from harness.report.ladder.svg import render_svg
from harness.roles import Roles


def parse_role(text: str) -> tuple[str, str]:
    """``ADDR=NAME`` (as given to ``--role``) -> (address, name); ValueError when malformed."""
    addr, sep, name = text.partition("=")
    addr, name = addr.strip(), name.strip()
    if not sep or not addr or not name:
        raise ValueError(f"--role wants ADDR=NAME (e.g. 192.168.100.10=Asterisk), not {text!r}")
    return addr, name


def ladder_of_capture(
    capture: Capture | str | Path,
    roles: Roles | Mapping[str, str] | None = None,
    verdict: Verdict | None = None,
    *,
    call: str | None = None,
    title: str | None = None,
    xmpp: bool = True,
) -> Ladder:
    """The ladder of a capture (or of the capture file at a path). ``call``: only the
    Call-IDs that contain this text, and the RTP their SDP set up (no XMPP: a Jingle
    session has no Call-ID). ``xmpp``: draw the XMPP stanzas seen in clear on port 5222
    (:mod:`harness.capture.xmpp`). Raises CaptureError, LadderError."""
    if not isinstance(capture, Capture):
        capture = open_capture(capture)
    messages = capture.sip_messages()
    attempts = failed_attempts(capture)
    found = extract_xmpp(capture) if xmpp and not call else None
    stanzas = found.stanzas if found else []
    if not messages and not attempts and not stanzas:
        # (no XMPP stanza either, when looked for: only SIP's absence is news to most)
        raise LadderError(f"no SIP messages in the capture ({len(capture)} packets): "
                          "nothing to draw a ladder of")
    streams = rtp_streams(capture)
    if call:
        messages = [m for m in messages
                    if m.message is not None and call in (m.message.call_id or "")]
        if not messages:
            raise LadderError(f"no SIP message with a Call-ID containing {call!r}")
        frames = {m.frame for m in messages}
        streams = [s for s in streams if s.setup_frame in frames]
    origin = float(capture.time[0]) if len(capture) else None
    path = Path(capture.path)
    return build_ladder(messages, streams, roles, verdict, origin=origin,
                        title=title or path.name, source=str(path), attempts=attempts,
                        stanzas=stanzas, xmpp_notes=found.notes if found else ())


def write_ladder(ladder: Ladder, path: str | Path) -> Path:
    """Write the ladder as SVG (``.svg``) or HTML (``.html``/``.htm``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        text = render_svg(ladder)
    elif suffix in (".html", ".htm"):
        text = render_html(ladder)
    else:
        raise ValueError(
            f"{path}: the ladder is written as .svg or .html, not {suffix or 'no suffix'}"
        )
    path.write_text(text, encoding="utf-8")
    return path
