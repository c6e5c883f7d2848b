"""The ladder as one self-contained HTML page: the SVG inline, and each message's details
(text, addresses, failed checks) shown on hover and click, from a JSON block the page's
script reads. The CSS and the script are the package's ``static`` files."""

from __future__ import annotations

import json
from typing import TypedDict

from harness.report.ladder.model import Arrow, Ladder
from harness.report.ladder.svg import render_svg, static_text
from harness.report.ladder.text import XML_BAD, esc, fmt_s
from harness.report.ladder.xmpp import XmppArrow


class FailureData(TypedDict):
    step: str
    leg: str
    subject: str
    expected: str
    actual: str


# The functional form: "from" is a keyword.
MessageData = TypedDict("MessageData", {
    "index": int,
    "frame": int,
    "time": str,
    "label": str,
    "transport": str,
    "from": str,
    "to": str,
    "call_id": str | None,
    "sdp": str | None,
    "error": str | None,
    "text": str,
    "failures": list[FailureData],
})


class LadderData(TypedDict):
    title: str
    source: str
    messages: list[MessageData]
    stanzas: list[MessageData]  # the XMPP arrows, by their index (transport "XMPP")
    first_failure: int | None  # the index of the first message with a failed check


def _message_data(ladder: Ladder, a: Arrow) -> MessageData:
    m = a.sip
    return {
        "index": a.index,
        "frame": a.frame,
        "time": fmt_s(a.time),
        "label": a.label if a.is_request or not a.cseq_method else f"{a.label} ({a.cseq_method})",
        "transport": m.transport,
        "from": f"{ladder.name(m.src)} {m.src}:{m.sport}",
        "to": f"{ladder.name(m.dst)} {m.dst}:{m.dport}",
        "call_id": a.call_id,
        "sdp": a.sdp_label,
        "error": m.error,
        "text": a.text,
        "failures": [
            {"step": f.step, "leg": f.leg, "subject": f.subject, "expected": f.expected,
             "actual": f.actual}
            for f in a.failures
        ],
    }


def _stanza_data(ladder: Ladder, x: XmppArrow) -> MessageData:
    return {
        "index": x.index,
        "frame": x.frame,
        "time": fmt_s(x.time),
        "label": x.label,
        "transport": "XMPP",
        "from": f"{ladder.name(x.src)} {x.stanza.src}",
        "to": f"{ladder.name(x.dst)} {x.stanza.dst}",
        "call_id": None,
        "sdp": x.detail or None,
        "error": None,
        "text": XML_BAD.sub("\N{REPLACEMENT CHARACTER}",
                            x.stanza.raw.decode("utf-8", "replace").replace("><", ">\n<")),
        "failures": [
            {"step": f.step, "leg": f.leg, "subject": f.subject, "expected": f.expected,
             "actual": f.actual}
            for f in x.failures
        ],
    }


def ladder_data(ladder: Ladder) -> LadderData:
    """What the HTML view shows on hover and click, as JSON-ready data."""
    first = next((a.index for a in ladder.arrows if a.failures), None)
    return {"title": ladder.title, "source": ladder.source,
            "messages": [_message_data(ladder, a) for a in ladder.arrows],
            "stanzas": [_stanza_data(ladder, x) for x in ladder.xmpp],
            "first_failure": first}


def render_html(ladder: Ladder) -> str:
    """A self-contained HTML page: the SVG inline, message details on hover and click."""
    svg = render_svg(ladder, standalone=False)
    payload = json.dumps(ladder_data(ladder), ensure_ascii=False)
    # Inside <script>, "</" would end the element and "<!--" could start a comment.
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
    sub = ladder.source or ""
    verdict = f"<p>{esc(ladder.verdict_line)}</p>" if ladder.verdict_line else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(ladder.title)}</title>\n<style>\n{static_text('ladder.css')}</style>\n"
        "</head>\n<body>\n"
        f"<header><h1>{esc(ladder.title)}</h1><p>{esc(sub)}</p>{verdict}</header>\n"
        f"<div class=\"wrap\">\n<div class=\"diagram\">\n{svg}</div>\n"
        "<aside id=\"details\"><p class=\"hint\">Point at an arrow for its message; click to "
        "keep it. Arrow keys step through the messages.</p></aside>\n</div>\n"
        f"<script type=\"application/json\" id=\"ladder-data\">{payload}</script>\n"
        f"<script>\n{static_text('ladder.js')}</script>\n</body>\n</html>\n"
    )
