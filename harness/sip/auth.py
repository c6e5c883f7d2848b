"""HTTP digest authentication as SIP uses it (RFC 3261 22.4, RFC 2617, RFC 7616, RFC 8760).

Algorithms MD5, MD5-sess, SHA-256 and SHA-256-sess; qop ``auth``, ``auth-int`` or none
(RFC 2069 compatibility). Values are header *values*: put them in WWW-Authenticate /
Proxy-Authenticate (challenges) and Authorization / Proxy-Authorization (credentials).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from harness.sip._syntax import quote, read_quoted, split_top_level
from harness.sip.errors import SipParseError, SipUsageError

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _hash(algorithm: str, text: str | bytes) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    func = _HASHES.get(base)
    if func is None:
        raise SipUsageError(f"unsupported digest algorithm {algorithm!r}")
    data = text.encode("utf-8") if isinstance(text, str) else text
    return func(data).hexdigest()


def _parse_auth_params(value: str, what: str) -> tuple[str, dict[str, str]]:
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if not scheme or not rest.strip():
        raise SipParseError(f"{what}: expected 'Digest name=value, ...' in {value!r}")
    params: dict[str, str] = {}
    for item in split_top_level(rest, ","):
        item = item.strip()
        if not item:
            continue
        name, sep, val = item.partition("=")
        name, val = name.strip(), val.strip()
        if not sep or not name:
            raise SipParseError(f"{what}: bad parameter {item!r}")
        if val.startswith('"'):
            content, end = read_quoted(val, 0)
            if end != len(val):
                raise SipParseError(f"{what}: text after quoted value of {name!r}")
            val = content
        params[name.lower()] = val
    return scheme, params


@dataclass
class Challenge:
    """A WWW-Authenticate / Proxy-Authenticate value."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: list[str] = field(default_factory=list)
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    scheme: str = "Digest"
    #: every parameter, names lower-case, values unquoted
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.domain is not None:
            parts.append(f"domain={quote(self.domain)}")
        if self.stale:
            parts.append("stale=TRUE")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        return f"{self.scheme} " + ", ".join(parts)


@dataclass
class Authorization:
    """An Authorization / Proxy-Authorization value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None
    scheme: str = "Digest"
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
            f"response={quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.cnonce is not None:
            parts.append(f"cnonce={quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        return f"{self.scheme} " + ", ".join(parts)


def parse_challenge(value: str) -> Challenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value (Digest only)."""
    scheme, params = _parse_auth_params(value, "challenge")
    if scheme.lower() != "digest":
        raise SipParseError(f"challenge: unsupported scheme {scheme!r}")
    for required in ("realm", "nonce"):
        if required not in params:
            raise SipParseError(f"challenge: missing {required}")
    qop = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=params.get("algorithm", "MD5"),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        domain=params.get("domain"),
        scheme=scheme,
        params=params,
    )


def parse_authorization(value: str) -> Authorization:
    """Parse an Authorization / Proxy-Authorization value (Digest only)."""
    scheme, params = _parse_auth_params(value, "authorization")
    if scheme.lower() != "digest":
        raise SipParseError(f"authorization: unsupported scheme {scheme!r}")
    for required in ("username", "realm", "nonce", "uri", "response"):
        if required not in params:
            raise SipParseError(f"authorization: missing {required}")
    return Authorization(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"],
        algorithm=params.get("algorithm", "MD5"),
        cnonce=params.get("cnonce"),
        nc=params.get("nc"),
        qop=params.get("qop"),
        opaque=params.get("opaque"),
        scheme=scheme,
        params=params,
    )


def compute_ha1(
    algorithm: str, username: str, realm: str, password: str, nonce: str, cnonce: str | None
) -> str:
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    if algorithm.lower().endswith("-sess"):
        if cnonce is None:
            raise SipUsageError(f"{algorithm} needs a cnonce")
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    return ha1


