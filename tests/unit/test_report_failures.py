"""`harness failures`: the failed tests of real pytest JUnit files, with the lines that
name what broke, and a clear error for a file that is not JUnit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.cli import main

FAILING = '''
def test_passes():
    assert True

def test_call_flow_breaks():
    raise AssertionError(
        "call flow 'outbound': 1 of 223 checks failed\\n"
        "first failure at step 7 on the softphone (UDP) leg:\\n"
        "  FAIL step 7 [softphone (UDP)] RTP Asterisk -> Softphone SSRC: expected one\\n"
        "  note: RTCP on the trunk: none due\\n"
        "  pcap: reports/pcaps/test_call_flow_breaks.pcap")
'''


def _junit(tmp_path: Path) -> Path:
    (tmp_path / "test_sample.py").write_text(FAILING)
    junit = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-p", "no:sip_harness", f"--junitxml={junit}", "test_sample.py"],
                   cwd=tmp_path, capture_output=True, check=False, timeout=120)
    return junit


def test_digest_names_the_failed_test_its_step_and_pcap(tmp_path, capsys):
    junit = _junit(tmp_path)
    assert main(["failures", str(junit)]) == 0
    out = capsys.readouterr().out
    assert f"{junit}: 1 failed test" in out
    assert "FAILURE test_sample::test_call_flow_breaks" in out
    assert "first failure at step 7 on the softphone (UDP) leg:" in out
    assert "FAIL step 7 [softphone (UDP)] RTP Asterisk -> Softphone SSRC" in out
    assert "pcap: reports/pcaps/test_call_flow_breaks.pcap" in out
    assert "note:" not in out and "test_passes" not in out


def test_a_file_that_is_not_junit_is_named(tmp_path, capsys):
    bad = tmp_path / "junit.xml"
    bad.write_text("<html>")
    assert main(["failures", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "not a readable JUnit XML file" in err
    assert main(["failures", str(tmp_path / "none.xml")]) == 1
    assert "no such file" in capsys.readouterr().err
