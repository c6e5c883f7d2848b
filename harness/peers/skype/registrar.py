"""Digest authentication and the registrar of the simulated Skype for SIP service.

Sans-I/O (time comes in as ``now``). The seed's Asterisk line
``register => 99051000107808:<password>@sip.skype.com/99051000107808`` registers the SIP
profile with a user name and password; ``Registrar.register`` answers such a REGISTER:

- no credentials (or credentials for another realm): 401 with
  ``WWW-Authenticate: Digest realm="sip.skype.com", nonce="...", algorithm=MD5, qop="auth"``;
- a nonce this service did not issue (or one older than ``NONCE_TTL_S``) but the right
  password: 401 again with ``stale=TRUE``;
- an unknown user name (in the credentials or the To header): 404 Not Found;
- the wrong password: 403 Forbidden;
- credentials of one profile for another profile's address of record: 403 Forbidden;
- otherwise 200 OK listing every binding of the address of record with its
  ``;expires=`` (granted: min(requested, max_expires); requested from the Contact's
  ``expires`` parameter, else the Expires header, else 3600).
  ``Expires: 0`` removes the binding, ``Contact: *`` with ``Expires: 0`` all of them.

Every REGISTER that reaches a final answer is kept in ``history`` (time, contact,
expires requested and granted, status), so that a test can check that a refresh came
before the previous registration expired.
"""

from __future__ import annotations

import email.utils
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.sip.auth import Challenge, parse_authorization, verify
from harness.sip.errors import SipParseError
from harness.sip.message import Request
from harness.sip.uri import SipUri, parse_name_addrs

NONCE_TTL_S = 300.0
DEFAULT_EXPIRES = 3600


# -- digest ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthResult:
    """``kind``: ok, missing, stale, unknown_user, bad_password, malformed."""

    kind: str
    username: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class DigestAuthority:
    """Issues nonces and checks credentials for one realm and a set of users."""

    def __init__(self, realm: str, users: dict[str, str], clock: Callable[[], float] = time.time):
        self.realm = realm
        self.users = dict(users)
        self._clock = clock
        self._nonces: dict[str, float] = {}

    def challenge(self, stale: bool = False) -> str:
        now = self._clock()
        self._nonces = {n: t for n, t in self._nonces.items() if now - t < NONCE_TTL_S}
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = now
        return str(
            Challenge(realm=self.realm, nonce=nonce, algorithm="MD5", qop=["auth"], stale=stale)
        )

    def check(self, request: Request, header: str) -> AuthResult:
        """Check the ``header`` (Authorization or Proxy-Authorization) credentials of
        ``request`` for this realm."""
        values = request.headers.get_all(header)
        mine = []
        for value in values:
            try:
                auth = parse_authorization(value)
            except SipParseError as exc:
                return AuthResult("malformed", detail=exc.reason)
            if auth.realm == self.realm:
                mine.append(auth)
        if not mine:
            return AuthResult("missing")
        auth = mine[0]
        password = self.users.get(auth.username)
        if password is None:
            return AuthResult("unknown_user", auth.username, f"no SIP profile {auth.username!r}")
        if auth.algorithm.upper() != "MD5":
            return AuthResult("malformed", auth.username, f"algorithm {auth.algorithm} refused")
        right = verify(auth, request.method, password, realm=self.realm)
        issued = self._nonces.get(auth.nonce)
        fresh = issued is not None and self._clock() - issued < NONCE_TTL_S
        if not right:
            return AuthResult("bad_password", auth.username, "digest response does not match")
        if not fresh:
            return AuthResult("stale", auth.username, "nonce not issued here or expired")
        return AuthResult("ok", auth.username)


# -- registrations --------------------------------------------------------------------------


@dataclass
class Binding:
    aor: str
    contact: str  # the Contact URI as registered
    expires_at: float
    registered_at: float
    source: str
    call_id: str
    cseq: int

    def remaining(self, now: float) -> int:
        return max(0, round(self.expires_at - now))


@dataclass
class RegistrationRecord:
    t: float
    status: int
    reason: str
    aor: str | None
    username: str | None
    contact: str | None
    expires_requested: int | None
    expires_granted: int | None
    expires_at: float | None
    source: str
    call_id: str
    cseq: int | None
    user_agent: str | None
    refresh: bool = False  # the contact was already bound
    refreshed_before_expiry: bool | None = None  # for a refresh: did it beat the expiry?
    previous_expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RegisterOutcome:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    warning: str | None = None
    record: RegistrationRecord | None = None


def _contact_key(uri: SipUri) -> str:
    """What makes two Contacts the same binding: scheme, user, host, port, transport."""
    transport = uri.transport or "udp"
    return f"{uri.scheme}:{uri.user or ''}@{uri.host.lower()}:{uri.port or 5060};{transport}"


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


