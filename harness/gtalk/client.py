"""The slixmpp client for the private Prosody, and the outcome of signing in with it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import slixmpp

from harness.gtalk.errors import connect_failure


@dataclass(frozen=True)
class Login:
    """Who signs in (bare JID, password, resource) and where (the server's host and port)."""

    jid: str
    password: str
    host: str
    port: int
    resource: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def prosody_client(login: Login, loop: asyncio.AbstractEventLoop) -> slixmpp.ClientXMPP:
    """A client that signs in over plain TCP with SASL PLAIN."""
    client = slixmpp.ClientXMPP(f"{login.jid}/{login.resource}", login.password, loop=loop)
    # Prosody 0.12 in the private configuration offers no TLS and plain authentication
    # only; slixmpp 1.17 signs in there only with plaintext enabled, STARTTLS and direct
    # TLS disabled, and PLAIN allowed without encryption (the feature_mechanisms plugin's
    # unencrypted_plain).
    client.enable_plaintext = True
    client.enable_starttls = False
    client.enable_direct_tls = False
    client.plugin["feature_mechanisms"].unencrypted_plain = True
    client.register_plugin("xep_0030")  # disco: res_xmpp asks buddies for capabilities
    client.register_plugin("xep_0199")  # ping
    # XEP-0115 caps in every presence: res_xmpp asks a resource's disco#info only when its
    # presence carries caps, and chan_motif calls only a resource that says Jingle there.
    client.register_plugin("xep_0115")
    return client


class SignIn:
    """How one ``connect`` ends: ``outcome`` gets the session, or the connect failure that
    slixmpp's events (refused TCP, stream error, refused SASL, early close) describe."""

    def __init__(self, login: Login, loop: asyncio.AbstractEventLoop) -> None:
        self.login = login
        self.outcome: asyncio.Future[None] = loop.create_future()
        self._sasl_detail: list[str] = []

    def succeed(self) -> None:
        if not self.outcome.done():
            self.outcome.set_result(None)

    def fail(self, kind: str, detail: str = "") -> None:
        if not self.outcome.done():
            login = self.login
            self.outcome.set_exception(
                connect_failure(kind, login.jid, login.host, login.port, detail)
            )

    def watch(self, client: slixmpp.ClientXMPP) -> None:
        """Listen to the client's sign-in failures."""
        client.add_event_handler("failed_auth", self._on_failed_auth)
        client.add_event_handler("failed_all_auth", self._on_failed_all_auth)
        client.add_event_handler("connection_failed", lambda err: self.fail("refused", str(err)))
        client.add_event_handler(
            "stream_error", lambda err: self.fail("stream-error", str(err["condition"]))
        )

    def _on_failed_auth(self, stanza: Any) -> None:
        self._sasl_detail.append(f"SASL {stanza['condition']}")

    def _on_failed_all_auth(self, _event: Any) -> None:
        # Also comes when no offered mechanism was usable (nothing tried).
        if self._sasl_detail:
            self.fail("auth", ", ".join(self._sasl_detail))
        else:
            self.fail("no-mechanism")
