"""What a lint rule reports: a Finding, and the collector that places it on a header's line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.severity}: {self.message} [{self.code}]"


def header_lines(raw: bytes) -> dict[str, list[int]]:
    """Lower-case header name (as written) -> line numbers where it starts."""
    out: dict[str, list[int]] = {}
    head_end = re.search(rb"\r?\n\r?\n", raw.lstrip(b"\r\n"))
    lead = len(raw) - len(raw.lstrip(b"\r\n"))
    head = raw[: lead + (head_end.start() if head_end else len(raw))]
    for i, line in enumerate(head.split(b"\n"), 1):
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        name = line.split(b":", 1)[0].strip().decode("utf-8", "replace").lower()
        out.setdefault(name, []).append(i)
    return out


@dataclass
class Collector:
    """Collects the findings for one message. ``lines`` is :func:`header_lines` of it."""

    lines: dict[str, list[int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def __call__(
        self,
        severity: str,
        code: str,
        message: str,
        line: int | None = None,
        *,
        at: tuple[str, ...] = (),
    ) -> None:
        """Add a finding on ``line``, or on the first line of the first header named in
        ``at`` (names as written, lower-case: ``("from", "f")``) that the message has."""
        if at:
            line = self.line_of(*at)
        if line is not None:
            message = message.removeprefix(f"line {line}: ")
        self.findings.append(Finding(severity, code, message, line))

    def line_of(self, *names: str) -> int | None:
        for name in names:
            found = self.lines.get(name.lower())
            if found:
                return found[0]
        return None


__all__ = ["SEVERITIES", "Collector", "Finding", "header_lines"]
