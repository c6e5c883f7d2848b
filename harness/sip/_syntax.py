"""Lexical helpers shared by the SIP modules (RFC 3261 section 25.1). Internal."""

from __future__ import annotations

import re

from harness.sip.errors import SipParseError

TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_LWS = " \t"


def is_token(text: str) -> bool:
    return bool(text) and _TOKEN_RE.fullmatch(text) is not None


def quote(text: str) -> str:
    """``text`` as a quoted-string, escaping ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted-string whose opening quote is at ``start``.

    Returns the unescaped content and the index just past the closing quote.
    """
    assert text[start] == '"'
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SipParseError(f"unterminated quoted string in {text!r}")


def unquote(value: str | None) -> str | None:
    """The content of a quoted-string value, or the value unchanged if not quoted."""
    if value is None:
        return None
    v = value.strip()
    if len(v) >= 2 and v[0] == '"':
        content, end = read_quoted(v, 0)
        if end == len(v):
            return content
    return value


def split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside quoted strings and ``<...>``.

    Raises SipParseError on an unterminated quoted string.
    """
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    current: list[str] = []
    in_quote = False
    angle = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if in_quote:
            current.append(ch)
            if ch == "\\" and i + 1 < n:
                current.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
            current.append(ch)
        elif ch == "<":
            angle += 1
            current.append(ch)
        elif ch == ">":
            angle = max(0, angle - 1)
            current.append(ch)
        elif ch == sep and angle == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {text!r}")
    parts.append("".join(current))
    return parts


def parse_params(text: str, *, what: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` (generic-param list, LWS allowed around ``;`` and ``=``).

    ``text`` must be empty or start (after LWS) with ``;``. Values are kept as written
    (a quoted-string keeps its quotes). Raises SipParseError naming ``what``.
    """
    params: dict[str, str | None] = {}
    stripped = text.strip(_LWS)
    if not stripped:
        return params
    if not stripped.startswith(";"):
        raise SipParseError(f"{what}: unexpected text {stripped!r} (expected ';' parameters)")
    seen: set[str] = set()
    for raw in split_top_level(stripped, ";")[1:]:
        item = raw.strip(_LWS)
        if not item:
            raise SipParseError(f"{what}: empty parameter in {text.strip()!r}")
        if "=" in item:
            name, value = item.split("=", 1)
            name = name.strip(_LWS)
            value = value.strip(_LWS)
            if value.startswith('"'):
                _content, end = read_quoted(value, 0)
                if end != len(value):
                    raise SipParseError(f"{what}: text after quoted value of parameter '{name}'")
            elif not value or any(c in value for c in ' \t"<>,'):
                raise SipParseError(f"{what}: bad value {value!r} for parameter '{name}'")
        else:
            name, value = item, None
        if not is_token(name):
            raise SipParseError(f"{what}: bad parameter name {name!r}")
        key = name.lower()
        if key in seen:
            raise SipParseError(f"{what}: parameter '{name}' appears twice")
        seen.add(key)
        params[name] = value
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def get_param(params: dict[str, str | None], name: str) -> str | None:
    """Case-insensitive lookup of a parameter value (None if absent or valueless)."""
    if name in params:
        return params[name]
    lname = name.lower()
    for key, value in params.items():
        if key.lower() == lname:
            return value
    return None


def has_param(params: dict[str, str | None], name: str) -> bool:
    lname = name.lower()
    return any(key.lower() == lname for key in params)
