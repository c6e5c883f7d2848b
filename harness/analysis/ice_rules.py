"""ICE connectivity checks on a Jingle call's media ports, from the capture: the STUN
Binding requests and responses (RFC 5389) each side sends to the other's XEP-0176
candidates, judged by RFC 8445 (which RFC 5245 became) and RFC 5389's short-term
credentials. Sans I/O: a capture and the two parties' ICE parameters in, checks out.

- each side checks each component (RTP 1, RTCP 2) toward the other's candidate
  (RFC 8445 7.2.4), with USERNAME "their-ufrag:own-ufrag" (RFC 8445 7.2.2), PRIORITY
  (RFC 8445 7.1.1), ICE-CONTROLLING or ICE-CONTROLLED as its role says (RFC 8445 7.1.3),
  MESSAGE-INTEGRITY keyed with the receiver's password and a FINGERPRINT (RFC 8445 7.2.2,
  RFC 5389 15.4 and 15.5);
- every request is answered by a success response with the same transaction id, an
  XOR-MAPPED-ADDRESS equal to the request's source (RFC 8445 7.2.5.2.1, RFC 5389 15.2),
  integrity keyed with the responder's password (RFC 8445 7.3);
- the controlling side nominates a pair with USE-CANDIDATE and it succeeds
  (RFC 8445 8.1.1).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture

MAGIC = 0x2112A442  # RFC 5389 6
BINDING = 0x001
CLASSES = {0b00: "request", 0b01: "indication", 0b10: "success", 0b11: "error"}
USERNAME, MESSAGE_INTEGRITY, XOR_MAPPED, PRIORITY = 0x0006, 0x0008, 0x0020, 0x0024
USE_CANDIDATE, FINGERPRINT, CONTROLLED, CONTROLLING = 0x0025, 0x8028, 0x8029, 0x802A
ICE_LEG = "Jingle media (ICE-UDP)"
STEP = "ice"


@dataclass(frozen=True)
class StunMessage:
    """One STUN message from the capture (RFC 5389 6: header, then TLV attributes)."""

    frame: int
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    method: int
    kind: str  # request, indication, success, error
    txid: bytes
    attrs: tuple[tuple[int, bytes, int], ...]  # (type, value, offset of the attribute)
    raw: bytes

    def attr(self, kind: int) -> bytes | None:
        return next((v for t, v, _ in self.attrs if t == kind), None)

    def has(self, kind: int) -> bool:
        return any(t == kind for t, _, _ in self.attrs)

    @property
    def username(self) -> str | None:
        value = self.attr(USERNAME)
        return value.decode("utf-8", "replace") if value is not None else None

    def xor_mapped(self) -> tuple[str, int] | None:
        value = self.attr(XOR_MAPPED)
        if value is None or len(value) < 8 or value[1] != 1:  # IPv4 only (family 1)
            return None
        port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC >> 16)
        addr = struct.unpack("!I", value[4:8])[0] ^ MAGIC
        return str(ipaddress.IPv4Address(addr)), port

    def integrity_ok(self, password: str) -> bool:
        """RFC 5389 15.4: HMAC-SHA1 keyed with the short-term password over the message up
        to the attribute, the header's length counting up to the attribute's end."""
        for t, value, offset in self.attrs:
            if t == MESSAGE_INTEGRITY:
                head = bytearray(self.raw[:offset])
                struct.pack_into("!H", head, 2, offset + 24 - 20)
                mac = hmac.new(password.encode(), bytes(head), hashlib.sha1).digest()
                return hmac.compare_digest(mac, value)
        return False

    def fingerprint_ok(self) -> bool:
        """RFC 5389 15.5: CRC-32 of the message up to the attribute, XOR 0x5354554e."""
        for t, value, offset in self.attrs:
            if t == FINGERPRINT:
                crc = (zlib.crc32(self.raw[:offset]) ^ 0x5354554E) & 0xFFFFFFFF
                return value == struct.pack("!I", crc)
        return False


def parse_stun(data: bytes) -> tuple[int, str, bytes, tuple[tuple[int, bytes, int], ...]] | None:
    """(method, class, transaction id, attributes) of a STUN message, or None."""
    if len(data) < 20 or data[0] & 0xC0:
        return None
    mtype, length, magic = struct.unpack("!HHI", data[:8])
    if magic != MAGIC or length % 4 or 20 + length > len(data):
        return None
    method = (mtype & 0x000F) | ((mtype & 0x00E0) >> 1) | ((mtype & 0x3E00) >> 2)
    klass = ((mtype & 0x0100) >> 7) | ((mtype & 0x0010) >> 4)
    attrs: list[tuple[int, bytes, int]] = []
    pos = 20
    while pos + 4 <= 20 + length:
        t, n = struct.unpack("!HH", data[pos:pos + 4])
        attrs.append((t, data[pos + 4:pos + 4 + n], pos))
        pos += 4 + n + (-n % 4)
    return method, CLASSES[klass], data[8:20], tuple(attrs)


def stun_messages(capture: Capture) -> list[StunMessage]:
    """Every STUN message over UDP in the capture, in frame order."""
    head = capture.head
    magic = head[:, 4:8].astype(np.uint32)
    cookie = (magic[:, 0] << 24) | (magic[:, 1] << 16) | (magic[:, 2] << 8) | magic[:, 3]
    sel = np.flatnonzero((capture.proto == 17) & (capture.payload_len >= 20)
                         & (cookie == MAGIC) & ~capture.fragment)
    out = []
    for i in sel.tolist():
        data = capture.payload(i)
        parsed = parse_stun(data)
        if parsed is None:
            continue
        method, kind, txid, attrs = parsed
        out.append(StunMessage(int(capture.frame[i]), float(capture.time[i]),
                               (capture.src(i), int(capture.sport[i])),
                               (capture.dst(i), int(capture.dport[i])),
                               method, kind, txid, attrs, data))
    return out


@dataclass(frozen=True)
class IceParty:
    """One side's ICE parameters, as its Jingle transport said them (XEP-0176 5.1)."""

    role: str  # the party's name in the verdict (e.g. Asterisk, Google Talk user)
    ufrag: str
    pwd: str
    candidates: tuple[tuple[int, str, int], ...]  # (component, ip, port)
    controlling: bool

    def address(self, component: int) -> tuple[str, int] | None:
        return next(((ip, port) for c, ip, port in self.candidates if c == component), None)


