"""harness.report.attachments: one call's artifacts, with and without an Allure run; the
flows-by-steps summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.analysis.lync_flow import check_lync_flow
from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from harness.report.attachments import (
    ReportedCall,
    allure_active,
    attach_call_artifacts,
    summary_table,
)
from harness.roles import Roles

PCAP = Path(__file__).parent / "data" / "lync_outbound.pcap"
ROOT = Path(__file__).resolve().parents[2]
OUTBOUND = "outbound: softphone -> Asterisk -> Lync"
INBOUND = "inbound: Lync -> Asterisk -> softphone"


def run_of(pcap: Path) -> ReportedCall:
    """What a call run hands the report: the flow, the pcap and the roles."""
    return ReportedCall(OUTBOUND, pcap, Roles.of_topology())


@pytest.fixture(scope="module")
def verdicts():
    cap = open_capture(PCAP)
    roles = Roles.of_topology()
    outbound = check_lync_flow(cap.sip_messages(), cap, roles, PCAP, "outbound", OUTBOUND)
    # The outbound capture checked as the inbound flow: a real verdict with failures.
    inbound = check_lync_flow(cap.sip_messages(), cap, roles, PCAP, "inbound", INBOUND)
    return outbound, inbound


def test_the_files_are_written_and_allure_is_seen_only_when_it_records(tmp_path, verdicts, request):
    # This run records Allure results only when pytest was given --alluredir.
    assert allure_active() == bool(getattr(request.config.option, "allure_report_dir", None))
    paths = attach_call_artifacts(
        run_of(PCAP), verdicts[1], tmp_path / "call", logs={"asterisk": "log text"}
    )
    assert [p.name for p in paths] == [
        "lync_outbound-verdict.txt",
        "lync_outbound-ladder.html",
        "lync_outbound-ladder.svg",
        "lync_outbound-rtp.png",
    ]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    text = paths[0].read_text()
    assert text.startswith(f"call flow '{INBOUND}':") and "FAIL step 1" in text
    assert 'class="msg request failed"' in paths[2].read_text()


def test_a_capture_that_cannot_be_read_gets_the_verdict_and_the_reason(tmp_path):
    bogus = tmp_path / "bogus.pcap"
    bogus.write_text("not a capture\n")
    verdict = Verdict(OUTBOUND, bogus)
    verdict.check("capture", "-", "pcap", False, "a readable capture", "not a capture")
    paths = attach_call_artifacts(run_of(bogus), verdict, tmp_path / "out")
    assert [p.name for p in paths] == ["bogus-verdict.txt"]
    assert "report: capture unreadable: not a pcap or pcapng file" in paths[0].read_text()


def test_attached_to_allure_with_their_types(tmp_path):
    test = tmp_path / "test_call.py"
    test.write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from harness.analysis.verdict import Verdict
        from harness.report.attachments import ReportedCall, allure_active, attach_call_artifacts
        from harness.roles import Roles

        def test_call(tmp_path):
            assert allure_active()
            run = ReportedCall("f", Path({str(PCAP)!r}), Roles({{"192.168.100.10": "Asterisk"}}))
            verdict = Verdict("f", run.pcap)
            verdict.check("8", "leg", "hold", False, "a=inactive", "a=sendonly", 198)
            paths = attach_call_artifacts(run, verdict, tmp_path, logs={{"asterisk log": "x"}})
            assert len(paths) == 4
    """)
    )
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            f"--alluredir={results}",
            str(test),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    attached = [(a["name"], a["type"]) for a in result["attachments"]]
    assert attached == [
        ("verdict", "text/plain"),
        ("SIP ladder (interactive)", "text/html"),
        ("SIP ladder", "image/svg+xml"),
        ("RTP delta and jitter", "image/png"),
        ("lync_outbound.pcap", "application/vnd.tcpdump.pcap"),
        ("asterisk log", "text/plain"),
    ]
    for a in result["attachments"]:
        assert (results / a["source"]).stat().st_size > 0


def test_summary_table_fits_100_columns(verdicts):
    outbound, inbound = verdicts
    table = summary_table([outbound, inbound])
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100
    head = lines[0].split()
    assert head[:6] == ["flow", "1", "2", "3", "4", "5"] and head[-2:] == ["checks", "result"]
    assert lines[2].startswith(OUTBOUND) and lines[2].endswith("ok")
    assert f"{len(outbound.results)}/{len(outbound.results)}" in lines[2]
    assert lines[3].startswith(INBOUND) and lines[3].endswith("FAIL")
    assert "\u2717" in lines[3] and "\u2717" not in lines[2]
    assert lines[4] == "1 of 2 call flows passed"
    first = next(line for line in lines[5:] if line.startswith("first failure"))
    assert first.startswith(f"first failure ({INBOUND}): step 1 [Lync trunk (TCP)]")


def test_summary_table_folds_steps_to_fit_and_can_be_ascii(verdicts):
    table = summary_table(list(verdicts), width=60, ascii_only=True)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert table.isascii()
    assert " more" in lines[0] and any(line.startswith("more: ") for line in lines)
    assert "XX" in lines[3]
    assert summary_table([]) == "no call flows were checked"
