"""The Google Talk user bot's parts that need no connection (harness/gtalk/): JIDs, the
inbox, the presence book, subscription answers, error texts, redaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from harness.gtalk import (
    GtalkAuthError,
    GtalkConnectError,
    GtalkDeliveryError,
    GtalkDisconnected,
    GtalkTimeout,
    Inbox,
    PresenceBook,
    SubscriptionAnswers,
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


def on_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """The async test run on a fresh event loop, for 5 s at most."""

    def run() -> None:
        asyncio.run(asyncio.wait_for(test(), 5))

    return run


@on_loop
async def test_inbox_queues_per_sender_in_arrival_order_with_times() -> None:
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


@on_loop
async def test_inbox_get_waits_for_a_later_message() -> None:
    inbox = Inbox()
    waiter = asyncio.create_task(inbox.get(ASTERISK, 2))
    await asyncio.sleep(0)  # let the waiter start waiting
    assert not waiter.done()
    inbox.put("bob@gmail.test", "other sender: does not wake it with a message")
    await asyncio.sleep(0)
    assert not waiter.done()
    inbox.put(ASTERISK, "Thank you for calling Contoso")
    assert (await waiter).body == "Thank you for calling Contoso"


@on_loop
async def test_inbox_timeout_says_what_else_is_queued() -> None:
    inbox = Inbox()
    inbox.put("bob@gmail.test", "hello")
    with pytest.raises(GtalkTimeout) as info:
        await inbox.get(ASTERISK, 0.05)
    assert "no message from asterisk@gmail.test within 0.05 s" in str(info.value)
    assert "bob@gmail.test (1)" in str(info.value)
    assert isinstance(info.value, TimeoutError)


@on_loop
async def test_collect_by_count_and_by_predicate() -> None:
    inbox = Inbox()
    for line in MENU:
        inbox.put(ASTERISK, line)
    two = await inbox.collect(ASTERISK, 2, 1)
    assert [m.body for m in two] == MENU[:2]
    rest = await inbox.collect(ASTERISK, lambda m: m.startswith("5 -"), 1)
    assert [m.body for m in rest] == MENU[2:]
    assert inbox.pending(ASTERISK) == []


@on_loop
async def test_collect_timeout_consumes_nothing_and_lists_what_came() -> None:
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


@on_loop
async def test_a_bounce_raises_in_its_place_in_the_queue() -> None:
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


@on_loop
async def test_close_ends_waiting_at_once() -> None:
    inbox = Inbox()
    waiter = asyncio.create_task(inbox.get(ASTERISK, 5))
    await asyncio.sleep(0)
    inbox.close("the XMPP session of sara@gmail.test ended (End of stream)")
    with pytest.raises(GtalkDisconnected, match="End of stream"):
        await waiter
    with pytest.raises(GtalkDisconnected):
        await inbox.get(ASTERISK, 5)


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


@on_loop
async def test_settle_prefers_available_and_settles_for_unavailable() -> None:
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


@on_loop
async def test_wait_names_the_last_presence_on_timeout() -> None:
    book = PresenceBook()
    book.update(ASTERISK, "away", "back soon", resource="r")
    with pytest.raises(GtalkTimeout) as info:
        await book.wait(ASTERISK, lambda p: p.show == "dnd", "was not dnd", 0.05)
    assert "asterisk@gmail.test was not dnd within 0.05 s" in str(info.value)
    assert "last seen: away 'back soon'" in str(info.value)


# --- subscription answers -----------------------------------------------------------------


@on_loop
async def test_subscription_answers() -> None:
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
