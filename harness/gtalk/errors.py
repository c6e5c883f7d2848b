"""The errors of the Google Talk user.

:class:`GtalkError` and its subclasses are what the server or the other party did (refused
login, no answer in time, a bounced message); misuse of the API (calling before ``connect``,
a bad JID) raises ``RuntimeError`` or ``ValueError`` instead.
"""

from __future__ import annotations


class GtalkError(Exception):
    """Something the XMPP server or the other party did (or did not do in time)."""


class GtalkConnectError(GtalkError):
    """No XMPP session: TCP refused, stream closed or refused, no usable SASL mechanism."""


class GtalkAuthError(GtalkConnectError):
    """The server refused the credentials."""


class GtalkTimeout(GtalkError, TimeoutError):
    """An awaited event (message, presence, subscription answer) did not come in time."""


class GtalkDeliveryError(GtalkError):
    """A message came back as an error stanza (e.g. the recipient is not connected)."""


class GtalkDisconnected(GtalkError):
    """The session ended while waiting (server closed the stream, or disconnect())."""


def connect_failure(
    kind: str, jid: str, host: str, port: int, detail: str = ""
) -> GtalkConnectError:
    """The exception for a failed ``connect()``, naming who connected where.

    ``kind``: auth, no-mechanism, refused (TCP), stream-error, closed, timeout."""
    where = f"{host}:{port}"
    extra = f" ({detail})" if detail else ""
    if kind == "auth":
        return GtalkAuthError(f"authentication failed for {jid} at {where}{extra}")
    if kind == "no-mechanism":
        return GtalkAuthError(
            f"authentication failed for {jid} at {where}: no SASL mechanism usable without TLS"
            f" (the server must offer PLAIN: allow_unencrypted_plain_auth){extra}"
        )
    if kind == "refused":
        return GtalkConnectError(f"cannot connect {jid} to {where}{extra}")
    if kind == "stream-error":
        return GtalkConnectError(f"{where} refused the XMPP stream of {jid}{extra}")
    if kind == "closed":
        return GtalkConnectError(
            f"{where} closed the connection of {jid} before the session started{extra}"
        )
    if kind == "timeout":
        return GtalkConnectError(f"no XMPP session for {jid} at {where}{extra}")
    raise ValueError(f"unknown connect failure kind: {kind!r}")
