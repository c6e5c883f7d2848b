"""The bot's event log: one line per event on stdout, which pytest keeps with the test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

LogFn = Callable[[str], None]


def stdout_log(name: str) -> LogFn:
    """A log writing ``<UTC time to the millisecond>Z <name> <text>``, flushed at once."""

    def log(text: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00")
        try:
            print(f"{stamp}Z {name} {text}", flush=True)
        except (OSError, ValueError):  # a closed stdout must not fail the test's step
            pass

    return log