class Registrar:
    def __init__(self, authority: DigestAuthority, domain: str) -> None:
        self.authority = authority
        self.domain = domain
        self.bindings: dict[str, dict[str, Binding]] = {}  # aor user -> key -> binding
        self.history: list[RegistrationRecord] = []

    def current(self, now: float) -> list[Binding]:
        self._expire(now)
        return [b for per_aor in self.bindings.values() for b in per_aor.values()]

    def binding_for(self, user: str, now: float) -> Binding | None:
        self._expire(now)
        found = list(self.bindings.get(user, {}).values())
        return max(found, key=lambda b: b.registered_at) if found else None

    def clear(self) -> None:
        self.bindings.clear()
        self.history.clear()

    def successful(self) -> int:
        """How many REGISTERs got a 200 that bound or refreshed a contact."""
        return sum(1 for r in self.history if r.status == 200 and (r.expires_granted or 0) > 0)

    def history_json(self, everything: bool = False) -> list[dict[str, Any]]:
        """The successful registrations, or every REGISTER answered, oldest first."""
        return [
            r.to_json()
            for r in self.history
            if everything or (r.status == 200 and (r.expires_granted or 0) > 0)
        ]

    def bindings_json(self, now: float) -> list[dict[str, Any]]:
        return [
            {
                "aor": b.aor,
                "contact": b.contact,
                "expires_in": b.remaining(now),
                "expires_at": b.expires_at,
                "registered_at": b.registered_at,
                "source": b.source,
                "call_id": b.call_id,
                "cseq": b.cseq,
            }
            for b in self.current(now)
        ]

    def forget(self) -> int:
        """Forget bindings and history; how many registrations were forgotten."""
        count = len(self.history)
        self.clear()
        return count

    def _expire(self, now: float) -> None:
        for user in list(self.bindings):
            live = {k: b for k, b in self.bindings[user].items() if b.expires_at > now}
            if live:
                self.bindings[user] = live
            else:
                del self.bindings[user]

    def register(
        self, request: Request, source: str, now: float, max_expires: int, min_expires: int | None
    ) -> RegisterOutcome:
        self._expire(now)
        auth = self.authority.check(request, "Authorization")
        to = request.to_addr
        aor_user = None
        if to is not None and to.uri.scheme in ("sip", "sips"):
            aor_user = to.uri.user
        base: dict[str, Any] = {
            "t": now,
            "aor": str(to.uri.aor) if to is not None else None,
            "username": auth.username,
            "source": source,
            "call_id": request.call_id or "",
            "cseq": _safe_cseq(request),
            "user_agent": request.headers.get("User-Agent"),
        }

        def done(
            status: int,
            reason: str,
            headers: list[tuple[str, str]] | None = None,
            warning: str | None = None,
            **fields: Any,
        ) -> RegisterOutcome:
            values: dict[str, Any] = {
                "contact": None,
                "expires_requested": None,
                "expires_granted": None,
                "expires_at": None,
            }
            values.update(fields)
            record = RegistrationRecord(status=status, reason=reason, **base, **values)
            self.history.append(record)
            return RegisterOutcome(status, headers or [], warning, record)

        if auth.kind in ("missing", "stale"):
            challenge = self.authority.challenge(stale=auth.kind == "stale")
            return done(
                401,
                "challenge" + (" (stale nonce)" if auth.kind == "stale" else ""),
                [("WWW-Authenticate", challenge)],
            )
        if auth.kind == "malformed":
            return done(400, auth.detail, warning=f"Bad Authorization: {auth.detail}")
        if auth.kind == "unknown_user":
            return done(404, auth.detail, warning="Unknown SIP profile")
        if auth.kind == "bad_password":
            return done(403, "wrong password", warning="Authentication failed")
        if aor_user is None or aor_user not in self.authority.users:
            return done(404, f"no SIP profile {aor_user!r}", warning="Unknown SIP profile")
        if aor_user != auth.username:
            return done(
                403,
                f"{auth.username} may not register {aor_user}",
                warning="Credentials do not match the address of record",
            )

        contacts = request.headers.values("Contact")
        header_expires = _int(request.headers.get("Expires"))
        if contacts == ["*"]:
            if header_expires != 0:
                return done(400, "Contact: * needs Expires: 0", warning="Contact * needs Expires 0")
            self.bindings.pop(aor_user, None)
            return done(
                200,
                "all bindings removed",
                [("Date", _date(now))],
                expires_requested=0,
                expires_granted=0,
            )
        try:
            parsed = [parse_name_addrs(c)[0] for c in contacts]
        except (SipParseError, IndexError) as exc:
            return done(400, f"bad Contact: {exc}", warning="Bad Contact")
        per_aor = self.bindings.setdefault(aor_user, {})
        record_fields: dict[str, Any] = {}
        for addr in parsed:
            requested = _int(addr.param("expires"))
            if requested is None:
                requested = header_expires if header_expires is not None else DEFAULT_EXPIRES
            key = _contact_key(addr.uri)
            previous = per_aor.get(key)
            if requested == 0:
                per_aor.pop(key, None)
                record_fields = {
                    "contact": str(addr.uri),
                    "expires_requested": 0,
                    "expires_granted": 0,
                    "expires_at": now,
                }
                continue
            if min_expires is not None and requested < min_expires:
                return done(
                    423,
                    f"expires {requested} < {min_expires}",
                    [("Min-Expires", str(min_expires))],
                    contact=str(addr.uri),
                    expires_requested=requested,
                )
            granted = min(requested, max_expires)
            per_aor[key] = Binding(
                aor_user,
                str(addr.uri),
                now + granted,
                now,
                source,
                request.call_id or "",
                _safe_cseq(request) or 0,
            )
            record_fields = {
                "contact": str(addr.uri),
                "expires_requested": requested,
                "expires_granted": granted,
                "expires_at": now + granted,
                "refresh": previous is not None,
                "refreshed_before_expiry": (
                    None if previous is None else previous.expires_at > now
                ),
                "previous_expires_at": previous.expires_at if previous is not None else None,
            }
        if not per_aor:
            self.bindings.pop(aor_user, None)
        headers = [
            ("Contact", f"<{b.contact}>;expires={b.remaining(now)}")
            for b in self.bindings.get(aor_user, {}).values()
        ]
        headers.append(("Date", _date(now)))
        return done(200, "registered" if contacts else "bindings queried", headers, **record_fields)


def _safe_cseq(request: Request) -> int | None:
    try:
        return request.cseq[0]
    except SipParseError:
        return None


def _date(now: float) -> str:
    return email.utils.formatdate(now, usegmt=True)
