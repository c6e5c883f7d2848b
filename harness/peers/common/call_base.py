"""What every simulated call does with its record, whatever its signalling.

:class:`RecordedCall` is the base of the Mediation simulator's
:class:`~harness.peers.lync.call.Call` and of the Skype simulator's calls
(:mod:`harness.peers.skype.calls`): every step is a call event (record + one log line),
state changes are logged, the RTP session's counters are copied into the record, DTMF goes
out as RFC 4733 events, and the background steps run as tasks whose failure fails the
call, never the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from harness.peers.common.records import CallRecord, CallStore, LogFn, add_event, set_state
from harness.peers.common.rtp_session import RtpSession


class RecordedCall:
    """A subclass provides :meth:`finish` and, once it has media, :meth:`media_session`."""

    def __init__(self, store: CallStore, record: CallRecord, log: LogFn) -> None:
        self.record = record
        self.ended = False
        self.loop = asyncio.get_running_loop()
        self._store = store
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def finish(self, state: str, detail: str, *, error: str | None = None) -> None:
        """End the call in ``state`` (once; later calls do nothing)."""
        raise NotImplementedError

    def media_session(self) -> RtpSession | None:
        """The RTP session whose counters :meth:`sync_record` copies (None: none yet)."""
        return None

    # -- the record ----------------------------------------------------------------------

    def event(self, name: str, detail: str = "") -> None:
        add_event(self._store, self.record, name, detail, log=self._log)

    def state(self, state: str, detail: str = "") -> None:
        set_state(self._store, self.record, state, detail, log=self._log)

    def sync_record(self) -> None:
        """Copy the media counters into the record (the API calls this before showing it)."""
        session = self.media_session()
        if session is None:
            return
        s = session.stats
        r = self.record
        r.rtp_sent, r.rtp_received = s.packets_sent, s.packets_received
        r.rtp_bytes_sent, r.rtp_bytes_received = s.bytes_sent, s.bytes_received
        r.dtmf_sent, r.dtmf_received = s.dtmf_sent, s.dtmf_received

    def rtp_event(self, name: str, detail: str) -> None:
        """An event of the RTP session (its ``on_event``), with the counters up to date."""
        self.sync_record()
        self.event(name, detail)

    # -- tasks ---------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a call failing must not stop the server
                self._log(f"EVENT call={self.record.id} error in {what}: {exc!r}")
                self.finish("failed", f"internal error in {what}", error=repr(exc))

        task = self.loop.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_tasks(self) -> None:
        """Cancel the call's tasks, except the one running now (it may be finishing)."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def sleep_until(self, when: float) -> None:
        """Sleep until ``loop.time()`` reaches ``when``."""
        delay = when - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- media ---------------------------------------------------------------------------

    async def send_dtmf(self, digits: str, peer: str) -> None:
        """Send ``digits`` as RFC 4733 events on the RTP session; only an event when the
        ``peer`` did not negotiate telephone-event."""
        session = self.media_session()
        if session is None or session.dtmf_payload_type is None:
            self.event("dtmf_skipped", f"{peer} did not negotiate telephone-event")
            return
        self.event("dtmf_queued", digits)
        await session.send_digits(digits)
        self.sync_record()
        self.event("dtmf_done", digits)
