"""One flushed line per SIP message and per event, with a UTC timestamp (no global logger)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class LineLog:
    name: str = "peer"
    stream: TextIO | None = None
    lines: list[str] | None = field(default=None, repr=False)  # tests may collect lines

    def __call__(self, text: str) -> None:
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        line = f"{stamp} {self.name} {text}"
        if self.lines is not None:
            self.lines.append(line)
        stream = self.stream if self.stream is not None else sys.stdout
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError):  # closed stdout must not stop the peer
            pass
