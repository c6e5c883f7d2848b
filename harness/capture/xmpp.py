"""XMPP stanzas found in a capture: the c2s streams (TCP port 5222) of RFC 6120, in clear.

Each direction of a TCP connection on the port is reassembled in sequence order
(:mod:`harness.capture.tcp`) and parsed incrementally with expat: the stream header opens
an element that is never closed while the capture lasts, and each element one level below
it is a top-level element; ``message``, ``presence`` and ``iq`` ones are the stanzas.
Stream restarts (after SASL success, RFC 6120 6.4.6) start a new parse. Once a side asks
for or grants STARTTLS (``<starttls/>``, ``<proceed/>``), its bytes are TLS and the rest of
that direction is skipped with a note, as is a direction that begins with TLS records (a
connection encrypted before the capture began). A capture that begins mid-stream, a gap
the capture never filled, or XML that is not well-formed costs the bytes up to the next
stanza start, with a note; a stanza the capture cut short is noted, never returned.
Sans-I/O: no sockets, the bytes come from a :class:`~harness.capture.capture.Capture`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection
from dataclasses import dataclass, field
from xml.parsers import expat

import numpy as np

from harness.capture.addresses import addr_to_str
from harness.capture.capture import Capture
from harness.capture.table import PROTO_TCP
from harness.capture.tcp import Chunk, Segment, reassemble

XMPP_C2S_PORT = 5222
STREAM_NS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
STANZAS = frozenset({"message", "presence", "iq"})
_TLS_TAGS = frozenset({f"{{{TLS_NS}}}starttls", f"{{{TLS_NS}}}proceed"})

# Where a parse (re)starts: an XML declaration, a stream header, or a stanza's start tag.
_DECL = re.compile(rb"<\?xml[\s?]")
_RESYNC = re.compile(rb"<\?xml[\s?]|<(?:[A-Za-z_][\w.-]*:)?(?:stream|message|presence|iq)[\s/>]")
# The wrapper a parse gets when it starts at a stanza instead of a stream header.
_WRAPPER = (b"<stream:stream xmlns='jabber:client' "
            b"xmlns:stream='http://etherx.jabber.org/streams'>")
_TLS_RECORD = re.compile(rb"[\x14-\x17]\x03[\x00-\x04]")


@dataclass(frozen=True)
class XmppStanza:
    """One top-level stanza (``message``, ``presence`` or ``iq``) as captured.

    ``src``/``dst`` are ``ip:port`` of the TCP connection's sender and receiver (IPv6 in
    brackets); ``time`` and ``frame`` are those of the packet that completed the stanza;
    ``raw`` is its bytes as sent (within the stream, so namespace declarations it
    inherits from the stream header are not in it)."""

    time: float
    src: str
    dst: str
    element: ET.Element
    raw: bytes
    frame: int = 0

    @property
    def kind(self) -> str:
        """``message``, ``presence`` or ``iq`` (``starttls`` or ``proceed`` in
        ``XmppExtraction.tls``)."""
        return local_name(self.element.tag)

    @property
    def src_host(self) -> str:
        return _host(self.src)

    @property
    def dst_host(self) -> str:
        return _host(self.dst)


@dataclass
class XmppExtraction:
    """The stanzas of a capture, the STARTTLS negotiations seen, and what could not be
    read, one line per note."""

    stanzas: list[XmppStanza] = field(default_factory=list)
    # where a direction turned to TLS (RFC 6120 5.4.2): its <starttls/> (the client asks)
    # or <proceed/> (the server grants), as top-level elements of kind starttls or proceed
    tls: list[XmppStanza] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def local_name(tag: str) -> str:
    """``{jabber:client}message`` -> ``message``."""
    return tag.rsplit("}", 1)[-1]


def _host(endpoint: str) -> str:
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


def _endpoint(hi: int, lo: int, port: int) -> str:
    addr = addr_to_str(hi, lo)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def xmpp_stanzas(capture: Capture, ports: Collection[int] = (XMPP_C2S_PORT,)) -> list[XmppStanza]:
    """Every clear-text stanza on TCP ``ports``, in time order (see :func:`extract_xmpp`
    for the notes on what was skipped)."""
    return extract_xmpp(capture, ports).stanzas


def extract_xmpp(capture: Capture, ports: Collection[int] = (XMPP_C2S_PORT,)) -> XmppExtraction:
    """The stanzas on TCP ``ports`` and the notes on what was skipped (TLS, gaps, XML that
    is not well-formed, stanzas cut short). Never raises for the capture's content."""
    result = XmppExtraction()
    wanted = np.array(sorted({int(p) for p in ports}), dtype=np.uint16)
    sel = np.flatnonzero((capture.proto == PROTO_TCP) & ~capture.fragment
                         & (np.isin(capture.sport, wanted) | np.isin(capture.dport, wanted)))
    directions: dict[tuple[tuple[int, int, int], tuple[int, int, int]], list[int]] = {}
    for i in sel.tolist():
        sport, dport = int(capture.sport[i]), int(capture.dport[i])
        a = (int(capture.src_hi[i]), int(capture.src_lo[i]), sport)
        b = (int(capture.dst_hi[i]), int(capture.dst_lo[i]), dport)
        directions.setdefault((a, b), []).append(i)
    for (a, b), idx in directions.items():
        segments = [Segment(i, int(capture.tcp_seq[i]), int(capture.tcp_flags[i]),
                            capture.payload(i)) for i in idx]
        chunks = [c for c in reassemble(segments) if c.data]
        if not chunks:
            continue
        src, dst = _endpoint(*a), _endpoint(*b)
        _Direction(capture, src, dst, result).run(chunks)
    result.stanzas.sort(key=lambda s: (s.time, s.frame))
    return result


