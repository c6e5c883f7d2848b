"""XMPP stanzas on the ladder, beside SIP: real captures of the topology's Google Talk flows
(tests/unit/data/xmpp/README.md), drawn as SVG/HTML, by ``harness ladder`` too."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from harness.capture.xmpp import local_name, xmpp_stanzas
from harness.cli import main as cli_main
from harness.report.ladder import (
    LadderError,
    ladder_data,
    ladder_of_capture,
    render_html,
    render_svg,
)
from harness.report.ladder.xmpp import GTALK_USER, LABEL_CHARS
from harness.roles import role_names

DATA = Path(__file__).parent / "data" / "xmpp"
IVR = DATA / "ivr_option4_no_sip.pcap"
DECLINE = DATA / "9501_decline_sip_and_jingle.pcap"
LOGIN = DATA / "c2s_login_plain.pcap"
TLS16 = DATA / "ivr_asterisk16_tls_dropped.pcap"
ROLES = role_names("192.168.122")
SVG_NS = "{http://www.w3.org/2000/svg}"


def drawn(svg: str) -> list[tuple[float, str, str, float]]:
    """(y, kind, label, time) of every SIP arrow and XMPP stanza of an SVG ladder, top to
    bottom."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(f"{SVG_NS}g"):
        classes = set(g.get("class", "").split())
        if not classes & {"msg", "stanza"}:
            continue
        line = next(e for e in g.iter(f"{SVG_NS}line") if e.get("class") != "hit")
        out.append((float(line.get("y1", "0")), "xmpp" if "stanza" in classes else "sip",
                    g.get("data-label", ""), float(g.get("data-time", "nan"))))
    return sorted(out)


def test_an_ivr_with_no_sip_still_draws() -> None:
    with pytest.raises(LadderError):
        ladder_of_capture(IVR, ROLES, xmpp=False)
    ladder = ladder_of_capture(IVR, ROLES)
    assert ladder.arrows == [] and len(ladder.xmpp) == 42
    assert [ladder.name(h) for h in ladder.hosts] == ["Asterisk", "XMPP", GTALK_USER]
    labels = [row[2] for row in drawn(render_svg(ladder))]
    assert labels[0] == "jingle session-initiate"
    assert "iq result (jingle session-initiate)" in labels
    assert "message: 1 - Company Directory" in labels
    assert labels.count("message: 4") == 2  # the user's answer, on both hops
    assert labels[-1] == "iq result (jingle session-terminate)"
    long = [lb for lb in labels if lb.startswith("message: Thank you")]
    assert long and all(len(lb) <= LABEL_CHARS and lb.endswith("\N{HORIZONTAL ELLIPSIS}")
                        for lb in long)


def test_sip_and_jingle_interleave_in_time() -> None:
    cap = open_capture(DECLINE)
    ladder = ladder_of_capture(cap, ROLES)
    assert len(ladder.arrows) == len(cap.sip_messages()) == 6
    assert len(ladder.xmpp) == len(xmpp_stanzas(cap)) == 16
    rows = drawn(render_svg(ladder))
    assert len(rows) == 22
    assert {row[1] for row in rows} == {"sip", "xmpp"}
    by_label = {label: y for y, _k, label, _t in reversed(rows)}  # first of each label
    # top to bottom is time order, across the two protocols
    times = [t for _y, _k, _label, t in rows]
    assert times == sorted(times)
    assert by_label["INVITE"] < by_label["jingle session-initiate"]
    assert by_label["jingle session-terminate (decline)"] < by_label["486 Busy Here"]
    assert "jingle session-info (ringing)" in by_label


