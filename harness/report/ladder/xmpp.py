"""XMPP stanzas on the ladder: one arrow per captured stanza (messages, presence, IQs with
Jingle actions named), beside the SIP arrows, so an IVR or a Jingle call with no SIP
still draws. Labels and SVG here; placing them is ``layout``'s, collecting them
``model.build_ladder``'s (this module imports neither).

Arrows run between the hosts of the TCP connection (the XMPP server and its client), as
captured: a stanza Asterisk sends the Google Talk user is drawn where it was seen in
clear, from the XMPP server to the user, with its ``from`` in the label's second line.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.analysis.verdict import CheckResult
from harness.capture.xmpp import XMPP_C2S_PORT, XmppStanza, local_name
from harness.report.ladder.text import esc, fmt_s, short

# The host side of a c2s connection the topology does not name: the Google Talk user's bot
# (on the harness's host, reaching the XMPP server through the published port).
GTALK_USER = "Google Talk user"
JINGLE_NS = "urn:xmpp:jingle:1"
GOOGLE_SESSION_NS = "http://www.google.com/session"
XMPP_COLOUR = "#8e24aa"
XMPP_ERROR = "#ef6c00"
LABEL_CHARS = 34


@dataclass(frozen=True)
class XmppArrow:
    """One stanza on the ladder."""

    index: int  # among the XMPP arrows, in time order
    stanza: XmppStanza
    time: float  # seconds since the ladder's origin
    label: str  # "jingle session-initiate", "message: 1 - Company Directory", ...
    detail: str  # second line: "from asterisk@gmail.test/asterisk-xmpp"
    failures: tuple[CheckResult, ...] = ()

    @property
    def src(self) -> str:
        return self.stanza.src_host

    @property
    def dst(self) -> str:
        return self.stanza.dst_host

    @property
    def frame(self) -> int:
        return self.stanza.frame

    @property
    def is_error(self) -> bool:
        return self.stanza.element.get("type") == "error"


def _child(el: ET.Element, ns: str, name: str) -> ET.Element | None:
    return el.find(f"{{{ns}}}{name}")


def _error_condition(el: ET.Element) -> str:
    err = next((c for c in el if local_name(c.tag) == "error"), None)
    if err is None:
        return ""
    cond = next((local_name(c.tag) for c in err if local_name(c.tag) != "text"), "")
    return f" {cond}" if cond else ""


def _iq_request_label(el: ET.Element) -> str:
    jingle = _child(el, JINGLE_NS, "jingle")
    if jingle is not None:
        # why a session ends (XEP-0166 7.4), what a session-info says (ringing, hold)
        reason = _child(jingle, JINGLE_NS, "reason")
        said = next((local_name(c.tag) for c in (reason if reason is not None else jingle)
                     if local_name(c.tag) not in ("text", "content")), "")
        return f"jingle {jingle.get('action') or '?'}" + (f" ({said})" if said else "")
    session = _child(el, GOOGLE_SESSION_NS, "session")
    if session is not None:
        return f"gtalk session {session.get('type') or '?'}"
    payload = next(iter(el), None)
    if payload is None:
        return f"iq {el.get('type') or '?'}"
    ns = payload.tag[1:].split("}", 1)[0] if payload.tag.startswith("{") else ""
    what = ns.rsplit("/", 1)[-1].rsplit(":", 1)[-1] if ns else local_name(payload.tag)
    return f"iq {el.get('type') or '?'} {what}"


def stanza_label(stanza: XmppStanza, requests: Mapping[str, str] | None = None) -> str:
    """The arrow's label. ``requests``: IQ id -> its request's label, so that a result or
    an error names what it answers."""
    el = stanza.element
    kind = local_name(el.tag)
    kind_type = el.get("type") or ""
    if kind == "iq":
        if kind_type in ("result", "error"):
            asked = (requests or {}).get(el.get("id") or "")
            what = f" ({asked})" if asked else ""
            return f"iq {kind_type}{_error_condition(el) if kind_type == 'error' else ''}{what}"
        return _iq_request_label(el)
    if kind == "message":
        body = next((c.text or "" for c in el if local_name(c.tag) == "body"), None)
        if kind_type == "error":
            return f"message error{_error_condition(el)}"
        if body is not None:
            return short(f"message: {' '.join(body.split())}", LABEL_CHARS)
        return f"message ({kind_type or 'normal'}, no body)"
    if kind == "presence":
        if kind_type:
            return f"presence {kind_type}{_error_condition(el) if kind_type == 'error' else ''}"
        show = next((c.text or "" for c in el if local_name(c.tag) == "show"), "")
        return f"presence {show.strip() or 'available'}"
    return kind


def _detail(stanza: XmppStanza) -> str:
    """The far party: ``from`` as the server delivers it, else ``to`` as a client sends."""
    el = stanza.element
    if el.get("from"):
        return f"from {el.get('from')}"
    return f"to {el.get('to')}" if el.get("to") else ""


def xmpp_arrows(stanzas: Iterable[XmppStanza], origin: float,
                by_frame: Mapping[int, Sequence[CheckResult]]) -> list[XmppArrow]:
    """Arrows for the stanzas, in time order; failed checks on a stanza's frame go on it."""
    items = sorted(stanzas, key=lambda s: (s.time, s.frame))
    requests: dict[str, str] = {}
    out = []
    for k, st in enumerate(items):
        label = stanza_label(st, requests)
        if local_name(st.element.tag) == "iq" and st.element.get("type") in ("get", "set"):
            requests[st.element.get("id") or ""] = label.split(" (", 1)[0]
        out.append(XmppArrow(k, st, st.time - origin, label, _detail(st),
                             tuple(by_frame.get(st.frame, ()))))
    return out


