"""The security checks over a capture's SIP: what the gateway answered an unknown host.

Every probe of the attacker (:mod:`harness.flows.attacker`) is a dialog of its own whose
Call-ID starts with the probe's label (``toll/INVITE/1001~token@host``), so an exchange is
found in the pcap by label alone. The checks follow:

- seed sip.conf [general] ``allowguest=no`` (the Google Talk section's [general]): a call
  from a host that is no configured peer, without credentials, is refused (a 4xx final
  response, never a 2xx) and nothing goes on to a trunk: toll fraud;
- seed [1000] ``secret = <password>`` and RFC 3261 22: credentials with a wrong secret are
  refused, for REGISTER and for INVITE;
- RFC 3261 26.1.1 and chan_sip's ``alwaysauthreject``: a user that exists and one that
  does not get the same answer (status code and reason phrase), so the answers do not
  list the extensions;
- a dictionary attack finding the softphone's secret is the failure "weak secret" (the
  seed's own ``secret = 1000`` is one);
- the Server / User-Agent headers the gateway sends are reported (a note, not a check).

Sans-I/O: lists of CapturedSip in, Verdict checks out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.analysis.verdict import CallflowFailure, Verdict
from harness.capture import CapturedSip
from harness.sip import Request, Response
from harness.sip.auth import verify

ATTACKER = "Attacker"
LEG = "Attacker -> Asterisk"
LABEL_END = "~"  # as harness.flows.attacker writes the Call-ID
PROBE_METHODS = ("REGISTER", "INVITE", "OPTIONS")


class ProbeLike(Protocol):
    """What a check needs of a probe (harness.flows.attacker.Probe)."""

    @property
    def label(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def secret(self) -> str | None: ...


@dataclass(frozen=True)
class Hosts:
    gateway: str
    attacker: str
    trunks: Mapping[str, str] = field(default_factory=dict)  # address -> role name


Check = Callable[[Verdict, list[CapturedSip], Hosts, Sequence[ProbeLike]], None]


@dataclass(frozen=True)
class Answer:
    """A final response the gateway sent the attacker."""

    cseq: int
    status: int
    reason: str
    frame: int

    @property
    def text(self) -> str:
        return f"{self.status} {self.reason}"


@dataclass
class Exchange:
    """One probe in the capture: the attacker's requests and the gateway's final answers
    to the probe's method (retransmitted answers counted once)."""

    label: str
    requests: list[CapturedSip] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    @property
    def frame(self) -> int | None:
        return self.requests[0].frame if self.requests else None

    def texts(self) -> list[str]:
        return [a.text for a in self.answers]

    def describe(self) -> str:
        return " then ".join(self.texts()) or "no final response"


def label_of(call_id: str | None) -> str | None:
    if not call_id or LABEL_END not in call_id:
        return None
    return call_id.split(LABEL_END, 1)[0]


def exchanges(messages: Iterable[CapturedSip], hosts: Hosts) -> dict[str, Exchange]:
    """Label -> the probe's exchange, for every probe of the attacker's in the capture."""
    found: dict[str, Exchange] = {}
    methods: dict[str, str] = {}
    for m in messages:
        msg = m.message
        label = label_of(msg.call_id) if msg is not None else None
        if msg is None or label is None:
            continue
        ex = found.setdefault(label, Exchange(label))
        if isinstance(msg, Request) and m.src == hosts.attacker:
            methods.setdefault(label, msg.method)
            if msg.method == methods[label]:
                ex.requests.append(m)
        elif isinstance(msg, Response) and m.dst == hosts.attacker and msg.status >= 200:
            number, method = msg.cseq
            seen = {(a.cseq, a.status) for a in ex.answers}
            if method == methods.get(label) and (number, msg.status) not in seen:
                ex.answers.append(Answer(number, msg.status, msg.reason, m.frame))
    return found


