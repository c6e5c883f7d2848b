"""Which transaction a message belongs to (RFC 3261 17.1.3, 17.2.3, 9.2), and the table.

Client side: a response matches the client transaction whose request had the same top
Via branch and whose method is the response's CSeq method (17.1.3).

Server side: a request matches by top Via branch, sent-by and method, ACK matching its
INVITE (17.2.3); a request whose branch lacks the ``z9hG4bK`` magic cookie comes from an
RFC 2543 peer and matches by Call-ID, From tag, CSeq number, method and the whole top Via
(17.2.3, second part). A CANCEL finds the INVITE it cancels by the same key with the
method INVITE (9.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response
from harness.sip.transport import top_via

MAGIC_COOKIE = "z9hG4bK"

ClientKey = tuple[str, str]
ServerKey = tuple[str, ...]


def client_key(message: Request | Response) -> ClientKey | None:
    """(branch, method) of a request sent or a response received; None when the CSeq is
    unreadable. An ACK belongs with its INVITE."""
    if isinstance(message, Request):
        method = message.method
    else:
        try:
            method = message.cseq[1]
        except SipParseError:
            return None
    return (message.via_branch or "", "INVITE" if method == "ACK" else method)


def server_key(request: Request, method: str | None = None) -> ServerKey:
    """RFC 3261 17.2.3: branch + sent-by + method (ACK and INVITE share one), or for
    RFC 2543 peers (no magic cookie) Call-ID, From tag, CSeq number, method, top Via.
    ``method`` replaces the request's own (CANCEL looks for its INVITE)."""
    wanted = method or request.method
    wanted = "INVITE" if wanted == "ACK" else wanted
    via = top_via(request.headers)
    branch = via.branch if via is not None else None
    if via is not None and branch and branch.startswith(MAGIC_COOKIE):
        return ("3261", branch, via.sent_by.lower(), wanted)
    try:
        number = str(request.cseq[0])
        from_tag = request.from_tag or ""
    except SipParseError:
        number, from_tag = "?", ""
    return (
        "2543",
        request.call_id or "",
        from_tag,
        number,
        wanted,
        str(via) if via is not None else "",
    )


def cancel_target_key(cancel: Request) -> ServerKey:
    """The key of the INVITE server transaction a CANCEL refers to (9.2)."""
    return server_key(cancel, "INVITE")


class Keyed(Protocol):
    @property
    def key(self) -> tuple[str, ...]: ...


C = TypeVar("C", bound=Keyed)
S = TypeVar("S", bound=Keyed)


class TransactionTable(Generic[C, S]):
    """Live client and server transactions by key. The items are whatever the caller
    keeps per transaction (anything with a ``key``): the sans-I/O machines, or a driver's
    objects wrapping them."""

    def __init__(self) -> None:
        self._client: dict[tuple[str, ...], C] = {}
        self._server: dict[tuple[str, ...], S] = {}

    def add_client(self, txn: C) -> None:
        self._client[txn.key] = txn

    def add_server(self, txn: S) -> None:
        self._server[txn.key] = txn

    def match_response(self, response: Response) -> C | None:
        key = client_key(response)
        return self._client.get(key) if key is not None else None

    def match_request(self, request: Request) -> S | None:
        """The server transaction of a retransmitted request, or of the ACK of a non-2xx
        final response (the ACK of a 2xx has a new branch and matches none)."""
        return self._server.get(server_key(request))

    def find_invite(self, cancel: Request) -> S | None:
        return self._server.get(cancel_target_key(cancel))

    def remove_client(self, txn: C) -> None:
        if self._client.get(txn.key) is txn:
            del self._client[txn.key]

    def remove_server(self, txn: S) -> None:
        if self._server.get(txn.key) is txn:
            del self._server[txn.key]

    def clients(self) -> Iterator[C]:
        return iter(list(self._client.values()))

    def servers(self) -> Iterator[S]:
        return iter(list(self._server.values()))

    def __len__(self) -> int:
        return len(self._client) + len(self._server)


__all__ = [
    "MAGIC_COOKIE",
    "ClientKey",
    "ServerKey",
    "TransactionTable",
    "cancel_target_key",
    "client_key",
    "server_key",
]
