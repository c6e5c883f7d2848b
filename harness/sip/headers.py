"""Header lines and their names: compact forms, list-valued headers, ordered lookups.

Names are kept exactly as written on the wire; lookups are case-insensitive and understand
the compact forms (``i`` for Call-ID, ``v`` for Via, ...) in both directions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from harness.sip._syntax import split_top_level

#: compact form -> full name (RFC 3261 7.3.3 and the later registrations)
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_FULL_TO_COMPACT = {full.lower(): short for short, full in COMPACT_FORMS.items()}

#: Headers whose value is never a comma-separated list (commas are part of the value).
SINGLE_VALUE_HEADERS = frozenset(
    {
        "authorization",
        "authentication-info",
        "call-id",
        "content-disposition",
        "content-length",
        "content-type",
        "cseq",
        "date",
        "expires",
        "from",
        "max-forwards",
        "min-expires",
        "min-se",
        "mime-version",
        "organization",
        "priority",
        "proxy-authenticate",
        "proxy-authorization",
        "rack",
        "refer-to",
        "referred-by",
        "replaces",
        "reply-to",
        "retry-after",
        "rseq",
        "server",
        "session-expires",
        "subject",
        "timestamp",
        "to",
        "user-agent",
        "www-authenticate",
    }
)


@functools.lru_cache(maxsize=1024)
def header_key(name: str) -> str:
    """Canonical lookup key: lower-case full name (compact forms expanded)."""
    lname = name.strip().lower()
    full = COMPACT_FORMS.get(lname)
    return full.lower() if full else lname


def compact_form(name: str) -> str | None:
    """The one-letter compact form of ``name``, if it has one."""
    return _FULL_TO_COMPACT.get(header_key(name))


@dataclass(frozen=True, slots=True)
class Header:
    """One header line: ``name`` exactly as on the wire, ``value`` with folding undone and
    surrounding whitespace removed."""

    name: str
    value: str

    @property
    def key(self) -> str:
        return header_key(self.name)


class Headers:
    """Ordered header lines. Lookups are case-insensitive and understand compact forms in
    both directions (``get("Call-ID")`` finds an ``i:`` line and ``get("i")`` a
    ``CALL-ID:`` line). Iteration yields :class:`Header` in wire order."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Header | tuple[str, str]] = ()) -> None:
        self._items: list[Header] = []
        for item in items:
            if isinstance(item, Header):
                self._items.append(item)
            else:
                name, value = item
                self._items.append(Header(name, value))

    # -- reading ---------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """Value of the first header called ``name``, or None."""
        key = header_key(name)
        for h in self._items:
            if h.key == key:
                return h.value
        return None

    def get_all(self, name: str) -> list[str]:
        """Values of every ``name`` header line, one entry a line (nothing split)."""
        key = header_key(name)
        return [h.value for h in self._items if h.key == key]

    def values(self, name: str) -> list[str]:
        """Every comma-separated element of every ``name`` line, in order, stripped
        (commas inside quotes and ``<...>`` do not split). Headers in
        ``SINGLE_VALUE_HEADERS`` (Date, From, WWW-Authenticate, ...) are not split."""
        key = header_key(name)
        lines = self.get_all(name)
        if key in SINGLE_VALUE_HEADERS:
            return lines
        out: list[str] = []
        for line in lines:
            out.extend(p.strip() for p in split_top_level(line, ",") if p.strip())
        return out

    def first(self, name: str) -> Header | None:
        key = header_key(name)
        return next((h for h in self._items if h.key == key), None)

    def indexes(self, name: str) -> list[int]:
        key = header_key(name)
        return [i for i, h in enumerate(self._items) if h.key == key]

    def names(self) -> list[str]:
        return [h.name for h in self._items]

    def items(self) -> list[tuple[str, str]]:
        return [(h.name, h.value) for h in self._items]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Header]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Header:
        return self._items[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    def copy(self) -> Headers:
        return Headers(self._items)

    # -- changing --------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a header line. Names and values are written verbatim, unchecked, so
        that malformed messages can be crafted on purpose (lint them with sip-lint)."""
        self._items.append(Header(name, str(value)))

    def insert(self, index: int, name: str, value: str) -> None:
        """Insert a header line at ``index`` (0 puts it first, e.g. a new top Via)."""
        self._items.insert(index, Header(name, str(value)))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line by one line ``name: value`` at the position of the
        first (appended if there was none). The name is written as given here."""
        key = header_key(name)
        idx = self.indexes(name)
        new = Header(name, str(value))
        if not idx:
            self._items.append(new)
            return
        self._items[idx[0]] = new
        self._items = [h for i, h in enumerate(self._items) if i == idx[0] or h.key != key]

    def remove(self, name: str) -> int:
        """Remove every ``name`` line; returns how many were removed."""
        key = header_key(name)
        before = len(self._items)
        self._items = [h for h in self._items if h.key != key]
        return before - len(self._items)

    def _state(self) -> tuple[tuple[str, str], ...]:
        return tuple((h.name, h.value) for h in self._items)


__all__ = [
    "COMPACT_FORMS",
    "SINGLE_VALUE_HEADERS",
    "Header",
    "Headers",
    "compact_form",
    "header_key",
]