class _Direction:
    """One direction's bytes through expat, one parse per stream (or resynchronisation)."""

    def __init__(self, capture: Capture, src: str, dst: str, out: XmppExtraction) -> None:
        self.capture, self.src, self.dst, self.out = capture, src, dst, out
        self.name = f"{src} -> {dst}"

    def note(self, text: str) -> None:
        self.out.notes.append(f"XMPP {self.name}: {text}")

    def run(self, chunks: list[Chunk]) -> None:
        data = b"".join(c.data for c in chunks)
        ends: list[int] = []  # end offset of each chunk in ``data``
        pos = 0
        for c in chunks:
            pos += len(c.data)
            ends.append(pos)
        gaps = [sum(len(c.data) for c in chunks[:k]) for k, c in enumerate(chunks)
                if c.after_gap and k]
        start = 0
        first = True
        while start < len(data):
            stop = min([g for g in gaps if g > start] or [len(data)])
            start = self._parse_from(data, start, stop, chunks, ends, resync=not first)
            first = False
            if start < 0:
                return  # TLS from here on
            if start < stop:
                continue
            if stop < len(data):
                self.note(f"bytes missing from the capture before offset {stop}: "
                          "resynchronised at the next stanza")
            start = stop

    def _parse_from(self, data: bytes, start: int, stop: int, chunks: list[Chunk],
                    ends: list[int], *, resync: bool) -> int:
        """Parses ``data[start:stop]``; returns where the next parse starts (``stop`` when
        done, -1 when the rest is TLS)."""
        if _TLS_RECORD.match(data, start):
            self.note("TLS records, not readable (encrypted before the capture began, or "
                      "its STARTTLS was not captured)")
            return -1
        head = data[start:start + 64].lstrip()
        at_stream = head.startswith(b"<?xml") or bool(
            re.match(rb"<(?:[A-Za-z_][\w.-]*:)?stream[\s>]", head))
        if not at_stream:
            m = _RESYNC.search(data, start, stop)
            if m is None:
                self.note(f"{stop - start} bytes without a stanza start skipped")
                return stop
            if m.start() > start:
                what = "the capture began mid-stream" if not resync else "not XML"
                self.note(f"{m.start() - start} bytes before a stanza start skipped ({what})")
            start = m.start()
            at_stream = data[start:start + 5] == b"<?xml" or bool(
                re.match(rb"<(?:[A-Za-z_][\w.-]*:)?stream[\s>]", data[start:start + 64]))
        stream = _Stream(prefix=b"" if at_stream else _WRAPPER)
        # a later XML declaration is a stream restart: a new parse from there
        decl = _DECL.search(data, start + 1, stop)
        limit = decl.start() if decl else stop
        k = next(j for j, e in enumerate(ends) if e > start)
        pos = start
        while pos < limit:
            end = min(ends[k], limit)
            piece = data[pos:end]
            try:
                found = stream.feed(piece)
            except _TlsStarts:
                found = stream.pending_stanzas()
            except expat.ExpatError as exc:
                where = stream.fed_offset(exc)
                self.note(f"XML not well-formed at byte {start + where} "
                          f"({expat.ErrorString(exc.code)}): resynchronised at the next stanza")
                for el, raw in stream.pending_stanzas():
                    self._emit(el, raw, chunks[k].frame)
                nxt = _RESYNC.search(data, max(start + where, pos) + 1, stop)
                return nxt.start() if nxt else stop
            for el, raw in found:
                self._emit(el, raw, chunks[k].frame)
            if stream.tls:
                self.note(f"STARTTLS ({stream.tls}): the rest of this direction is TLS, "
                          "not readable")
                return -1
            pos = end
            if end == ends[k]:
                k += 1
        if stream.open_stanza:
            self.note(f"a <{stream.open_stanza}> stanza cut short "
                      f"{'at the end of the capture' if limit == len(data) else 'by a gap'}")
        return limit

    def _emit(self, element: ET.Element, raw: bytes, index: int) -> None:
        kind = local_name(element.tag)
        found = (self.out.stanzas if kind in STANZAS
                 else self.out.tls if element.tag in _TLS_TAGS else None)
        if found is not None:
            found.append(XmppStanza(
                time=int(self.capture.ts_ns[index]) / 1e9, src=self.src, dst=self.dst,
                element=element, raw=raw, frame=index + 1))


