"""The Google Talk user of the seed ("Configure Asterisk for Google Talk", the [from-gtalk]
IVR and its [directory] ... [conf-center] menus): an XMPP client bot on slixmpp.

It runs on the host, inside the tests, against the xmpp service's published port (Prosody,
containers/xmpp/), over plain TCP with SASL PLAIN as the private Prosody configuration
offers it. Tests are synchronous, so :class:`GtalkUser` keeps an asyncio loop in a
background thread and offers blocking calls::

    with GtalkUser("sara@gmail.test", "sara-xmpp", "127.0.0.1", 15222) as sara:
        sara.subscribe("asterisk@gmail.test")
        assert sara.presence_of("asterisk@gmail.test").status == "How can we help?"
        menu = sara.messages_until("asterisk@gmail.test", lambda m: m.startswith("5 -"))
        sara.send("asterisk@gmail.test", "4")

Jingle calls (XEP-0166/0167/0176) in and out: ``sara.call(jid)``, ``sara.wait_incoming()``,
``sara.meet_incoming(Answering("decline"))``, ``sara.hangup(call)``; media over ICE-UDP
(aioice) at ``sara.media_address``, RTP PCMU every 20 ms.

Modules: ``user`` (the facade), ``session`` (one session on the loop: slixmpp's events in,
the user's stanzas out), ``jingle`` (Jingle elements, sans I/O), ``phone`` (Jingle sessions
on the loop), ``media`` (ICE and RTP), ``client`` (the slixmpp settings and the sign-in
outcome),
``inbox`` (messages and waiting for them), ``presence`` and ``roster`` (contacts' presence,
subscription answers), ``loop`` (the background loop), ``errors``, ``jid``, ``transcript``,
``log``, ``waiters``.
"""

from harness.gtalk.errors import (
    GtalkAuthError,
    GtalkConnectError,
    GtalkDeliveryError,
    GtalkDisconnected,
    GtalkError,
    GtalkTimeout,
    connect_failure,
)
from harness.gtalk.inbox import Inbox, ReceivedMessage, Until, describe_until, until_done
from harness.gtalk.jid import bare_jid
from harness.gtalk.log import LogFn, stdout_log
from harness.gtalk.loop import LoopThread
from harness.gtalk.phone import Answering, JingleCall
from harness.gtalk.presence import SHOWS, OwnPresence, Presence, PresenceBook, presence_show
from harness.gtalk.roster import SubscriptionAnswers
from harness.gtalk.transcript import StanzaRecord, redact
from harness.gtalk.user import DEFAULT_TIMEOUT, GtalkUser

__all__ = [
    "DEFAULT_TIMEOUT",
    "Answering",
    "JingleCall",
    "SHOWS",
    "GtalkAuthError",
    "GtalkConnectError",
    "GtalkDeliveryError",
    "GtalkDisconnected",
    "GtalkError",
    "GtalkTimeout",
    "GtalkUser",
    "Inbox",
    "LogFn",
    "LoopThread",
    "OwnPresence",
    "Presence",
    "PresenceBook",
    "ReceivedMessage",
    "StanzaRecord",
    "SubscriptionAnswers",
    "Until",
    "bare_jid",
    "connect_failure",
    "describe_until",
    "presence_show",
    "redact",
    "stdout_log",
    "until_done",
]
