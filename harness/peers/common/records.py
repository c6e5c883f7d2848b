"""Call records as the control API shows them, and a store that can be long-polled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STATES = ("trying", "early", "confirmed", "held", "ended", "rejected", "failed")
FINAL_STATES = frozenset({"ended", "rejected", "failed"})

LogFn = Callable[[str], None]


@dataclass
class CallEvent:
    t: float
    event: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "event": self.event, "detail": self.detail}


@dataclass
class CallRecord:
    id: str
    call_id: str
    direction: str
    state: str = "trying"
    remote_sdp_direction: str | None = None
    rtp_sent: int = 0
    rtp_received: int = 0
    rtp_bytes_sent: int = 0
    rtp_bytes_received: int = 0
    dtmf_sent: str = ""
    dtmf_received: str = ""
    status_code: int | None = None
    error: str | None = None
    events: list[CallEvent] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "direction": self.direction,
            "state": self.state,
            "remote_sdp_direction": self.remote_sdp_direction,
            "rtp_sent": self.rtp_sent,
            "rtp_received": self.rtp_received,
            "rtp_bytes_sent": self.rtp_bytes_sent,
            "rtp_bytes_received": self.rtp_bytes_received,
            "dtmf_sent": self.dtmf_sent,
            "dtmf_received": self.dtmf_received,
            "status_code": self.status_code,
            "error": self.error,
            "events": [e.to_json() for e in self.events],
        }


class CallStore:
    """Records in creation order; every change is announced so that waiters re-check.

    ``record_type`` is the record class :meth:`new` builds (a subclass sets its own
    :class:`CallRecord` subclass there; numbering and wake-ups stay the store's)."""

    record_type: type[CallRecord] = CallRecord

    def __init__(self) -> None:
        self._records: dict[str, CallRecord] = {}
        self._next = 1
        self._changed = asyncio.Event()

    def new(self, call_id: str, direction: str) -> CallRecord:
        record = self.record_type(id=str(self._next), call_id=call_id, direction=direction)
        self._next += 1
        self._records[record.id] = record
        self.touch()
        return record

    def get(self, record_id: str) -> CallRecord | None:
        return self._records.get(record_id)

    def last(self) -> CallRecord | None:
        return next(reversed(self._records.values()), None)

    def all(self) -> list[CallRecord]:
        return list(self._records.values())

    def clear(self) -> None:
        self._records.clear()
        self.touch()

    def touch(self) -> None:
        """Wake every waiter (call after any change to a record)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """True once ``predicate()`` holds, False after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True


def add_event(
    store: CallStore, record: CallRecord, event: str, detail: str = "", log: LogFn | None = None
) -> None:
    """Add an event to ``record``; with ``log``, also the line ``EVENT call=<id> <event>
    <detail>``."""
    record.events.append(CallEvent(time.time(), event, detail))
    store.touch()
    if log is not None:
        log(f"EVENT call={record.id} {event} {detail}".rstrip())


def set_state(
    store: CallStore, record: CallRecord, state: str, detail: str = "", log: LogFn | None = None
) -> None:
    """Move ``record`` to ``state`` (nothing when it is there already); with ``log``, also
    the line ``EVENT call=<id> state=<state> <detail>``."""
    if state not in STATES:
        raise ValueError(f"unknown call state {state!r}")
    if record.state == state:
        return
    record.state = state
    record.events.append(CallEvent(time.time(), f"state:{state}", detail))
    store.touch()
    if log is not None:
        log(f"EVENT call={record.id} state={state} {detail}".rstrip())
