"""SIPp runs in the softphone service: one scenario, one call, in the foreground.

SIPp 3.6.1's `-bg` exits 99, so SIPp runs in the foreground with -nostdin. Its error and
message logs go to reports/sipp/ so that a failed call keeps SIPp's own account of it.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path

from harness.topology.config import TopologyConfig
from harness.topology.engine import Engine, ExecResult

# SIPp sends the softphone's RTP: at raised priority, as the simulators run
# (harness/rtp/priority.py; the softphone container has CAP_SYS_NICE). Without
# the right, nice says so on stderr and runs SIPp at the default priority.
RAISED = ("nice", "-n", "-10")

# SIPp's documented exit codes.
EXIT_MEANINGS = {
    0: "all calls succeeded",
    1: "at least one call failed",
    97: "exit on an internal command",
    99: "normal exit without calls processed",
    255: "fatal error",
    254: "fatal error binding a socket",
}


@dataclass
class SippResult:
    scenario: str
    exit_code: int
    command: list[str]
    output: str
    error_log: Path
    message_log: Path

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        meaning = EXIT_MEANINGS.get(self.exit_code, "unknown exit code")
        errors = ""
        if self.error_log.exists():
            lines = [
                ln for ln in self.error_log.read_text(errors="replace").splitlines() if ln.strip()
            ]
            errors = "\n    ".join(lines[-8:])
        return (
            f"SIPp {self.scenario} exited {self.exit_code} ({meaning})"
            + (f"; its errors:\n    {errors}" if errors else "")
            + f"\n  messages: {self.message_log}"
        )


@dataclass
class Softphone:
    engine: Engine
    config: TopologyConfig
    running: list[threading.Thread] = field(default_factory=list)

    def command(
        self,
        scenario: str,
        label: str,
        service: str = "+14255550150",
        extra: list[str] | None = None,
        timeout_s: int = 30,
    ) -> list[str]:
        cfg = self.config
        return [
            *RAISED,
            "sipp",
            f"{cfg.address('asterisk')}:5060",
            "-sf",
            f"/scenarios/{scenario}",
            "-s",
            service,
            "-i",
            cfg.address("softphone"),
            "-p",
            "5060",
            "-t",
            "u1",
            "-m",
            "1",
            "-l",
            "1",
            "-nostdin",
            "-timeout",
            f"{timeout_s}s",
            "-timeout_error",
            "-trace_err",
            "-error_file",
            f"/reports/sipp/{label}-errors.log",
            "-trace_msg",
            "-message_file",
            f"/reports/sipp/{label}-messages.log",
            *(extra or []),
        ]

    def run(self, scenario: str, label: str, **kwargs: object) -> SippResult:
        (self.config.reports_dir / "sipp").mkdir(parents=True, exist_ok=True)
        for suffix in ("errors", "messages"):
            (self.config.reports_dir / "sipp" / f"{label}-{suffix}.log").unlink(missing_ok=True)
        cmd = self.command(scenario, label, **kwargs)  # type: ignore[arg-type]
        result: ExecResult = self.engine.exec(self.config.project, "softphone", cmd)
        return SippResult(
            scenario,
            result.exit_code,
            cmd,
            result.stdout + result.stderr,
            self.config.reports_dir / "sipp" / f"{label}-errors.log",
            self.config.reports_dir / "sipp" / f"{label}-messages.log",
        )

    def wait_listening(self, port: int = 5060, timeout: float = 10.0) -> bool:
        """True once a UDP socket is bound to `port` in the softphone (a UAS is ready)."""
        script = (
            f"end=$(($(date +%s)+{int(timeout)})); "
            f"while ! grep -qi ':{port:04X} ' /proc/net/udp; do "
            "[ $(date +%s) -ge $end ] && exit 1; sleep 0.05; done"
        )
        return (
            self.engine.exec(self.config.project, "softphone", ["sh", "-c", script]).exit_code == 0
        )

    @staticmethod
    def shell(cmd: list[str]) -> str:
        return shlex.join(cmd)
