"""SIP, SIPS and tel URIs, name-addr values (From/To/Contact) and Via values.

Parsing keeps the text as written: ``str()`` of a parsed, unchanged object returns exactly
the parsed text; after a change it is rebuilt from the fields. Parameter names keep their
case and order (``dict`` order); look them up case-insensitively with ``param()``.
Parameter values are kept as written (no percent-decoding, quoted values keep quotes:
``unquote(addr.param("+sip.instance"))`` gives the content).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from harness.sip._syntax import (
    format_params,
    get_param,
    has_param,
    is_token,
    parse_params,
    quote,
    read_quoted,
    split_top_level,
    unquote,
)
from harness.sip.errors import SipParseError

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?\.)*"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?\.?"
)
_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FORBIDDEN_IN_URI = frozenset(' \t\r\n<>"')
SIP_SCHEMES = ("sip", "sips", "tel")


def _check_host(host: str, what: str) -> None:
    if not host:
        raise SipParseError(f"{what}: missing host")
    if host.startswith("["):
        if not host.endswith("]"):
            raise SipParseError(f"{what}: unterminated IPv6 reference {host!r}")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError(f"{what}: bad IPv6 address {host!r}") from None
        return
    if _HOSTNAME_RE.fullmatch(host) is None:
        raise SipParseError(f"{what}: bad host {host!r}")


def split_hostport(text: str, what: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 references in brackets) -> (host as written, port)."""
    text = text.strip(" \t")
    port_text: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"{what}: unterminated IPv6 reference {text!r}")
        host, rest = text[: end + 1], text[end + 1 :].strip(" \t")
        if rest:
            if not rest.startswith(":"):
                raise SipParseError(f"{what}: unexpected {rest!r} after host")
            port_text = rest[1:].strip(" \t")
    elif ":" in text:
        host, port_text = (p.strip(" \t") for p in text.split(":", 1))
    else:
        host = text
    _check_host(host, what)
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or int(port_text) > 65535:
            raise SipParseError(f"{what}: bad port {port_text!r}")
        port = int(port_text)
    return host, port


def format_hostport(host: str, port: int | None) -> str:
    return host if port is None else f"{host}:{port}"


class _WireValue:
    """A value parsed from header text (URI, name-addr, Via): ``str()`` gives back that
    text while the fields are unchanged; its parameters are looked up case-insensitively."""

    params: dict[str, str | None]
    raw: str | None
    #: the state when ``raw`` was parsed (set on the instance; not a dataclass field, so
    #: neither a constructor argument nor compared)
    _snapshot: tuple[object, ...] | None = None

    def _state(self) -> tuple[object, ...]:
        raise NotImplementedError

    def _keep_text(self, raw: str) -> None:
        """Remember ``raw`` as this value's text in its current state (done by parse)."""
        self.raw = raw
        self._snapshot = self._state()

    def _kept_text(self) -> str | None:
        """The parsed text if nothing was changed since, else None."""
        if self.raw is not None and self._snapshot == self._state():
            return self.raw
        return None

    def param(self, name: str) -> str | None:
        """Value of parameter ``name`` (case-insensitive); None if absent or valueless."""
        return get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        return has_param(self.params, name)