def compute_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    cnonce: str | None,
    nc: str | None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (request-digest) from an already computed HA1."""
    if qop == "auth-int":
        ha2 = _hash(algorithm, f"{method}:{uri}:{_hash(algorithm, body)}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop:
        if cnonce is None or nc is None:
            raise SipUsageError("qop needs cnonce and nc")
        return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")


def _choose_qop(offered: list[str]) -> str | None:
    if not offered:
        return None
    for choice in ("auth", "auth-int"):
        if choice in offered:
            return choice
    raise SipUsageError(f"unsupported qop {','.join(offered)!r}")


def build_authorization(
    challenge: Challenge | str,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int | str = 1,
    *,
    body: bytes = b"",
) -> str:
    """The Authorization (or Proxy-Authorization) value answering ``challenge``.

    ``uri`` is the Request-URI as sent; ``nc`` an int (formatted ``%08x``) or the
    8-hex-digit text; ``cnonce`` is generated when None and the challenge offers qop.
    qop ``auth`` is preferred over ``auth-int``.
    """
    if isinstance(challenge, str):
        challenge = parse_challenge(challenge)
    qop = _choose_qop(challenge.qop)
    nc_text: str | None = None
    is_sess = challenge.algorithm.lower().endswith("-sess")
    if qop is not None or is_sess:
        cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
    if qop is not None:
        nc_text = f"{nc:08x}" if isinstance(nc, int) else nc
    ha1 = compute_ha1(
        challenge.algorithm, username, challenge.realm, password, challenge.nonce, cnonce
    )
    response = compute_response(
        algorithm=challenge.algorithm,
        ha1=ha1,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        cnonce=cnonce,
        nc=nc_text,
        body=body,
    )
    auth = Authorization(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        cnonce=cnonce if qop is not None or is_sess else None,
        nc=nc_text,
        qop=qop,
        opaque=challenge.opaque,
    )
    return str(auth)


def verify(
    authorization: Authorization | str,
    method: str,
    password: str,
    *,
    realm: str | None = None,
    nonce: str | None = None,
    body: bytes = b"",
) -> bool:
    """True if ``authorization`` carries the right response for ``password``.

    With ``realm`` / ``nonce`` given, the credentials must also name that realm / nonce
    (the nonce the server issued). Malformed credentials verify as False.
    """
    try:
        if isinstance(authorization, str):
            authorization = parse_authorization(authorization)
        if realm is not None and authorization.realm != realm:
            return False
        if nonce is not None and authorization.nonce != nonce:
            return False
        ha1 = compute_ha1(
            authorization.algorithm,
            authorization.username,
            authorization.realm,
            password,
            authorization.nonce,
            authorization.cnonce,
        )
        expected = compute_response(
            algorithm=authorization.algorithm,
            ha1=ha1,
            nonce=authorization.nonce,
            method=method,
            uri=authorization.uri,
            qop=authorization.qop,
            cnonce=authorization.cnonce,
            nc=authorization.nc,
            body=body,
        )
    except (SipParseError, SipUsageError):
        return False
    return hmac.compare_digest(expected, authorization.response.lower())


def new_nonce() -> str:
    return secrets.token_hex(16)


def make_challenge(
    realm: str,
    nonce: str | None = None,
    *,
    algorithm: str = "MD5",
    qop: str | None = "auth",
    opaque: str | None = None,
    stale: bool = False,
) -> str:
    """A WWW-Authenticate / Proxy-Authenticate value (for the simulators)."""
    return str(
        Challenge(
            realm=realm,
            nonce=nonce or new_nonce(),
            algorithm=algorithm,
            qop=[qop] if qop else [],
            opaque=opaque,
            stale=stale,
        )
    )


__all__ = [
    "Authorization",
    "Challenge",
    "build_authorization",
    "compute_ha1",
    "compute_response",
    "make_challenge",
    "new_nonce",
    "parse_authorization",
    "parse_challenge",
    "verify",
]
