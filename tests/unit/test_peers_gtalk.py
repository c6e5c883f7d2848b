"""The Google Talk user bot (harness/peers/gtalk.py) without an XMPP server: the pure parts
(JIDs, inbox, presence book, subscription answers, error texts, redaction) and the connect
failures against scripted loopback sockets. The bot against the real Prosody is checked with
the xmpp container, not here (unit tests must not need Docker)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from harness.gtalk.bot import (
    GtalkAuthError,
    GtalkConnectError,
    GtalkDeliveryError,
    GtalkDisconnected,
    GtalkError,
    GtalkTimeout,
    GtalkUser,
    Inbox,
    PresenceBook,
    SubscriptionAnswers,
    _LoopThread,
    bare_jid,
    connect_failure,
    presence_show,
    redact,
    until_done,
)

ASTERISK = "asterisk@gmail.test"
SARA = "sara@gmail.test"
MENU = [
    "Thank you for calling Contoso",
    "Choose one of the following options",
    "1 - Company Directory",
    "2 - Call Employee",
    "3 - Customer Service",
    "4 - Company Info",
    "5 - Conference Center",
]


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


# --- JIDs, shows, texts --------------------------------------------------------------------


def test_bare_jid_normalises_case_and_drops_the_resource() -> None:
    assert bare_jid("Sara@Gmail.TEST/phone") == SARA
    assert bare_jid(ASTERISK) == ASTERISK


@pytest.mark.parametrize("bad", ["gmail.test", "", "sara@", "@gmail.test"])
def test_bare_jid_refuses_what_is_not_a_user_jid(bad: str) -> None:
    with pytest.raises(ValueError):
        bare_jid(bad)


@pytest.mark.parametrize(
    ("ptype", "show", "expected"),
    [
        (None, None, "available"),
        ("available", "", "available"),
        (None, "away", "away"),
        (None, "dnd", "dnd"),
        (None, "xa", "xa"),
        (None, "chat", "chat"),
        ("unavailable", "away", "unavailable"),
        (None, "nonsense", "available"),
    ],
)
def test_presence_show(ptype: str | None, show: str | None, expected: str) -> None:
    assert presence_show(ptype, show) == expected


def test_redact_hides_sasl_credentials_only() -> None:
    auth = (
        '<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">AHNhcmEAc2FyYQ==</auth>'
    )
    assert redact(auth) == (
        '<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">(redacted)</auth>'
    )
    response = '<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">Yz1iaXdzLHI9</response>'
    assert "(redacted)" in redact(response) and "Yz1" not in redact(response)
    message = "<message to='sara@gmail.test'><body>auth me</body></message>"
    assert redact(message) == message


def test_connect_failures_name_the_jid_and_the_address() -> None:
    auth = connect_failure("auth", SARA, "127.0.0.1", 15222, "SASL not-authorized")
    assert isinstance(auth, GtalkAuthError) and isinstance(auth, GtalkConnectError)
    assert str(auth) == (
        "authentication failed for sara@gmail.test at 127.0.0.1:15222 (SASL not-authorized)"
    )
    refused = connect_failure("refused", SARA, "127.0.0.1", 15222, "Connection refused")
    assert type(refused) is GtalkConnectError
    assert "sara@gmail.test" in str(refused) and "127.0.0.1:15222" in str(refused)
    assert "allow_unencrypted_plain_auth" in str(connect_failure("no-mechanism", SARA, "h", 1))
    for kind in ("stream-error", "closed", "timeout"):
        text = str(connect_failure(kind, SARA, "xmpp", 5222))
        assert SARA in text and "xmpp:5222" in text
    with pytest.raises(ValueError):
        connect_failure("gremlins", SARA, "h", 1)


def test_until_done_counts_or_asks_the_predicate_about_the_last_message() -> None:
    assert not until_done([], 2)
    assert not until_done(["a"], 2)
    assert until_done(["a", "b"], 2)

    def is_last(m: str) -> bool:
        return m.startswith("5 -")

    assert not until_done([], is_last)
    assert not until_done(MENU[:3], is_last)
    assert until_done(MENU, is_last)
    with pytest.raises(ValueError):
        until_done([], 0)
    with pytest.raises(TypeError):
        until_done([], True)


# --- the inbox -----------------------------------------------------------------------------


def run(coro_fn: Callable[[], object]) -> None:
    asyncio.run(asyncio.wait_for(coro_fn(), 5))  # type: ignore[arg-type]


def test_inbox_queues_per_sender_in_arrival_order_with_times() -> None:
    async def body() -> None:
        inbox = Inbox(clock=FakeClock(), monotonic=FakeClock(0.0))
        inbox.put(ASTERISK + "/asterisk-xmpp", "one")
        inbox.put("bob@gmail.test", "not for this queue")
        inbox.put(ASTERISK, "two")
        first = await inbox.get(ASTERISK, 1)
        assert (first.body, first.sender, first.resource) == ("one", ASTERISK, "")
        assert (await inbox.get("Asterisk@gmail.test/other", 1)).body == "two"
        assert (await inbox.get("bob@gmail.test", 1)).body == "not for this queue"
        times = [m.received_at for m in inbox.history]
        assert times == sorted(times) and len(set(times)) == 3
        assert [m.body for m in inbox.history] == ["one", "not for this queue", "two"]

    run(body)


def test_inbox_get_waits_for_a_later_message() -> None:
    async def body() -> None:
        inbox = Inbox()
        waiter = asyncio.create_task(inbox.get(ASTERISK, 2))
        await asyncio.sleep(0)  # let the waiter start waiting
        assert not waiter.done()
        inbox.put("bob@gmail.test", "other sender: does not wake it with a message")
        await asyncio.sleep(0)
        assert not waiter.done()
        inbox.put(ASTERISK, "Thank you for calling Contoso")
        assert (await waiter).body == "Thank you for calling Contoso"

    run(body)


def test_inbox_timeout_says_what_else_is_queued() -> None:
    async def body() -> None:
        inbox = Inbox()
        inbox.put("bob@gmail.test", "hello")
        with pytest.raises(GtalkTimeout) as info:
            await inbox.get(ASTERISK, 0.05)
        assert "no message from asterisk@gmail.test within 0.05 s" in str(info.value)
        assert "bob@gmail.test (1)" in str(info.value)
        assert isinstance(info.value, TimeoutError)

    run(body)


def test_collect_by_count_and_by_predicate() -> None:
    async def body() -> None:
        inbox = Inbox()
        for line in MENU:
            inbox.put(ASTERISK, line)
        two = await inbox.collect(ASTERISK, 2, 1)
        assert [m.body for m in two] == MENU[:2]
        rest = await inbox.collect(ASTERISK, lambda m: m.startswith("5 -"), 1)
        assert [m.body for m in rest] == MENU[2:]
        assert inbox.pending(ASTERISK) == []

    run(body)


def test_collect_timeout_consumes_nothing_and_lists_what_came() -> None:
    async def body() -> None:
        inbox = Inbox()
        inbox.put(ASTERISK, MENU[0])
        inbox.put(ASTERISK, MENU[1])
        with pytest.raises(GtalkTimeout) as info:
            await inbox.collect(ASTERISK, 7, 0.05)
        text = str(info.value)
        assert "7 messages from asterisk@gmail.test, got 2" in text
        assert repr(MENU[0]) in text and repr(MENU[1]) in text
        assert [m.body for m in inbox.pending(ASTERISK)] == MENU[:2]
        assert (await inbox.get(ASTERISK, 1)).body == MENU[0]

    run(body)


def test_a_bounce_raises_in_its_place_in_the_queue() -> None:
    async def body() -> None:
        inbox = Inbox()
        inbox.put(ASTERISK, "first")
        inbox.put(ASTERISK, "4", type="error", error="service-unavailable")
        inbox.put(ASTERISK, "after")
        assert (await inbox.get(ASTERISK, 1)).body == "first"
        with pytest.raises(GtalkDeliveryError, match="asterisk@gmail.test bounced"):
            await inbox.get(ASTERISK, 1)
        assert (await inbox.get(ASTERISK, 1)).body == "after"
        inbox.put(ASTERISK, "x")
        inbox.put(ASTERISK, "y", type="error", error="service-unavailable")
        with pytest.raises(GtalkDeliveryError):
            await inbox.collect(ASTERISK, 3, 1)
        assert [m.body for m in inbox.pending(ASTERISK)] == ["x"]

    run(body)


def test_close_ends_waiting_at_once() -> None:
    async def body() -> None:
        inbox = Inbox()
        waiter = asyncio.create_task(inbox.get(ASTERISK, 5))
        await asyncio.sleep(0)
        inbox.close("the XMPP session of sara@gmail.test ended (End of stream)")
        with pytest.raises(GtalkDisconnected, match="End of stream"):
            await waiter
        with pytest.raises(GtalkDisconnected):
            await inbox.get(ASTERISK, 5)

    run(body)


def test_drain_takes_everything_queued() -> None:
    inbox = Inbox()
    inbox.put(ASTERISK, "a")
    inbox.put(ASTERISK, "b")
    assert [m.body for m in inbox.drain(ASTERISK)] == ["a", "b"]
    assert inbox.drain(ASTERISK) == []
    assert len(inbox.history) == 2


# --- presence ------------------------------------------------------------------------------


def test_presence_book_picks_the_best_available_resource() -> None:
    book = PresenceBook(clock=FakeClock())
    assert book.current(ASTERISK) is None
    book.update(ASTERISK + "/a", "away", "gone fishing", priority=0, resource="a")
    book.update(ASTERISK + "/b", "available", "How can we help?", priority=1, resource="b")
    best = book.current(ASTERISK)
    assert best is not None and (best.show, best.status, best.resource) == (
        "available",
        "How can we help?",
        "b",
    )
    book.update(ASTERISK, "unavailable", resource="b")
    best = book.current(ASTERISK)
    assert best is not None and best.show == "away"
    book.update(ASTERISK, "unavailable")  # from the bare JID: all resources gone
    best = book.current(ASTERISK)
    assert best is not None and not best.available
    with pytest.raises(ValueError):
        book.update(ASTERISK, "busy")


def test_settle_prefers_available_and_settles_for_unavailable() -> None:
    async def body() -> None:
        book = PresenceBook()
        book.update(ASTERISK, "unavailable")
        settle = asyncio.create_task(book.settle(ASTERISK, 2))
        await asyncio.sleep(0)
        assert not settle.done()  # "not yet" is not "offline"
        book.update(ASTERISK, "available", "How can we help?", resource="asterisk-xmpp")
        pres = await settle
        assert (pres.show, pres.status) == ("available", "How can we help?")

        book.update(SARA, "unavailable")
        assert (await book.settle(SARA, 0.05)).show == "unavailable"
        with pytest.raises(GtalkTimeout, match="no presence from it at all"):
            await book.settle("bob@gmail.test", 0.05)

    run(body)


def test_wait_names_the_last_presence_on_timeout() -> None:
    async def body() -> None:
        book = PresenceBook()
        book.update(ASTERISK, "away", "back soon", resource="r")
        with pytest.raises(GtalkTimeout) as info:
            await book.wait(ASTERISK, lambda p: p.show == "dnd", "was not dnd", 0.05)
        assert "asterisk@gmail.test was not dnd within 0.05 s" in str(info.value)
        assert "last seen: away 'back soon'" in str(info.value)

    run(body)


# --- subscription answers -----------------------------------------------------------------


def test_subscription_answers() -> None:
    async def body() -> None:
        answers = SubscriptionAnswers()
        waiter = asyncio.create_task(answers.wait(ASTERISK, 2))
        await asyncio.sleep(0)
        answers.record(ASTERISK + "/asterisk-xmpp", True)
        assert await waiter is True
        answers.record("bob@gmail.test", False)
        assert await answers.wait("bob@gmail.test", 1) is False
        answers.forget(ASTERISK)
        with pytest.raises(GtalkTimeout, match="did not answer the subscription request"):
            await answers.wait(ASTERISK, 0.05)

    run(body)


# --- the loop thread and the user, without a server --------------------------------------


def test_loop_thread_lets_a_coroutines_own_timeout_through() -> None:
    # concurrent.futures.TimeoutError is the builtin TimeoutError since 3.11, as is
    # GtalkTimeout: the coroutine's message must not be replaced by the loop's.
    thread = _LoopThread("test")
    try:

        async def times_out() -> None:
            raise GtalkTimeout("no message from asterisk@gmail.test within 0.1 s")

        with pytest.raises(GtalkTimeout, match="no message from asterisk"):
            thread.call(times_out(), 0.1)

        async def answer() -> int:
            return 42

        assert thread.call(answer(), 1) == 42
    finally:
        thread.stop()


def test_the_api_needs_a_session() -> None:
    sara = GtalkUser(SARA, "sara-xmpp", log=None)
    with pytest.raises(RuntimeError, match="not connected"):
        sara.send(ASTERISK, "hello")
    with pytest.raises(RuntimeError, match="not connected"):
        sara.wait_message(ASTERISK, 0.1)
    assert sara.received() == [] and sara.transcript() == []
    sara.disconnect()  # harmless


def test_bad_arguments_are_local_errors() -> None:
    with pytest.raises(ValueError):
        GtalkUser("gmail.test", "x")
    with pytest.raises(ValueError):
        GtalkUser(SARA, "x", show="unavailable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connect_refused_names_host_port_and_jid() -> None:
    port = free_port()
    # Another session of the same user (the callflow suite's) may be running: only a
    # thread this connect started must be gone.
    before = set(threading.enumerate())
    sara = GtalkUser(SARA, "sara-xmpp", "127.0.0.1", port, log=None)
    with pytest.raises(GtalkConnectError) as info:
        sara.connect(timeout=3)
    assert f"cannot connect sara@gmail.test to 127.0.0.1:{port}" in str(info.value)
    assert not isinstance(info.value, GtalkAuthError)
    assert not sara.connected
    assert not [t for t in set(threading.enumerate()) - before if t.name == f"gtalk-{SARA}"]
    with pytest.raises(RuntimeError, match="one session"):
        sara.connect()


SERVER_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='t1' from='gmail.test' version='1.0'>"
)
FEATURES_PLAIN = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
)


def read_until(conn: socket.socket, marker: bytes, limit: float = 3.0) -> bytes:
    conn.settimeout(limit)
    data = b""
    while marker not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def read_stream_header(conn: socket.socket) -> bytes:
    data = read_until(conn, b"<stream:stream")
    while not data.rstrip().endswith(b">"):
        data += conn.recv(4096)
    return data


@contextmanager
def scripted_server(script: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection TCP server on loopback that plays ``script``."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            try:
                script(conn)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()
        thread.join(5)


def test_wrong_password_is_an_authentication_failure() -> None:
    auth_seen: list[bytes] = []

    def reject(conn: socket.socket) -> None:
        read_stream_header(conn)
        conn.sendall(SERVER_HEADER + FEATURES_PLAIN)
        auth_seen.append(read_until(conn, b"</auth>"))
        conn.sendall(
            b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
        )

    with scripted_server(reject) as port:
        sara = GtalkUser(SARA, "wrong", "127.0.0.1", port, log=None)
        with pytest.raises(GtalkAuthError) as info:
            sara.connect(timeout=3)
    assert str(info.value) == (
        f"authentication failed for sara@gmail.test at 127.0.0.1:{port} (SASL not-authorized)"
    )
    assert b'mechanism="PLAIN"' in auth_seen[0]  # PLAIN over plain TCP, as configured
    sent = [r for r in sara.transcript() if r.direction == "out" and "<auth" in r.xml]
    assert sent and "(redacted)" in sent[0].xml


def test_no_plain_offered_is_an_authentication_failure_that_says_why() -> None:
    def scram_only(conn: socket.socket) -> None:
        read_stream_header(conn)
        conn.sendall(
            SERVER_HEADER + b"<stream:features><mechanisms "
            b"xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>"
            b"</mechanisms></stream:features>"
        )
        read_until(conn, b"</stream:stream>")

    with (
        scripted_server(scram_only) as port,
        pytest.raises(GtalkAuthError, match="no SASL mechanism usable without TLS") as info,
    ):
        GtalkUser(SARA, "sara-xmpp", "127.0.0.1", port, log=None).connect(timeout=3)
    assert f"sara@gmail.test at 127.0.0.1:{port}" in str(info.value)


def test_a_stream_error_is_reported_with_its_condition() -> None:
    def host_unknown(conn: socket.socket) -> None:
        read_stream_header(conn)
        conn.sendall(
            SERVER_HEADER + b"<stream:error><host-unknown "
            b"xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
        )

    with (
        scripted_server(host_unknown) as port,
        pytest.raises(GtalkConnectError, match="host-unknown") as info,
    ):
        GtalkUser(SARA, "sara-xmpp", "127.0.0.1", port, log=None).connect(timeout=3)
    assert f"127.0.0.1:{port} refused the XMPP stream of sara@gmail.test" in str(info.value)


def test_a_server_that_closes_at_once() -> None:
    with (
        scripted_server(lambda conn: None) as port,
        pytest.raises(GtalkConnectError, match="closed the connection of sara@gmail.test"),
    ):
        GtalkUser(SARA, "sara-xmpp", "127.0.0.1", port, log=None).connect(timeout=3)


def test_a_server_that_never_answers_times_out() -> None:
    release = threading.Event()

    def silent(conn: socket.socket) -> None:
        read_stream_header(conn)
        release.wait(5)

    with scripted_server(silent) as port:
        try:
            with pytest.raises(GtalkConnectError, match="no XMPP session") as info:
                GtalkUser(SARA, "sara-xmpp", "127.0.0.1", port, log=None).connect(timeout=0.3)
        finally:
            release.set()
    assert "within 0.3 s" in str(info.value)
    assert isinstance(info.value, GtalkError)