def client_names(stanzas: Iterable[XmppStanza], names: Mapping[str, str]) -> dict[str, str]:
    """Names for the unnamed client hosts of c2s connections: the Google Talk user (one per
    host; more than one gets its address added)."""
    clients: list[str] = []
    for st in stanzas:
        for endpoint, host, other in ((st.src, st.src_host, st.dst), (st.dst, st.dst_host,
                                                                      st.src)):
            port = endpoint.rsplit(":", 1)[-1]
            if (other.endswith(f":{XMPP_C2S_PORT}") and port != str(XMPP_C2S_PORT)
                    and host not in names and host not in clients):
                clients.append(host)
    if len(clients) == 1:
        return {clients[0]: GTALK_USER}
    return {h: f"{GTALK_USER} {h}" for h in clients}


def arrow_title(names: Mapping[str, str], a: XmppArrow) -> str:
    st = a.stanza
    lines = [f"frame {a.frame}  t={fmt_s(a.time)} s  XMPP  "
             f"{names.get(a.src, a.src)} {st.src} -> {names.get(a.dst, a.dst)} {st.dst}"]
    lines += [f.line() for f in a.failures]
    lines.append("")
    body = st.raw.decode("utf-8", "replace").replace("><", ">\n<").split("\n")
    lines += body[:40]
    if len(body) > 40:
        lines.append(f"... {len(body) - 40} more lines")
    return "\n".join(lines)


def xmpp_colour(a: XmppArrow, fail: str) -> str:
    """``fail`` when a check failed on it, orange for an error stanza, else purple."""
    return fail if a.failures else (XMPP_ERROR if a.is_error else XMPP_COLOUR)


def xmpp_arrow_svg(names: Mapping[str, str], x: Mapping[str, float], a: XmppArrow, y: float,
                   left: float, colour: str) -> list[str]:
    """One stanza: a dashed arrow (SIP's are solid)."""
    x1, x2 = x[a.src], x[a.dst]
    end = x2 - 2 if x2 > x1 else x2 + 2
    mid = (x1 + x2) / 2
    width = 2.5 if a.failures else 1.4
    classes = "stanza xmpp" + (" failed" if a.failures else "")
    marker = "arrow-" + colour.lstrip("#")
    return [
        f'<g class="{classes}" id="xmpp-{a.index}" data-frame="{a.frame}" '
        f'data-time="{fmt_s(a.time)}" data-label="{esc(a.label)}" data-src="{esc(a.src)}" '
        f'data-dst="{esc(a.dst)}">',
        f"<title>{esc(arrow_title(names, a))}</title>",
        f'<text class="frame" x="12" y="{y + 4:.1f}">{a.frame}</text>',
        f'<text class="axis" x="{left - 16}" y="{y + 4:.1f}" text-anchor="end">'
        f"{fmt_s(a.time)}</text>",
        f'<line class="hit" x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}"/>',
        f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}" stroke="{colour}" '
        f'stroke-width="{width}" stroke-dasharray="7 3" marker-end="url(#{marker})"/>',
        f'<text class="label" x="{mid:.1f}" y="{y - 6:.1f}" fill="{colour}">'
        f'<tspan class="method">{esc(a.label)}</tspan></text>',
        f'<text class="sdp" x="{mid:.1f}" y="{y + 13:.1f}" fill="#777">'
        f"{esc(short(a.detail, 44))}</text>",
        "</g>",
    ]
