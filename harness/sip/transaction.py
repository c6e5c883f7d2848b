"""RFC 3261 transactions (section 17) as sans-I/O state machines, in the manner of h11.

Nothing here reads a clock, opens a socket or schedules anything. A machine is fed what
happened (``start()``, a message received, ``timer_fired(name)``, ``respond(response)``,
``transport_failed(reason)``) and returns the list of :data:`Event` s that follow: messages
to :class:`Transmit`, timers to start or cancel (:class:`StartTimer`, :class:`CancelTimer`,
named by their RFC letter), and what the transaction user must hear
(:class:`ProvisionalReceived`, :class:`FinalReceived`, :class:`Retransmitted2xx`,
:class:`TimedOut`, :class:`TransportFailed`), ending with :class:`Terminated`.

Client INVITE (17.1.1, RFC 6026 7.2): Calling (Timer A from T1 doubling, unreliable only;
Timer B 64*T1) -> Proceeding on 1xx -> Accepted on 2xx (Timer M 64*T1; 2xx
retransmissions go to the TU, which sends the ACK again) or Completed on 300-699: the ACK
is built here (17.1.1.3) and sent again for each retransmitted final until Timer D.

Client non-INVITE (17.1.2): Trying (Timer E from T1 doubling to T2, unreliable only; Timer
F 64*T1) -> Proceeding on 1xx (Timer E then T2) -> Completed on a final (Timer K = T4).

Server INVITE (17.2.1, RFC 6026 7.1): Proceeding -> Completed on 300-699 (Timer G from T1
doubling to T2, unreliable only; Timer H 64*T1 waits for the ACK) -> Confirmed on the ACK
(Timer I = T4). A 2xx leads to Accepted (Timer L 64*T1), where a retransmitted INVITE gets
the 2xx again; over an unreliable transport the 2xx is also retransmitted with Timer G
until the TU says the ACK came (:meth:`ServerTransaction.acknowledge`; the ACK of a 2xx is
matched by dialog, not by transaction, 13.3.1.4). Timer L firing before that is reported
as ``TimedOut("L")``.

Server non-INVITE (17.2.2): Trying -> Proceeding on 1xx -> Completed on a final (Timer J
64*T1); a retransmitted request gets the last response again.

Over a reliable transport nothing is retransmitted and Timers D, I, J, K are zero: the
machine terminates at once instead of starting them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from harness.sip.builder import make_ack
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.matching import ClientKey, ServerKey, client_key, server_key
from harness.sip.message import Request, Response


@dataclass(frozen=True)
class TimerConfig:
    """T1, T2, T4 of RFC 3261 17.1.1.1 and Timer D's "at least 32 s" (17.1.1.2)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0

    @property
    def long(self) -> float:
        """64*T1: Timers B, F, H, J, L, M."""
        return 64 * self.t1


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transmit:
    """Hand ``message`` to the transport (the request, a response, or an ACK)."""

    message: Request | Response
    retransmission: bool = False


@dataclass(frozen=True)
class TimerEvent:
    """An event about the timer ``name`` (A, B, D, E, F, G, H, I, J, K, L, M)."""

    name: str


@dataclass(frozen=True)
class StartTimer(TimerEvent):
    delay: float


class CancelTimer(TimerEvent):
    """Stop the timer (a new start of the same name replaces it too)."""


class TimedOut(TimerEvent):
    """Timer B/F (no final response), H (no ACK for a non-2xx) or L (no ACK for a 2xx
    the TU has not acknowledged)."""


@dataclass(frozen=True)
class ResponseEvent:
    response: Response


class ProvisionalReceived(ResponseEvent):
    """A 1xx for the TU."""


class FinalReceived(ResponseEvent):
    """The first final response (for INVITE a non-2xx has been ACKed already)."""


class Retransmitted2xx(ResponseEvent):
    """Another 2xx to the INVITE (Accepted state): the TU sends its ACK again."""


@dataclass(frozen=True)
class TransportFailed:
    reason: str


@dataclass(frozen=True)
class Terminated:
    """The transaction is over: forget it and drop its timers."""


Event = (
    Transmit
    | StartTimer
    | CancelTimer
    | ProvisionalReceived
    | FinalReceived
    | Retransmitted2xx
    | TimedOut
    | TransportFailed
    | Terminated
)