class _TlsStarts(Exception):
    """Raised out of expat's handler at ``<starttls/>`` or ``<proceed/>``."""


class _Stream:
    """One expat parse: depth 1 is the stream, depth 2 the top-level elements."""

    def __init__(self, prefix: bytes = b"") -> None:
        self.parser = expat.ParserCreate(namespace_separator="}")
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._data
        self.buf = bytearray()
        self.prefix_len = len(prefix)
        self.depth = 0
        self.builder: ET.TreeBuilder | None = None
        self.stanza_start = 0
        self.done: list[tuple[ET.Element, bytes]] = []
        self.tls: str | None = None
        self.open_stanza: str | None = None
        if prefix:
            self.feed(prefix)

    def feed(self, data: bytes) -> list[tuple[ET.Element, bytes]]:
        self.buf += data
        self.parser.Parse(data, False)
        return self.pending_stanzas()

    def pending_stanzas(self) -> list[tuple[ET.Element, bytes]]:
        out, self.done = self.done, []
        return out

    def fed_offset(self, exc: expat.ExpatError) -> int:
        """Where in the bytes fed (without the wrapper) the error is."""
        return max(0, self.parser.ErrorByteIndex - self.prefix_len)

    @staticmethod
    def _tag(name: str) -> str:
        return "{" + name if "}" in name else name

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        tag = self._tag(name)
        self.depth += 1
        if self.depth == 2 and tag == "{" + STREAM_NS + "}stream":
            self.depth = 1  # a restart without an XML declaration: a new stream
            return
        if self.depth == 2:
            self.builder = ET.TreeBuilder()
            self.stanza_start = self.parser.CurrentByteIndex
            self.open_stanza = local_name(tag)
        if self.builder is not None:
            self.builder.start(tag, {self._tag(k): v for k, v in attrs.items()})

    def _data(self, text: str) -> None:
        if self.builder is not None:
            self.builder.data(text)

    def _end(self, name: str) -> None:
        tag = self._tag(name)
        if self.builder is not None:
            self.builder.end(tag)
        if self.depth == 2 and self.builder is not None:
            element = self.builder.close()
            self.builder, self.open_stanza = None, None
            end = _tag_end(self.buf, self.parser.CurrentByteIndex)
            raw = bytes(self.buf[self.stanza_start:end])
            self.done.append((element, raw))
            if tag in _TLS_TAGS:
                self.tls = local_name(tag)
                raise _TlsStarts  # what follows in this direction is TLS: stop the parse
        self.depth -= 1


def _tag_end(buf: bytearray, at: int) -> int:
    """The offset after the tag that starts at ``at`` (an end tag, or an empty-element
    tag whose attribute values may hold '>')."""
    quote: int | None = None
    for j in range(at, len(buf)):
        ch = buf[j]
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in (0x22, 0x27):
            quote = ch
        elif ch == 0x3E:
            return j + 1
    return len(buf)