@dataclass
class SipUri(_WireValue):
    """A ``sip:``, ``sips:`` or ``tel:`` URI.

    For ``tel:`` the number is in ``user`` and ``host`` is empty. ``host`` is kept as
    written (IPv6 references keep their brackets). ``scheme`` is lower-case.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = field(default=None, compare=False, repr=False)

    def _state(self) -> tuple[object, ...]:
        return (
            self.scheme,
            self.user,
            self.password,
            self.host,
            self.port,
            tuple(self.params.items()),
            tuple(self.headers.items()),
        )

    @classmethod
    def parse(cls, text: str) -> SipUri:
        what = f"URI {text!r}"
        if not text or any(c in _FORBIDDEN_IN_URI for c in text):
            raise SipParseError(f"{what}: empty or contains whitespace, '<', '>' or '\"'")
        if ":" not in text:
            raise SipParseError(f"{what}: no scheme")
        scheme_text, rest = text.split(":", 1)
        scheme = scheme_text.lower()
        if scheme not in SIP_SCHEMES:
            raise SipParseError(f"{what}: scheme '{scheme_text}' is not sip, sips or tel")
        if _ESCAPE_RE.search(rest):
            raise SipParseError(f"{what}: bad %-escape")
        if scheme == "tel":
            number, _, ptext = rest.partition(";")
            if not number or not re.fullmatch(r"\+?[0-9A-Fa-f*#.()\-pPwW]+", number):
                raise SipParseError(f"{what}: bad telephone number {number!r}")
            params = parse_params(";" + ptext, what=what) if ptext else {}
            uri = cls(scheme=scheme, user=number, host="", params=params)
        else:
            user: str | None = None
            password: str | None = None
            if "@" in rest:
                userinfo, rest = rest.split("@", 1)
                if ":" in userinfo:
                    user, password = userinfo.split(":", 1)
                else:
                    user = userinfo
                if not user:
                    raise SipParseError(f"{what}: empty user part before '@'")
            headers: dict[str, str] = {}
            if "?" in rest:
                rest, htext = rest.split("?", 1)
                for item in htext.split("&"):
                    name, sep, value = item.partition("=")
                    if not sep or not name:
                        raise SipParseError(f"{what}: bad header {item!r}")
                    headers[name] = value
            hostport, _, ptext = rest.partition(";")
            host, port = split_hostport(hostport, what)
            params = parse_params(";" + ptext, what=what) if ptext else {}
            uri = cls(
                scheme=scheme,
                user=user,
                password=password,
                host=host,
                port=port,
                params=params,
                headers=headers,
            )
        uri._keep_text(text)
        return uri

    def __str__(self) -> str:
        kept = self._kept_text()
        if kept is not None:
            return kept
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{format_params(self.params)}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(format_hostport(self.host, self.port))
        out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    # -- conveniences ---------------------------------------------------------------
    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased (Lync writes ``transport=Tcp``)."""
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def host_port(self) -> str:
        return format_hostport(self.host, self.port)

    @property
    def aor(self) -> str:
        """``scheme:user@host`` (no port, parameters or headers)."""
        if self.scheme == "tel":
            return f"tel:{self.user}"
        return f"{self.scheme}:{self.user + '@' if self.user else ''}{self.host}"

    def copy(self) -> SipUri:
        new = SipUri(
            self.scheme,
            self.user,
            self.password,
            self.host,
            self.port,
            dict(self.params),
            dict(self.headers),
            self.raw,
        )
        new._snapshot = self._snapshot
        return new


def is_absolute_uri(text: str) -> bool:
    """RFC 3986 ``scheme:rest`` with no whitespace, quotes or angle brackets."""
    if ":" not in text or any(c in _FORBIDDEN_IN_URI for c in text):
        return False
    scheme, rest = text.split(":", 1)
    return bool(rest) and _SCHEME_RE.fullmatch(scheme) is not None


def _check_display_tokens(display: str, what: str) -> None:
    for word in display.split():
        if not is_token(word):
            raise SipParseError(
                f"{what}: display name {display!r} must be quoted (contains {word!r})"
            )


@dataclass
class NameAddr(_WireValue):
    """``"Display" <sip:...>;tag=x;epid=y`` or the bare addr-spec ``sip:...;tag=x``.

    ``display`` is the unescaped display name (None if there is none); ``params`` are the
    header parameters (tag, epid, expires, ...), not the URI's. With a bare addr-spec,
    everything after the first ``;`` is a header parameter (RFC 3261 section 20.10): Lync's
    ``CONTACT: sip:host;transport=Tcp;maddr=...`` has ``transport`` and ``maddr`` as header
    parameters, not URI parameters.
    """

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    bracketed: bool = True
    raw: str | None = field(default=None, compare=False, repr=False)

    def _state(self) -> tuple[object, ...]:
        return (str(self.uri), self.display, tuple(self.params.items()), self.bracketed)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        what = f"name-addr {text.strip()!r}"
        s = text.strip(" \t")
        if not s:
            raise SipParseError(f"{what}: empty")
        display: str | None = None
        if s.startswith('"'):
            display, end = read_quoted(s, 0)
            rest = s[end:].lstrip(" \t")
            if not rest.startswith("<"):
                raise SipParseError(f"{what}: quoted display name not followed by '<'")
        else:
            lt = s.find("<")
            if lt >= 0:
                before = s[:lt].strip(" \t")
                if before:
                    _check_display_tokens(before, what)
                    display = " ".join(before.split())
                rest = s[lt:]
            else:
                rest = s
        if rest.startswith("<"):
            gt = rest.find(">")
            if gt < 0:
                raise SipParseError(f"{what}: '<' without '>'")
            inner = rest[1:gt]
            if inner != inner.strip(" \t") or not inner:
                raise SipParseError(f"{what}: whitespace inside <...>")
            uri = SipUri.parse(inner)
            params = parse_params(rest[gt + 1 :], what=what)
            bracketed = True
        else:
            m = re.match(r"[^;\s]+", rest)
            assert m is not None
            uri_text = m.group(0)
            for bad in ",?":
                if bad in uri_text:
                    raise SipParseError(f"{what}: a URI containing {bad!r} must be enclosed in <>")
            uri = SipUri.parse(uri_text)
            params = parse_params(rest[m.end() :], what=what)
            bracketed = False
        value = cls(uri=uri, display=display, params=params, bracketed=bracketed)
        value._keep_text(text.strip(" \t"))
        return value

    def __str__(self) -> str:
        kept = self._kept_text()
        if kept is not None:
            return kept
        out = ""
        if self.display is not None:
            out = quote(self.display) + " "
        if self.bracketed or self.display is not None or self.uri.params or self.uri.headers:
            out += f"<{self.uri}>"
        else:
            out += str(self.uri)
        return out + format_params(self.params)

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    @property
    def epid(self) -> str | None:
        """Lync's endpoint id parameter (``epid=075854646D``)."""
        return self.param("epid")


