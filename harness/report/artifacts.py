"""What a failed call flow leaves behind for someone who cannot re-run it.

Into reports/artifacts/<test>/: the logs the caller collected (the gateway's state at the
moment of failure, Asterisk's log cut to the call, the simulator's and SIPp's logs), one
text file each; then the verdict, the ladder, the plots and the pcap through
:func:`harness.report.attachments.attach_call_artifacts` (which also hands them to Allure
when it runs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from harness.analysis.verdict import Verdict
from harness.report.attachments import ReportedCall, attach_call_artifacts


def artifacts_dir(pcap: Path) -> Path:
    """reports/artifacts/<test>/ for the test's pcap reports/pcaps/<test>.pcap."""
    return pcap.parent.parent / "artifacts" / pcap.stem


def log_file_name(name: str) -> str:
    """'pjsip show endpoints' -> 'pjsip-show-endpoints.txt'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".txt"


def write_call_artifacts(
    call: ReportedCall, verdict: Verdict | None, logs: Mapping[str, str], out_dir: Path
) -> list[Path]:
    """The logs (name -> text) as text files, then the call's attachments; every file
    written, the attachments first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in logs.items():
        path = out_dir / log_file_name(name)
        path.write_text(text)
        written.append(path)
    return attach_call_artifacts(call, verdict, out_dir, logs=logs) + written
