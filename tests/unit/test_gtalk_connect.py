"""The Google Talk user bot (harness/gtalk/) without an XMPP server: its loop thread, the
API without a session, and the connect failures against scripted loopback sockets. The bot
against the real Prosody is checked with the xmpp container, not here (unit tests must not
need Docker)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest

from harness.gtalk import (
    GtalkAuthError,
    GtalkConnectError,
    GtalkError,
    GtalkTimeout,
    GtalkUser,
    LoopThread,
)

ASTERISK = "asterisk@gmail.test"
SARA = "sara@gmail.test"

E = TypeVar("E", bound=GtalkError)


# --- the loop thread and the user, without a server --------------------------------------


def test_loop_thread_lets_a_coroutines_own_timeout_through() -> None:
    # concurrent.futures.TimeoutError is the builtin TimeoutError since 3.11, as is
    # GtalkTimeout: the coroutine's message must not be replaced by the loop's.
    thread = LoopThread("test")
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
        port: int = s.getsockname()[1]
        return port


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


def features(mechanism: bytes) -> bytes:
    return (
        b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        b"<mechanism>" + mechanism + b"</mechanism></mechanisms></stream:features>"
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


def answer_stream(conn: socket.socket, first: bytes) -> None:
    """Read the client's stream header, then open ours with ``first`` in it."""
    read_stream_header(conn)
    conn.sendall(SERVER_HEADER + first)


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


def failed_connect(
    script: Callable[[socket.socket], None],
    error: type[E],
    match: str | None = None,
    password: str = "sara-xmpp",
) -> tuple[E, int, GtalkUser]:
    """Sara's connect to a server playing ``script``, which must raise ``error`` (matching
    ``match``): that error, the server's port, and Sara."""
    with scripted_server(script) as port:
        sara = GtalkUser(SARA, password, "127.0.0.1", port, log=None)
        with pytest.raises(error, match=match) as info:
            sara.connect(timeout=3)
    return info.value, port, sara


def test_wrong_password_is_an_authentication_failure() -> None:
    auth_seen: list[bytes] = []

    def reject(conn: socket.socket) -> None:
        answer_stream(conn, features(b"PLAIN"))
        auth_seen.append(read_until(conn, b"</auth>"))
        conn.sendall(
            b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
        )

    error, port, sara = failed_connect(reject, GtalkAuthError, password="wrong")
    assert str(error) == (
        f"authentication failed for sara@gmail.test at 127.0.0.1:{port} (SASL not-authorized)"
    )
    assert b'mechanism="PLAIN"' in auth_seen[0]  # PLAIN over plain TCP, as configured
    sent = [r for r in sara.transcript() if r.direction == "out" and "<auth" in r.xml]
    assert sent and "(redacted)" in sent[0].xml


def test_no_plain_offered_is_an_authentication_failure_that_says_why() -> None:
    def scram_only(conn: socket.socket) -> None:
        answer_stream(conn, features(b"SCRAM-SHA-1"))
        read_until(conn, b"</stream:stream>")

    error, port, _ = failed_connect(
        scram_only, GtalkAuthError, match="no SASL mechanism usable without TLS"
    )
    assert f"sara@gmail.test at 127.0.0.1:{port}" in str(error)


def test_a_stream_error_is_reported_with_its_condition() -> None:
    def host_unknown(conn: socket.socket) -> None:
        answer_stream(
            conn,
            b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            b"</stream:error></stream:stream>",
        )

    error, port, _ = failed_connect(host_unknown, GtalkConnectError, match="host-unknown")
    assert f"127.0.0.1:{port} refused the XMPP stream of sara@gmail.test" in str(error)


def test_a_server_that_closes_at_once() -> None:
    failed_connect(
        lambda conn: None, GtalkConnectError, match="closed the connection of sara@gmail.test"
    )


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
