"""`harness check` and its engine (harness.analysis.deployment): the errors a user meets
(one line, exit 2, the fix named), the outputs (text, JSON, JUnit, ladder), and the suite's
strict path through the same engine giving the suite's verdict unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.analysis.deployment import CaptureCheckError, check_capture
from harness.analysis.lync_flow import check_lync_flow
from harness.capture import open_capture
from harness.cli import main
from harness.roles import Roles, role_names

DATA = Path(__file__).parent / "data" / "deployment"
OUTBOUND = DATA / "test_outbound_softphone_calls_lync_twelve_steps.pcap"
INBOUND = DATA / "test_inbound_lync_calls_extension_1000.pcap"
REGISTRATION = DATA / "test_registration_is_challenged_answered_and_refreshed.pcap"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- errors: one line, exit 2, what is wrong and how to fix it ---------------------------


def test_missing_file(capsys, tmp_path):
    code, out, err = run(capsys, str(tmp_path / "nope.pcap"))
    line = one_error_line(err)
    assert code == 2 and out == ""
    assert "nope.pcap: no such file" in line and "tcpdump" in line


def test_directory(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2
    assert "is a directory" in one_error_line(err)


def test_not_a_capture(capsys, tmp_path):
    text = tmp_path / "notes.pcap"
    text.write_text("<?xml version='1.0'?><notes/>\n")
    code, _, err = run(capsys, str(text))
    line = one_error_line(err)
    assert code == 2
    assert "not a pcap or pcapng file" in line and "give a pcap or pcapng file" in line


def test_unknown_flow(capsys):
    code, _, err = run(capsys, str(OUTBOUND), "--flow", "sideways")
    line = one_error_line(err)
    assert code == 2
    assert "unknown flow 'sideways'" in line and "outbound" in line


def test_malformed_roles(capsys):
    code, _, err = run(capsys, str(OUTBOUND), "--roles", "mediation")
    line = one_error_line(err)
    assert code == 2 and line.startswith("harness check: --roles")


def test_flow_needing_a_role_the_capture_lacks_names_it_and_the_fix(capsys):
    # Only Asterisk and Skype talk in the registration capture: no Mediation Server.
    code, _, err = run(capsys, str(REGISTRATION), "--flow", "outbound")
    line = one_error_line(err)
    assert code == 2
    assert "no Mediation Server found in" in line
    assert "MediationServer" in line and "5068" in line
    assert line.endswith("name it with --roles mediation=ADDRESS")


def test_engine_raises_capture_check_error_not_capture_error(tmp_path):
    with pytest.raises(CaptureCheckError, match="no such file"):
        check_capture(tmp_path / "gone.pcap")
    with pytest.raises(CaptureCheckError, match="unknown flow"):
        check_capture(OUTBOUND, flow="nope")


def test_ladder_wants_svg_or_html(capsys, tmp_path):
    code, _, err = run(capsys, str(OUTBOUND), "--ladder", str(tmp_path / "x.png"))
    assert code == 2 and ".svg or .html" in one_error_line(err)


# --- a capture with no call ---------------------------------------------------------------


def registrations_only(tmp_path: Path) -> Path:
    """The inbound capture cut before Lync's INVITE: the softphone's REGISTERs only."""
    from scapy.all import UDP, rdpcap, wrpcap  # type: ignore[import-untyped]
    packets = rdpcap(str(INBOUND))
    kept = [p for p in packets[:11] if UDP in p or not bytes(p.payload).count(b"INVITE")]
    out = tmp_path / "registers.pcap"
    wrpcap(str(out), kept)
    return out


def test_capture_without_a_call_is_a_note_not_an_error(capsys, tmp_path):
    path = registrations_only(tmp_path)
    result = check_capture(path)
    assert result.calls == () and result.ok
    assert any("REGISTER transaction" in n and "no call" in n for n in result.notes), result.notes
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "total: 0 calls checked" in out and "no call" in out


# --- outputs ------------------------------------------------------------------------------


def test_text_names_roles_flow_legs_and_verdict(capsys):
    code, out, err = run(capsys, str(OUTBOUND))
    assert code == 0, out + err
    assert "Mediation Server" in out and "MediationServer" in out
    assert "call 1 of 1: outbound" in out
    assert "legs:" in out
    assert "call flow 'outbound: softphone -> Asterisk -> Lync'" in out
    assert out.strip().splitlines()[-1].startswith("total: 1 call checked, 1 passed, 0 failed")


def test_json_is_one_object_with_every_check(capsys):
    code, out, _ = run(capsys, str(OUTBOUND), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert data["path"].endswith(OUTBOUND.name)
    assert {r["role"] for r in data["roles"]} >= {"Asterisk", "Mediation Server", "Softphone"}
    assert all(r["rule"] for r in data["roles"])
    (call,) = data["calls"]
    assert call["flow"] == "outbound" and call["ok"] is True and call["legs"]
    check = call["checks"][0]
    assert set(check) == {"step", "leg", "subject", "expected", "actual", "ok", "checked",
                          "frame"}
    assert len(call["checks"]) > 100


def test_junit_one_case_per_call(capsys, tmp_path):
    junit = tmp_path / "check.xml"
    code, _, _ = run(capsys, str(OUTBOUND), "--junit", str(junit))
    suite = ET.parse(junit).getroot()
    assert code == 0
    assert suite.tag == "testsuite" and suite.get("tests") == "1" and suite.get("failures") == "0"
    (case,) = suite.findall("testcase")
    assert case.find("failure") is None
    assert "all" in (case.findtext("system-out") or "")


def without_softphone_ack(tmp_path: Path) -> Path:
    from scapy.all import UDP, rdpcap, wrpcap  # type: ignore[import-untyped]
    packets = rdpcap(str(OUTBOUND))
    kept = [p for p in packets if not (UDP in p and bytes(p[UDP].payload).startswith(b"ACK ")
                                       and b"CSeq: 2 ACK" in bytes(p[UDP].payload))]
    assert len(kept) < len(packets)
    out = tmp_path / "no_ack.pcap"
    wrpcap(str(out), kept)
    return out


def test_failed_call_exits_1_with_the_report_as_junit_failure(capsys, tmp_path):
    path = without_softphone_ack(tmp_path)
    junit = tmp_path / "check.xml"
    code, out, _ = run(capsys, str(path), "--junit", str(junit))
    assert code == 1
    assert "FAIL step 6 [softphone (UDP)] ACK" in out
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure is not None and "FAIL step 6" in (failure.text or "")
    assert "checks failed" in failure.get("message", "")


def test_ladder_marks_the_failures(capsys, tmp_path):
    path = without_softphone_ack(tmp_path)
    ladder = tmp_path / "call.html"
    code, out, _ = run(capsys, str(path), "--ladder", str(ladder))
    assert code == 1 and f"ladder: {ladder}" in out
    assert "checks failed" in ladder.read_text()


# --- the suite's path: the same engine, the suite's verdict unchanged ---------------------


@pytest.mark.parametrize("path,direction", [(OUTBOUND, "outbound"), (INBOUND, "inbound")])
def test_suite_mode_gives_the_suites_verdict(path, direction):
    roles = Roles(role_names())
    capture = open_capture(path)
    direct = check_lync_flow(capture.sip_messages(), capture, roles, path, direction, "the flow")
    result = check_capture(capture, roles.by_address, direction, deployment=False,
                           title="the flow")
    (checked,) = result.calls
    assert checked.verdict.results == direct.results
    assert checked.verdict.report() == direct.report()