AckFactory = Callable[[Request, Response], Request]


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class _Machine:
    """Timer bookkeeping shared by the four machines."""

    def __init__(self, request: Request, config: TimerConfig, reliable: bool) -> None:
        self.request = request
        self.config = config
        self.reliable = reliable
        self.state = State.TRYING
        self._armed: dict[str, float] = {}  # timer name -> the delay it was started with
        self._out: list[Event] = []

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def armed(self) -> dict[str, float]:
        """The running timers and the delay each was started with."""
        return dict(self._armed)

    def _flush(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _emit(self, event: Event) -> None:
        self._out.append(event)

    def _start(self, name: str, delay: float) -> None:
        self._armed[name] = delay
        self._emit(StartTimer(name, delay))

    def _cancel(self, *names: str) -> None:
        for name in names:
            if self._armed.pop(name, None) is not None:
                self._emit(CancelTimer(name))

    def _linger(self, name: str, delay: float) -> None:
        """Start the timer that ends the transaction, or end it now when it is zero."""
        if delay > 0:
            self._start(name, delay)
        else:
            self._terminate()

    def _terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self._cancel(*list(self._armed))
        self.state = State.TERMINATED
        self._emit(Terminated())

    def timer_fired(self, name: str) -> list[Event]:
        """Timer ``name`` expired. A timer that is not running (cancelled meanwhile) is
        ignored."""
        delay = self._armed.pop(name, None)
        if delay is not None and not self.terminated:
            self._on_timer(name, delay)
        return self._flush()

    def terminate(self) -> list[Event]:
        """Abandon the transaction (the TU or the transport layer gives up on it)."""
        self._terminate()
        return self._flush()

    def transport_failed(self, reason: str) -> list[Event]:
        """The transport could not send (17.1.4, 17.2.4): the TU hears it, then the end."""
        if not self.terminated:
            self._emit(TransportFailed(reason))
            self._terminate()
        return self._flush()

    def _on_timer(self, name: str, delay: float) -> None:
        raise NotImplementedError


class ClientTransaction(_Machine):
    """A client transaction for ``request`` (not ACK: an ACK is never a transaction).

    ``ack_factory`` builds the ACK of a non-2xx final response; by default
    :func:`harness.sip.builder.make_ack` (same branch, Request-URI and Route as the INVITE,
    To from the response). A user agent with its own wire format passes its own.
    """

    def __init__(
        self,
        request: Request,
        config: TimerConfig | None = None,
        *,
        reliable: bool = False,
        ack_factory: AckFactory | None = None,
    ) -> None:
        if request.method == "ACK":
            raise SipUsageError("an ACK is sent without a client transaction")
        super().__init__(request, config or TimerConfig(), reliable)
        self.state = State.CALLING if self.is_invite else State.TRYING
        self._ack_factory = ack_factory or make_ack
        self.ack: Request | None = None
        self.final: Response | None = None
        self.sends = 0

    @property
    def key(self) -> ClientKey:
        found = client_key(self.request)
        assert found is not None  # a request's method is always known
        return found

    def matches(self, response: Response) -> bool:
        return client_key(response) == self.key

    def start(self) -> list[Event]:
        """Send the request and start the timers (17.1.1.2, 17.1.2.2)."""
        self.sends += 1
        self._emit(Transmit(self.request))
        c = self.config
        if not self.reliable:
            self._start("A" if self.is_invite else "E", c.t1)
        self._start("B" if self.is_invite else "F", c.long)
        return self._flush()

    def receive(self, response: Response) -> list[Event]:
        if self.terminated:
            return []
        if self.is_invite:
            self._receive_invite(response)
        else:
            self._receive_other(response)
        return self._flush()

    def _receive_invite(self, response: Response) -> None:
        status = response.status
        if self.state in (State.CALLING, State.PROCEEDING):
            self._cancel("A", "B")
            if status < 200:
                self.state = State.PROCEEDING
                self._emit(ProvisionalReceived(response))
            elif status < 300:
                self.state = State.ACCEPTED
                self.final = response
                self._emit(FinalReceived(response))
                self._start("M", self.config.long)
            else:
                self.state = State.COMPLETED
                self.final = response
                self._send_ack(response, retransmission=False)
                self._emit(FinalReceived(response))
                self._linger("D", 0.0 if self.reliable else self.config.timer_d)
        elif self.state is State.ACCEPTED and 200 <= status < 300:
            self._emit(Retransmitted2xx(response))
        elif self.state is State.COMPLETED and status >= 300:
            self._send_ack(response, retransmission=True)

    def _send_ack(self, response: Response, retransmission: bool) -> None:
        if self.ack is None:
            try:
                self.ack = self._ack_factory(self.request, response)
            except (SipUsageError, SipParseError):
                return  # nothing sensible to send; the final response still counts
        self._emit(Transmit(self.ack, retransmission))

    def _receive_other(self, response: Response) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return  # Completed: retransmitted finals are absorbed
        if response.status < 200:
            self.state = State.PROCEEDING
            self._emit(ProvisionalReceived(response))
            return
        self._cancel("E", "F")
        self.state = State.COMPLETED
        self.final = response
        self._emit(FinalReceived(response))
        self._linger("K", 0.0 if self.reliable else self.config.t4)

    def _on_timer(self, name: str, delay: float) -> None:
        c = self.config
        if name == "A" and self.state is State.CALLING:
            self._retransmit()
            self._start("A", delay * 2)
        elif name == "E" and self.state in (State.TRYING, State.PROCEEDING):
            self._retransmit()
            self._start("E", c.t2 if self.state is State.PROCEEDING else min(delay * 2, c.t2))
        elif name in ("B", "F"):
            self._emit(TimedOut(name))
            self._terminate()
        elif name in ("D", "K", "M"):
            self._terminate()

    def _retransmit(self) -> None:
        self.sends += 1
        self._emit(Transmit(self.request, retransmission=True))


class ServerTransaction(_Machine):
    """A server transaction for a received ``request`` (not ACK)."""

    def __init__(
        self,
        request: Request,
        config: TimerConfig | None = None,
        *,
        reliable: bool = False,
    ) -> None:
        if request.method == "ACK":
            raise SipUsageError("an ACK does not create a server transaction")
        super().__init__(request, config or TimerConfig(), reliable)
        self.state = State.PROCEEDING if self.is_invite else State.TRYING
        self.last_response: Response | None = None
        self.acked = False
        self.retransmits = 0

    @property
    def key(self) -> ServerKey:
        return server_key(self.request)

    @property
    def final_status(self) -> int | None:
        last = self.last_response
        return last.status if last is not None and last.status >= 200 else None

    def matches(self, request: Request) -> bool:
        return server_key(request) == self.key

    def respond(self, response: Response) -> list[Event]:
        """Send ``response`` from the TU. SipUsageError after a final response."""
        if self.final_status is not None or self.terminated:
            raise SipUsageError(
                f"{self.method} already has its final response; "
                f"{response.status} {response.reason} not sent"
            )
        self.last_response = response
        self._emit(Transmit(response))
        status = response.status
        c = self.config
        if status < 200:
            if self.state is State.TRYING:
                self.state = State.PROCEEDING
            return self._flush()
        if not self.is_invite:
            self.state = State.COMPLETED
            self._linger("J", 0.0 if self.reliable else c.long)
            return self._flush()
        self.state = State.ACCEPTED if status < 300 else State.COMPLETED
        if not self.reliable:
            self._start("G", c.t1)
        self._start("L" if status < 300 else "H", c.long)
        return self._flush()

    def receive(self, request: Request) -> list[Event]:
        """A request that matched this transaction: a retransmission, or the ACK of a
        non-2xx final response."""
        if self.terminated:
            return []
        if request.method == "ACK":
            if self.state is State.COMPLETED:
                self.acked = True
                self.state = State.CONFIRMED
                self._cancel("G", "H")
                self._linger("I", 0.0 if self.reliable else self.config.t4)
            return self._flush()
        if self.state is not State.CONFIRMED and self.last_response is not None:
            self.retransmits += 1
            self._emit(Transmit(self.last_response, retransmission=True))
        return self._flush()

    def acknowledge(self) -> list[Event]:
        """The TU matched the ACK of the 2xx (or no longer wants it): stop retransmitting.
        The transaction stays (absorbing retransmitted INVITEs) until Timer L."""
        if not self.acked:
            self.acked = True
            self._cancel("G")
        return self._flush()

    def _on_timer(self, name: str, delay: float) -> None:
        if name == "G" and self.state in (State.COMPLETED, State.ACCEPTED) and not self.acked:
            assert self.last_response is not None
            self.retransmits += 1
            self._emit(Transmit(self.last_response, retransmission=True))
            self._start("G", min(delay * 2, self.config.t2))
        elif name in ("H", "L"):
            if not self.acked:
                self._emit(TimedOut(name))
            self._terminate()
        elif name in ("I", "J"):
            self._terminate()


__all__ = [
    "TimerEvent",
    "AckFactory",
    "CancelTimer",
    "ClientTransaction",
    "Event",
    "FinalReceived",
    "ProvisionalReceived",
    "ResponseEvent",
    "Retransmitted2xx",
    "ServerTransaction",
    "StartTimer",
    "State",
    "Terminated",
    "TimedOut",
    "TimerConfig",
    "Transmit",
    "TransportFailed",
]
