"""A load run's progress on stderr: a bar redrawn in place when stderr is a terminal, a
plain line every few seconds when it is not (a CI log). Read from SIPp's statistics file
(``-trace_stat``), which SIPp rewrites every second."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

PLAIN_EVERY_S = 5.0
BAR = 30


@dataclass(frozen=True)
class Counts:
    created: int
    current: int
    succeeded: int
    failed: int


def read_stat(path: Path) -> Counts | None:
    """The last row of SIPp's statistics CSV (``;``-separated, a header row first)."""
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    if len(lines) < 2:
        return None
    head = lines[0].split(";")
    row = lines[-1].split(";")

    def value(name: str) -> int:
        try:
            return int(row[head.index(name)])
        except (ValueError, IndexError):
            return 0
    return Counts(value("TotalCallCreated"), value("CurrentCall"),
                  value("SuccessfulCall(C)"), value("FailedCall(C)"))


@dataclass
class Progress:
    out: TextIO
    total: int
    label: str = "load"
    started: float = field(default_factory=time.monotonic)
    _last_plain: float = 0.0
    _drawn: bool = False

    @property
    def tty(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def update(self, counts: Counts | None) -> None:
        now = time.monotonic()
        c = counts or Counts(0, 0, 0, 0)
        done = c.succeeded + c.failed
        elapsed = now - self.started
        text = (f"{self.label}: {c.created}/{self.total} placed, {c.current} up, {done} ended "
                f"({c.failed} failed by SIPp's count), {elapsed:.0f} s")
        if self.tty:
            filled = int(BAR * done / self.total) if self.total else 0
            self.out.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {text}\x1b[K")
            self.out.flush()
            self._drawn = True
        elif now - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = now
            self.out.write(text + "\n")
            self.out.flush()

    def close(self, message: str) -> None:
        if self._drawn:
            self.out.write("\r\x1b[K")
        self.out.write(message + "\n")
        self.out.flush()