def _exchange(verdict: Verdict, step: str, found: Mapping[str, Exchange],
              label: str) -> Exchange | None:
    ex = found.get(label)
    if ex is None or not ex.requests:
        verdict.check(step, LEG, label, False, "the attacker's request in the capture",
                      "not captured")
        return None
    return ex


def refused(verdict: Verdict, step: str, ex: Exchange) -> bool:
    """A 4xx final response and no 2xx (RFC 3261 21.4: the request failed)."""
    accepted = [a for a in ex.answers if 200 <= a.status < 300]
    ok = bool(ex.answers) and not accepted and all(400 <= a.status < 500 for a in ex.answers)
    frame = (accepted[0].frame if accepted else ex.answers[-1].frame if ex.answers
             else ex.frame)
    return verdict.check(step, LEG, ex.label, ok, "a 4xx final response, no 2xx",
                         ex.describe(), frame)


def nothing_to_trunks(verdict: Verdict, step: str, messages: Iterable[CapturedSip],
                      hosts: Hosts) -> None:
    """No INVITE from the gateway to a trunk (or to any host but the attacker)."""
    invites = [m for m in messages if m.src == hosts.gateway and m.dst != hosts.attacker
               and isinstance(m.message, Request) and m.message.method == "INVITE"]
    for address, name in hosts.trunks.items():
        sent = [m for m in invites if m.dst == address]
        verdict.check(step, f"Asterisk -> {name}", "INVITE", not sent, "no INVITE",
                      _first(sent), sent[0].frame if sent else None)
    others = [m for m in invites if m.dst not in hosts.trunks]
    verdict.check(step, "Asterisk -> any host", "INVITE", not others, "no INVITE",
                  _first(others), others[0].frame if others else None)


def _first(sent: list[CapturedSip]) -> str:
    if not sent:
        return "none"
    m = sent[0]
    return f"{len(sent)} INVITE(s), first {m.summary} to {m.receiver}"


def _each_refused(verdict: Verdict, step: str, messages: list[CapturedSip], hosts: Hosts,
                  probes: Sequence[ProbeLike],
                  first: Callable[[ProbeLike, Exchange], object] | None = None) -> None:
    """Each probe captured and refused (``first``: a check of its exchange before that),
    and nothing sent on to a trunk."""
    found = exchanges(messages, hosts)
    for probe in probes:
        ex = _exchange(verdict, step, found, probe.label)
        if ex is None:
            continue
        if first is not None:
            first(probe, ex)
        refused(verdict, step, ex)
    nothing_to_trunks(verdict, "trunks", messages, hosts)


def check_toll_fraud(verdict: Verdict, messages: list[CapturedSip], hosts: Hosts,
                     probes: Sequence[ProbeLike]) -> None:
    _each_refused(verdict, "toll fraud", messages, hosts, probes)


def check_wrong_password(verdict: Verdict, messages: list[CapturedSip], hosts: Hosts,
                         probes: Sequence[ProbeLike]) -> None:
    """Each probe is challenged, answers with credentials, and is refused again."""

    def credentials_sent(probe: ProbeLike, ex: Exchange) -> bool:
        answered = [m for m in ex.requests if _credentials(m) is not None]
        return verdict.check("wrong password", LEG, f"{probe.label} credentials sent",
                             bool(answered), "a challenge answered with the wrong secret",
                             f"{len(answered)} request(s) with credentials; answers: "
                             f"{ex.describe()}", ex.frame)

    _each_refused(verdict, "wrong password", messages, hosts, probes, credentials_sent)


