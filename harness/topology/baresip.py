"""The baresip softphone driven from the host through its ctrl_tcp control interface.

One TCP connection (baresip keeps one: a second connection drops the first); every wait is
a blocking ``select`` on that socket up to a deadline, for the event asked for. Events that
come while a command waits for its response are kept, in order, for the next wait. The
framing and the messages are :mod:`harness.topology.baresip_ctrl` (sans I/O).

baresip 1.0's menu commands used: ``reginfo``, ``uanew``, ``uadel``, ``dial``, ``accept``,
``answermode``, ``hangup``, ``hold``, ``resume`` (``hold`` and ``resume`` exist only while a
call does). Its events: ``REGISTER_OK``/``REGISTER_FAIL``, ``CALL_INCOMING`` (answer mode
manual only), ``CALL_RINGING``, ``CALL_PROGRESS``, ``CALL_ESTABLISHED``, ``CALL_CLOSED``.
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from harness.topology.baresip_ctrl import (
    CtrlProtocolError,
    CtrlSession,
    Event,
    Message,
    Response,
    registrations,
)

CALL_FAILED = frozenset({"CALL_CLOSED"})


class BaresipError(RuntimeError):
    """The control connection cannot be used: the message says what to check."""


@dataclass
class PhoneResult:
    """What one action on the phone came to: ``ok``, and what was seen on the way."""

    action: str
    ok: bool
    detail: str
    event: Event | None = None
    response: Response | None = None
    seen: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def describe(self) -> str:
        outcome = "ok" if self.ok else "FAILED"
        seen = f"; events on the way: {', '.join(self.seen)}" if self.seen else ""
        return f"baresip {self.action}: {outcome} after {self.elapsed_s:.2f} s: {self.detail}{seen}"


@dataclass
class BaresipPhone:
    """The softphone at ``host:port`` (ctrl_tcp); ``timeout_s`` bounds every wait."""

    host: str = "127.0.0.1"
    port: int = 18040
    timeout_s: float = 10.0
    sock: socket.socket | None = None
    session: CtrlSession = field(default_factory=CtrlSession)
    pending: deque[Event] = field(default_factory=deque)
    responses: dict[str, Response] = field(default_factory=dict)  # by token, until read
    closed_calls: dict[str, Event] = field(default_factory=dict)
    call_id: str | None = None  # the call of the last call event
    transcript: list[tuple[float, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ connection

    def connect(self) -> BaresipPhone:
        try:
            self.sock = socket.create_connection((self.host, self.port), self.timeout_s)
        except OSError as exc:
            raise BaresipError(
                f"baresip's control interface at {self.where} does not answer ({exc}): is "
                "the baresip container up with ctrl_tcp published on that port?"
            ) from None
        self.sock.setblocking(False)
        self.session = CtrlSession()
        return self

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> BaresipPhone:
        return self.connect() if self.sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------------ messages

    def command(self, name: str, params: str | None = None,
                timeout_s: float | None = None) -> Response:
        """Sends one command and returns its response; events meanwhile are kept. One
        command at a time: baresip 1.0's reader gives a second netstring in the same TCP
        segment the wrong buffer length."""
        sock = self._socket()
        token, data = self.session.command(name, params)
        self._log(f"> {name} {params or ''}".rstrip())
        try:
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise BaresipError(f"baresip at {self.where} cannot be sent '{name}' ({exc}): it "
                               "has exited, or another client connected; see its log") from None
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while token not in self.responses:
            try:
                self._receive(deadline, f"the response to '{name}'")
            except TimeoutError as exc:
                raise BaresipError(f"{exc}: is baresip's main loop stuck? see its log") from None
        return self.responses.pop(token)

    def wait_event(self, types: Collection[str], timeout_s: float | None = None,
                   fail_on: Collection[str] = (), call_id: str | None = None,
                   action: str | None = None) -> PhoneResult:
        """The first event of ``types`` (of call ``call_id`` if given); one of ``fail_on``
        first, or the deadline, is a failed result. Other events are passed over."""
        action = action or f"wait for {'/'.join(sorted(types))}"
        started = time.monotonic()
        deadline = started + (timeout_s or self.timeout_s)
        seen: list[str] = []
        while True:
            while self.pending:
                event = self.pending.popleft()
                if call_id is not None and event.call_id not in (None, call_id):
                    seen.append(event.brief())
                    continue
                if event.type in types or event.type in fail_on:
                    ok = event.type in types
                    return PhoneResult(action, ok, f"{event.brief()}", event=event, seen=seen,
                                       elapsed_s=time.monotonic() - started)
                seen.append(event.brief())
            try:
                self._receive(deadline, action)
            except TimeoutError:
                return PhoneResult(action, False, "no such event within "
                                   f"{deadline - started:g} s", seen=seen,
                                   elapsed_s=time.monotonic() - started)

    # ------------------------------------------------------------------ registration

    def wait_registered(self, aor: str | None = None,
                        timeout_s: float | None = None) -> PhoneResult:
        """Registered already (``reginfo`` says OK), or the next REGISTER_OK of ``aor``
        (any account if None)."""
        started = time.monotonic()
        reply = self.command("reginfo")
        status = registrations(reply.data)
        accounts = [aor] if aor else list(status)
        if accounts and all(status.get(a) == "OK" for a in accounts):
            return PhoneResult("wait until registered", True,
                               f"registered: {', '.join(accounts)}", response=reply,
                               elapsed_s=time.monotonic() - started)
        result = self.wait_event({"REGISTER_OK"}, timeout_s, fail_on={"REGISTER_FAIL"},
                                 action="wait until registered")
        if aor and result.event is not None and result.event.accountaor != aor:
            return self.wait_registered(aor, timeout_s)
        return result

    def register(self, account: str, timeout_s: float | None = None) -> PhoneResult:
        """A fresh registration of ``account`` (an accounts-file line): the user agent of
        the same AOR is deleted (it unregisters), and one is created for ``account``."""
        aor = aor_of(account)
        known = registrations(self.command("reginfo").data)
        if aor in known:
            dropped = self.command("uadel", aor)
            if not dropped.ok:
                return PhoneResult(f"register {aor}", False,
                                   f"uadel refused: {dropped.data.strip()}", response=dropped)
        created = self.command("uanew", account)
        if not created.ok:
            return PhoneResult(f"register {aor}", False,
                               f"uanew refused: {created.data.strip()}", response=created)
        return self.wait_event({"REGISTER_OK"}, timeout_s, fail_on={"REGISTER_FAIL"},
                               action=f"register {aor}")

    # ------------------------------------------------------------------ calls

    def dial(self, number: str) -> PhoneResult:
        """Starts a call to ``number`` (a number completes to sip:number@<registrar>)."""
        self.call_id = None
        return self._act("dial", number)

    def wait_established(self, timeout_s: float | None = None) -> PhoneResult:
        return self.wait_event({"CALL_ESTABLISHED"}, timeout_s, fail_on=CALL_FAILED,
                               call_id=self.call_id, action="wait until established")

    def wait_incoming(self, timeout_s: float | None = None) -> PhoneResult:
        """An incoming call alerting (answer mode manual, the default)."""
        return self.wait_event({"CALL_INCOMING"}, timeout_s, action="wait for an incoming call")

    def accept(self) -> PhoneResult:
        return self._act("accept")

    def answer(self, timeout_s: float | None = None) -> PhoneResult:
        """Waits for an incoming call, accepts it, and waits until it is established."""
        incoming = self.wait_incoming(timeout_s)
        if not incoming.ok:
            return incoming
        accepted = self.accept()
        return self.wait_established(timeout_s) if accepted.ok else accepted

    def set_answermode(self, mode: str) -> PhoneResult:
        """``manual`` (CALL_INCOMING, then accept), ``auto`` (answers at once, no
        CALL_INCOMING event) or ``early``."""
        return self._act("answermode", mode)

    def hangup(self) -> PhoneResult:
        return self._act("hangup")

    def send_digits(self, digits: str) -> PhoneResult:
        """Keys `digits` on the current call (the menu's ``sndcode``: RFC 4733 events
        where telephone-event was negotiated)."""
        return self._act("sndcode", digits)

    def hold(self) -> PhoneResult:
        """A re-INVITE putting the current call on hold (baresip offers a=sendonly)."""
        return self._act("hold")

    def resume(self) -> PhoneResult:
        return self._act("resume")

    def wait_closed(self, timeout_s: float | None = None) -> PhoneResult:
        """The current call's CALL_CLOSED (at once if it came already)."""
        if self.call_id is not None and self.call_id in self.closed_calls:
            event = self.closed_calls[self.call_id]
            return PhoneResult("wait until closed", True, event.brief(), event=event)
        return self.wait_event({"CALL_CLOSED"}, timeout_s, call_id=self.call_id,
                               action="wait until closed")

    def transcript_text(self, last: int = 40) -> str:
        start = self.transcript[0][0] if self.transcript else 0.0
        return "\n".join(f"{t - start:8.3f} {line}" for t, line in self.transcript[-last:])

    # ------------------------------------------------------------------ internals

    def _act(self, name: str, params: str | None = None) -> PhoneResult:
        started = time.monotonic()
        reply = self.command(name, params)
        text = reply.data.strip() or ("done" if reply.ok else "refused")
        return PhoneResult(f"{name} {params or ''}".rstrip(), reply.ok, text, response=reply,
                           elapsed_s=time.monotonic() - started)

    def _socket(self) -> socket.socket:
        if self.sock is None:
            raise BaresipError(f"not connected to baresip at {self.where}: connect() first")
        return self.sock

    def _receive(self, deadline: float, waiting_for: str) -> list[Message]:
        """The messages of the next bytes to come; events also go to ``pending``.
        TimeoutError at the deadline, BaresipError if the connection ends."""
        sock = self._socket()
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
            raise TimeoutError(f"baresip at {self.where}: nothing came in time while "
                               f"waiting for {waiting_for}")
        data = sock.recv(65536)
        if not data:
            self.close()
            raise BaresipError(
                f"baresip at {self.where} closed the control connection while waiting for "
                f"{waiting_for}: it has exited, or another client connected (ctrl_tcp keeps "
                "one connection); see the container's log"
            )
        try:
            messages = self.session.receive(data)
        except CtrlProtocolError as exc:
            raise BaresipError(f"baresip at {self.where}: {exc}") from None
        for message in messages:
            if isinstance(message, Event):
                self._log(f"< {message.brief()}")
                self._note(message)
                self.pending.append(message)
            else:
                self._log(f"< {'ok' if message.ok else 'error'} {message.data.strip()[:200]}")
                if message.token is not None:
                    self.responses[message.token] = message
        return messages

    def _note(self, event: Event) -> None:
        if event.call_id is None:
            return
        if self.call_id is None or event.type == "CALL_INCOMING":
            self.call_id = event.call_id
        if event.type == "CALL_CLOSED":
            self.closed_calls[event.call_id] = event

    def _log(self, line: str) -> None:
        self.transcript.append((time.monotonic(), line))


def account_lines(accounts_file: str, addresses: Mapping[str, str]) -> list[str]:
    """The accounts of a baresip ``accounts`` file (fixtures/baresip/accounts) with
    ``${NAME}`` filled in from ``addresses`` (``GATEWAY_ADDR`` ...), as the container's
    entrypoint renders them: what :meth:`BaresipPhone.register` takes."""
    lines = []
    for line in accounts_file.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            for name, value in addresses.items():
                line = line.replace("${" + name + "}", value)
            lines.append(line)
    return lines


def aor_of(account: str) -> str:
    """The AOR of an accounts-file line, as baresip prints it: ``"Name" <sip:1000@gw;
    transport=udp>;auth_pass=...`` -> ``sip:1000@gw``."""
    inside = account.split("<", 1)[1].split(">", 1)[0] if "<" in account else account
    return inside.split(";", 1)[0].strip()


__all__ = ["BaresipError", "BaresipPhone", "PhoneResult", "account_lines", "aor_of"]
