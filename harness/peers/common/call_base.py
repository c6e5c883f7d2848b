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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from harness.peers.common.offer_answer import NotAcceptable
from harness.peers.common.records import CallRecord, CallStore, LogFn, add_event, set_state
from harness.peers.common.rtp_session import EventFn, RtpSession
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.sdp import SessionDescription


@dataclass
class CallContext:
    """What a call is given by the simulator that starts it: its record and behaviour, and
    the simulator's store, log, RTP ports and end-of-call hook. Each simulator's context
    adds its signalling (endpoint, identity)."""

    record: CallRecord
    behaviour: Any
    store: CallStore
    log: LogFn
    media_address: str
    open_rtp: Callable[[EventFn], Awaitable[RtpSession]]
    on_finished: Callable[[Any], None]


class RecordedCall:
    """A subclass provides :meth:`hangup`, :meth:`release` and, once it has media,
    :meth:`media_session`."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.record = ctx.record
        self.behaviour = ctx.behaviour
        self.ended = False
        self.loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[Any]] = set()

    def finish(self, state: str, detail: str, *, error: str | None = None) -> None:
        """End the call in ``state`` (once; later calls do nothing)."""
        if self.ended:
            return
        self.ended = True
        self.cancel_tasks()
        self.release()
        self.sync_record()
        if error is not None:
            self.record.error = error
        self.state(state, detail)
        self.ctx.on_finished(self)

    def release(self) -> None:
        """Let go of what the call holds (RTP ports, responses waiting for an ACK)."""

    def media_session(self) -> RtpSession | None:
        """The RTP session whose counters :meth:`sync_record` copies (None: none yet)."""
        return None

    async def hangup(self, why: str, final_state: str = "ended") -> None:
        """Send a BYE and finish in ``final_state``."""
        raise NotImplementedError

    def on_request(self, txn: Any) -> None:
        """A request inside the call's dialog (a server transaction to answer)."""
        raise NotImplementedError

    def on_ack(self, ack: Request) -> None:
        """The ACK of a 2xx the call sent."""
        raise NotImplementedError

    def take_answer(
        self,
        message: Request | Response,
        missing: str,
        use: Callable[[SessionDescription], None],
        why: str | None = None,
    ) -> bool:
        """Give the SDP answer in ``message`` to ``use``; when there is none (``missing``
        says why) or it cannot be used, a ``bad_answer`` event and a BYE (``why``, else
        ``bad SDP answer: <reason>``), and False."""
        try:
            answer = message.sdp()
            if answer is None:
                raise NotAcceptable(missing)
            use(answer)
        except (SipParseError, NotAcceptable) as exc:
            reason = str(exc)
            self.event("bad_answer", reason)
            hangup = self.hangup(why or f"bad SDP answer: {reason}", final_state="failed")
            self.spawn(hangup, "hangup")
            return False
        return True

    # -- the record ----------------------------------------------------------------------

    def event(self, name: str, detail: str = "") -> None:
        add_event(self.ctx.store, self.record, name, detail, log=self.ctx.log)

    def state(self, state: str, detail: str = "") -> None:
        set_state(self.ctx.store, self.record, state, detail, log=self.ctx.log)

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
                self.ctx.log(f"EVENT call={self.record.id} error in {what}: {exc!r}")
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