def check_same_answers(verdict: Verdict, messages: list[CapturedSip], hosts: Hosts,
                       probes: Sequence[ProbeLike]) -> None:
    """Per method, every user's answers equal the first (existing) user's."""
    found = exchanges(messages, hosts)
    for method in PROBE_METHODS:
        group = [p for p in probes if p.method == method]
        if not group:
            continue
        base = _exchange(verdict, "probing", found, group[0].label)
        for probe in group[1:]:
            ex = _exchange(verdict, "probing", found, probe.label)
            if base is None or ex is None:
                continue
            differ = next((b for b, o in zip(base.answers, ex.answers, strict=False)
                           if b.text != o.text), None)
            frame = (ex.answers[base.answers.index(differ)].frame if differ is not None
                     else ex.frame)
            verdict.check(
                "probing", LEG, f"{method} {probe.user} answered as {group[0].user}",
                base.texts() == ex.texts(), f"{group[0].user}'s: {base.describe()}",
                ex.describe(), frame)
    nothing_to_trunks(verdict, "trunks", messages, hosts)


def _credentials(m: CapturedSip) -> str | None:
    msg = m.message
    if msg is None:
        return None
    return msg.headers.get("Authorization") or msg.headers.get("Proxy-Authorization")


def check_weak_secret(verdict: Verdict, messages: list[CapturedSip], hosts: Hosts,
                      probes: Sequence[ProbeLike]) -> None:
    """No secret of the dictionary is accepted; the one that is is named, recovered from
    the accepted request's digest (RFC 2617 3.2.2) against the dictionary."""
    found = exchanges(messages, hosts)
    candidates = [p.secret for p in probes if p.secret is not None]
    # every try the attacker made must be in the capture: a gap is not a refusal
    tried = [ex for p in probes if (ex := _exchange(verdict, "weak secret", found, p.label))]
    unanswered = [ex.label for ex in tried if not ex.answers]
    verdict.check("weak secret", LEG, "answers captured", not unanswered,
                  "a final answer to every try", ", ".join(unanswered) or "all answered")
    with_credentials = [ex for ex in tried if any(_credentials(m) for m in ex.requests)]
    verdict.check("weak secret", LEG, "attack tried", bool(with_credentials),
                  "challenges answered with the dictionary's secrets",
                  f"{len(with_credentials)} of {len(probes)} probes sent credentials",
                  tried[0].frame if tried else None)
    for ex in with_credentials:
        accepted = [a for a in ex.answers if 200 <= a.status < 300]
        if not accepted:
            continue
        request = next(m for m in ex.requests if _credentials(m))
        credentials = _credentials(request) or ""
        method = request.msg.method if isinstance(request.msg, Request) else ""
        secret = next((c for c in candidates if verify(credentials, method, c)), "?")
        user = request.msg.from_addr.uri.user if request.msg.from_addr else "?"
        verdict.check(
            "weak secret", LEG, f"{user}'s secret", False,
            f"none of {len(candidates)} common secrets accepted",
            f"weak secret: {user}'s secret is {secret!r} (found after "
            f"{tried.index(ex) + 1} tries: {accepted[0].text})", accepted[0].frame)
        return
    verdict.check("weak secret", LEG, "dictionary", True,
                  f"none of {len(candidates)} common secrets accepted",
                  f"{len(with_credentials)} secrets tried, all refused")


class WeakSecret(CallflowFailure):
    """The dictionary found a secret, and nothing else failed."""


def raise_if_failed(verdict: Verdict) -> None:
    """WeakSecret when the one failure is the secret found (a test expecting the seed's weak
    secret catches only that), the verdict's own failure for anything else."""
    failures = verdict.failures
    if failures and all(r.step == "weak secret" and r.subject.endswith("'s secret")
                        for r in failures):
        raise WeakSecret(verdict.report())
    verdict.raise_if_failed()


def disclosed_versions(messages: Iterable[CapturedSip], gateway: str) -> list[str]:
    """The Server and User-Agent values the gateway sent, once each, in order."""
    seen: list[str] = []
    for m in messages:
        if m.src != gateway or m.message is None:
            continue
        for name in ("Server", "User-Agent"):
            value = m.message.headers.get(name)
            if value and f"{name}: {value}" not in seen:
                seen.append(f"{name}: {value}")
    return seen