@dataclass
class IceOutcome:
    """What the checks found: the nominated RTP pair (sender's address -> receiver's)."""

    nominated: dict[int, tuple[tuple[str, int], tuple[str, int]]] = field(default_factory=dict)
    first_check: float | None = None


def check_ice(v: Verdict, messages: Sequence[StunMessage], a: IceParty, b: IceParty,
              components: Sequence[int] = (1, 2)) -> IceOutcome:
    """The connectivity checks between ``a`` and ``b`` on each component."""
    out = IceOutcome()
    v.check(STEP, ICE_LEG, "roles", a.controlling != b.controlling,
            "one controlling agent, the session's initiator (RFC 8445 6.1.1)",
            f"{a.role} {'controlling' if a.controlling else 'controlled'}, "
            f"{b.role} {'controlling' if b.controlling else 'controlled'}")
    binding = [m for m in messages if m.method == BINDING]
    if binding:
        out.first_check = binding[0].time
    for sender, receiver in ((a, b), (b, a)):
        for comp in components:
            _check_direction(v, binding, sender, receiver, comp, out)
    return out


def _check_direction(v: Verdict, binding: Sequence[StunMessage], sender: IceParty,
                     receiver: IceParty, comp: int, out: IceOutcome) -> None:
    src, dst = sender.address(comp), receiver.address(comp)
    who = f"{sender.role} -> {receiver.role} component {comp}"
    if src is None or dst is None:
        v.check(STEP, ICE_LEG, f"candidates {who}", False,
                "a candidate for the component on both sides (XEP-0176 5.2)",
                f"{sender.role}: {src}, {receiver.role}: {dst}")
        return
    requests = [m for m in binding if m.kind == "request" and m.src == src and m.dst == dst]
    if not v.check(STEP, ICE_LEG, f"Binding request {who}", bool(requests),
                   f"a check from {_a(src)} to {_a(dst)} (RFC 8445 7.2.4)",
                   f"{len(requests)} requests"):
        return
    first = requests[0]
    expected_user = f"{receiver.ufrag}:{sender.ufrag}"
    users = sorted({m.username or "(none)" for m in requests})
    v.check(STEP, ICE_LEG, f"USERNAME {who}", users == [expected_user],
            f"{expected_user!r} (RFC 8445 7.2.2)", ", ".join(repr(u) for u in users), first.frame)
    missing = sorted({name for m in requests for kind, name in (
        (PRIORITY, "PRIORITY"), (MESSAGE_INTEGRITY, "MESSAGE-INTEGRITY"),
        (FINGERPRINT, "FINGERPRINT")) if not m.has(kind)})
    v.check(STEP, ICE_LEG, f"request attributes {who}", not missing,
            "PRIORITY, MESSAGE-INTEGRITY, FINGERPRINT (RFC 8445 7.1.1, 7.2.2)",
            "all present" if not missing else f"missing {', '.join(missing)}", first.frame)
    role_attr = CONTROLLING if sender.controlling else CONTROLLED
    wrong_role = [m for m in requests if not m.has(role_attr)]
    v.check(STEP, ICE_LEG, f"role attribute {who}", not wrong_role,
            f"ICE-{'CONTROLLING' if sender.controlling else 'CONTROLLED'} on every request "
            "(RFC 8445 7.1.3)",
            "on every request" if not wrong_role else f"{len(wrong_role)} without it",
            wrong_role[0].frame if wrong_role else None)
    bad_mi = [m for m in requests if not m.integrity_ok(receiver.pwd)]
    bad_fp = [m for m in requests if m.has(FINGERPRINT) and not m.fingerprint_ok()]
    v.check(STEP, ICE_LEG, f"request integrity {who}", not bad_mi and not bad_fp,
            f"HMAC-SHA1 with {receiver.role}'s pwd, valid CRC-32 (RFC 5389 15.4, 15.5)",
            "valid" if not bad_mi and not bad_fp else
            f"{len(bad_mi)} bad MESSAGE-INTEGRITY, {len(bad_fp)} bad FINGERPRINT",
            (bad_mi or bad_fp)[0].frame if (bad_mi or bad_fp) else None)
    answers = {m.txid: m for m in binding if m.kind == "success" and m.src == dst and m.dst == src}
    answered = [m for m in requests if m.txid in answers]
    v.check(STEP, ICE_LEG, f"Binding success {who}", bool(answered),
            f"a success response from {_a(dst)} with the request's transaction id "
            "(RFC 8445 7.3.1.4, RFC 5389 7.3)",
            f"{len(answered)} of {len(requests)} requests answered", first.frame)
    if not answered:
        return
    reply = answers[answered[0].txid]
    v.equal(STEP, ICE_LEG, f"XOR-MAPPED-ADDRESS {who}", _a(src), _a(reply.xor_mapped()),
            reply.frame)
    v.check(STEP, ICE_LEG, f"response integrity {who}", reply.integrity_ok(receiver.pwd),
            f"HMAC-SHA1 with {receiver.role}'s pwd (RFC 8445 7.3)",
            "valid" if reply.integrity_ok(receiver.pwd) else "invalid", reply.frame)
    if sender.controlling:
        nominations = [m for m in requests if m.has(USE_CANDIDATE)]
        ok = [m for m in nominations if m.txid in answers]
        v.check(STEP, ICE_LEG, f"nomination {who}", bool(ok),
                "a USE-CANDIDATE request answered with success (RFC 8445 8.1.1)",
                f"{len(nominations)} USE-CANDIDATE requests, {len(ok)} answered",
                nominations[0].frame if nominations else None)
        if ok:
            out.nominated[comp] = (src, dst)


def _a(addr: tuple[str, int] | None) -> str:
    return "none" if addr is None else f"{addr[0]}:{addr[1]}"