def parse_name_addrs(value: str) -> list[NameAddr]:
    """Every name-addr in a comma-separated value (Contact, Route, Record-Route)."""
    parts = split_top_level(value, ",")
    if any(not p.strip() for p in parts):
        raise SipParseError(f"empty element in list {value.strip()!r}")
    return [NameAddr.parse(p) for p in parts]


@dataclass
class Via(_WireValue):
    """One Via value: ``SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bK...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"
    raw: str | None = field(default=None, compare=False, repr=False)

    def _state(self) -> tuple[object, ...]:
        return (self.transport, self.host, self.port, tuple(self.params.items()), self.protocol)

    def __str__(self) -> str:
        kept = self._kept_text()
        if kept is not None:
            return kept
        return (
            f"{self.protocol}/{self.transport} {format_hostport(self.host, self.port)}"
            f"{format_params(self.params)}"
        )

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received")

    @property
    def rport(self) -> int | None:
        """The rport value, if it has one (``has_param('rport')`` tells presence)."""
        value = self.param("rport")
        return int(value) if value and value.isdigit() else None

    @property
    def sent_by(self) -> str:
        return format_hostport(self.host, self.port)


_VIA_RE = re.compile(
    r"\s*([^\s/]+)\s*/\s*([^\s/]+)\s*/\s*([^\s/;]+)\s+([^;]+?)\s*((?:;.*)?)\s*", re.DOTALL
)


def parse_via(value: str) -> Via:
    """Parse one Via value (a header line with several comma-separated values: use
    :func:`parse_vias`). LWS is allowed where RFC 3261 allows it (``SIP / 2.0 / UDP``)."""
    what = f"Via {value.strip()!r}"
    if len(split_top_level(value, ",")) > 1:
        raise SipParseError(f"{what}: several values in one; use parse_vias()")
    m = _VIA_RE.fullmatch(value)
    if m is None:
        raise SipParseError(f"{what}: expected 'SIP/2.0/TRANSPORT host[:port][;params]'")
    name, version, transport, sent_by, ptext = m.groups()
    if not (is_token(name) and is_token(version) and is_token(transport)):
        raise SipParseError(f"{what}: bad sent-protocol")
    host, port = split_hostport(sent_by, what)
    params = parse_params(ptext, what=what)
    via = Via(
        transport=transport,
        host=host,
        port=port,
        params=params,
        protocol=f"{name}/{version}",
    )
    via._keep_text(value.strip(" \t"))
    return via


def parse_vias(value: str) -> list[Via]:
    """Every Via in a (possibly comma-separated) Via header value."""
    parts = split_top_level(value, ",")
    if any(not p.strip() for p in parts):
        raise SipParseError(f"Via {value.strip()!r}: empty element")
    return [parse_via(p) for p in parts]


__all__ = [
    "NameAddr",
    "SipUri",
    "Via",
    "is_absolute_uri",
    "parse_name_addrs",
    "parse_via",
    "parse_vias",
    "split_hostport",
    "unquote",
]