def test_presence_labels_and_the_users_lane() -> None:
    ladder = ladder_of_capture(LOGIN, ROLES)
    labels = [x.label for x in ladder.xmpp]
    assert "presence available" in labels and "presence unavailable" in labels
    assert labels[0] == "iq set xmpp-bind" and labels[1] == "iq result (iq set xmpp-bind)"
    assert "message: hello <&> from the login\N{HORIZONTAL ELLIPSIS}" in labels
    assert ladder.names["192.168.122.1"] == GTALK_USER
    named = ladder_of_capture(LOGIN, {**ROLES, "192.168.122.1": "Sara's laptop"})
    assert named.names["192.168.122.1"] == "Sara's laptop"


def test_a_failed_check_on_a_stanza_is_drawn_on_it() -> None:
    cap = open_capture(DECLINE)
    terminate = next(s for s in xmpp_stanzas(cap) if s.src_host == "192.168.122.1"
                     and "session-terminate" in s.raw.decode())
    reason = next(local_name(c.tag) for c in terminate.element.iter()
                  if local_name(c.tag) in ("success", "decline", "busy", "gone"))
    v = Verdict("9501 answered", DECLINE)
    v.equal("jingle", "Jingle (XMPP)", "session-terminate reason", "success", reason,
            frame=terminate.frame)
    assert not v.ok
    ladder = ladder_of_capture(cap, ROLES, v)
    failed = [x for x in ladder.xmpp if x.failures]
    assert [x.frame for x in failed] == [terminate.frame]
    assert ladder.other_failures == []
    svg = render_svg(ladder)
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{SVG_NS}g") if "failed" in g.get("class", "").split()
              and "stanza" in g.get("class", "").split()]
    assert len(groups) == 1
    notes = "".join(t.text or "" for t in groups[0].iter(f"{SVG_NS}text"))
    assert "expected: success" in notes and "actual: decline" in notes


def test_tls_streams_are_named_under_the_ladder() -> None:
    ladder = ladder_of_capture(TLS16, ROLES)
    assert len(ladder.xmpp_notes) == 2
    svg = render_svg(ladder)
    assert "XMPP not drawn" in svg and "TLS records" in svg
    assert [x.label for x in ladder.xmpp] == ["jingle session-initiate",
                                              "iq result (jingle session-initiate)"]


def test_html_page_carries_the_stanzas() -> None:
    ladder = ladder_of_capture(IVR, ROLES)
    page = render_html(ladder)
    assert page.count('class="stanza xmpp') == 42
    data = ladder_data(ladder)
    assert data["messages"] == [] and len(data["stanzas"]) == 42
    first = data["stanzas"][0]
    assert first["label"] == "jingle session-initiate" and first["transport"] == "XMPP"
    assert first["from"] == f"{GTALK_USER} 192.168.122.1:{first['from'].rsplit(':', 1)[1]}"
    assert first["text"].startswith("<iq ") and "\n<jingle " in first["text"]
    assert json.dumps(data["stanzas"][0]) in page.replace("<\\/", "</")


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert not installed")
def test_renders_to_png(tmp_path: Path) -> None:
    svg = tmp_path / "decline.svg"
    svg.write_text(render_svg(ladder_of_capture(DECLINE, ROLES)), encoding="utf-8")
    png = tmp_path / "decline.png"
    subprocess.run(["rsvg-convert", "-o", str(png), str(svg)], check=True, capture_output=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_draws_xmpp_and_can_leave_it_out(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_NET_PREFIX", "192.168.122")
    out = tmp_path / "ivr.svg"
    assert cli_main(["ladder", str(IVR), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "0 SIP messages, 42 XMPP stanzas" in said and GTALK_USER in said
    assert out.read_text(encoding="utf-8").count('class="stanza xmpp') == 42
    assert cli_main(["ladder", str(IVR), "-o", str(out), "--no-xmpp"]) == 1
    err = capsys.readouterr().err
    assert "no SIP messages in the capture" in err and "Traceback" not in err
    assert cli_main(["ladder", str(TLS16), "-o", str(tmp_path / "t.html")]) == 0
    assert "2 notes on XMPP not drawn" in capsys.readouterr().out
