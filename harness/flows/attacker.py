"""The attacker: an unknown host that sends SIP requests to the gateway over UDP.

Runs inside a one-off container on the topology's network (standard library and
``harness.sip`` only, as the simulators do): ``python3 -m harness.flows.attacker PLAN``,
PLAN being JSON ``{"gateway": ADDR, "local": ADDR, "probes": [...]}``. Each probe is one
request in a dialog of its own; its Call-ID starts with the probe's label
(``label~token@host``) so that the checks find every exchange in the pcap by label alone.
A challenge (401/407) is answered with the probe's secret when it has one (RFC 3261
22.2, 22.3), with the same Call-ID and the next CSeq. Prints one JSON line per probe
(label, Call-ID, the finals seen): what the attacker saw, the pcap stays the evidence.

Requests follow what scanners send: REGISTER without a Contact is a query for the
bindings (RFC 3261 10.2.3) and authenticates like any REGISTER without changing the
softphone's registration; INVITE carries a PCMU offer so that a gateway that lets it
through really places the call; a call that is answered is ACKed and hung up, one that
rings too long is cancelled.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import dataclass, field

from harness.sip import Request, Response, SipParseError, parse_message
from harness.sip.auth import build_authorization
from harness.sip.builder import (
    make_ack,
    make_cancel,
    make_request,
    new_branch,
    new_tag,
    via_value,
)

LABEL_END = "~"  # ends the label in the Call-ID: "label~token@host"
PORT = 5062  # the attacker's own port: not 5060, so it is never taken for a SIP peer
RETRANSMIT_S = (0.5, 1.0, 2.0)  # RFC 3261 17.1.1.2/17.1.2.2 timers from T1 = 500 ms
# Between probes: the capture's tcpdump dropped 24 of 60 packets of back-to-back probes
# answered within 1 ms each (Asterisk 16); 20 ms apart it keeps them all.
INTERVAL_S = 0.02
FINAL_WAIT_S = 4.0  # after the last retransmission: no answer means none
RINGING_WAIT_S = 6.0  # an INVITE that gets no final answer by then is cancelled


@dataclass(frozen=True)
class Probe:
    """One request: `user` is the Request-URI's and the To's user (REGISTER: the
    address of record; OPTIONS and INVITE: the number dialled), `from_user` the From's
    (the user an attacker claims to be), `secret` answers a challenge (None: it is not
    answered)."""

    label: str
    method: str
    user: str
    from_user: str
    secret: str | None = None

    @classmethod
    def of(cls, data: dict[str, str | None]) -> Probe:
        return cls(str(data["label"]), str(data["method"]), str(data["user"]),
                   str(data.get("from_user") or data["user"]), data.get("secret"))


@dataclass
class Outcome:
    label: str
    call_id: str
    finals: list[str] = field(default_factory=list)  # "401 Unauthorized", in order
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps({"label": self.label, "call_id": self.call_id,
                           "finals": self.finals, "problems": self.problems})


@dataclass
class Attacker:
    gateway: str
    local: str
    sock: socket.socket

    def sdp(self) -> bytes:
        return (f"v=0\r\no=- 1 1 IN IP4 {self.local}\r\ns=-\r\nc=IN IP4 {self.local}\r\n"
                "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").encode()

    def request(self, probe: Probe, call_id: str, cseq: int, from_tag: str,
                authorization: tuple[str, str] | None = None) -> Request:
        domain = self.gateway
        uri = (f"sip:{domain}" if probe.method == "REGISTER"
               else f"sip:{probe.user}@{domain}")
        invite = probe.method == "INVITE"
        headers = [("User-Agent", "sipharness-attacker")]
        if authorization is not None:
            headers.append(authorization)
        return make_request(
            probe.method, uri,
            from_=f"<sip:{probe.from_user}@{domain}>;tag={from_tag}",
            to=f"<sip:{probe.user}@{domain}>", call_id=call_id, cseq=cseq,
            via=via_value("UDP", self.local, PORT, branch=new_branch(), rport=True),
            contact=f"<sip:{probe.from_user}@{self.local}:{PORT}>" if invite else None,
            headers=headers, body=self.sdp() if invite else b"",
            content_type="application/sdp" if invite else None)

    def send(self, message: Request) -> None:
        self.sock.sendto(message.serialize(), (self.gateway, 5060))

    def receive(self, call_id: str, cseq: tuple[int, str], timeout: float) -> Response | None:
        """The next response of this transaction (Call-ID and CSeq), or None."""
        self.sock.settimeout(timeout)
        while True:
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                return None
            try:
                message = parse_message(data)
            except SipParseError:
                continue
            if isinstance(message, Request):  # a request of the gateway's: not answered
                continue
            if message.call_id == call_id and message.cseq == cseq:
                return message

    def transaction(self, request: Request, outcome: Outcome) -> Response | None:
        """Sends `request` until a final response arrives (retransmitting over UDP while
        nothing does); ACKs a final to an INVITE, cancels one that only rings."""
        call_id, cseq, method = request.call_id or "", request.cseq, request.method
        provisional = False
        for wait in (*RETRANSMIT_S, FINAL_WAIT_S):
            self.send(request)
            response = self.receive(call_id, cseq, wait)
            while response is not None and response.status < 200:
                provisional = True
                response = self.receive(call_id, cseq, RINGING_WAIT_S)
            if response is not None:
                outcome.finals.append(f"{response.status} {response.reason}")
                if method == "INVITE":
                    self.end_invite(request, response)
                return response
            if provisional:
                outcome.problems.append(f"{method}: no final answer within "
                                        f"{RINGING_WAIT_S:g} s: cancelled")
                self.cancel(request, outcome)
                return None
        outcome.problems.append(f"{method}: no answer")
        return None

    def end_invite(self, invite: Request, response: Response) -> None:
        self.send(make_ack(invite, response))
        if 200 <= response.status < 300:  # the gateway let the call through: hang up
            to = response.headers.get("To") or ""
            bye = make_request(
                "BYE", invite.uri, from_=invite.headers.get("From") or "", to=to,
                call_id=invite.call_id or "", cseq=invite.cseq[0] + 1,
                via=via_value("UDP", self.local, PORT, branch=new_branch(), rport=True))
            self.send(bye)
            self.receive(bye.call_id or "", bye.cseq, FINAL_WAIT_S)

    def cancel(self, invite: Request, outcome: Outcome) -> None:
        self.send(make_cancel(invite))
        final = self.receive(invite.call_id or "", invite.cseq, FINAL_WAIT_S)
        if final is not None and final.status >= 200:
            outcome.finals.append(f"{final.status} {final.reason}")
            self.end_invite(invite, final)

    def run(self, probe: Probe, token: str) -> Outcome:
        call_id = f"{probe.label}{LABEL_END}{token}@{self.local}"
        outcome = Outcome(probe.label, call_id)
        from_tag = new_tag()
        first = self.request(probe, call_id, 1, from_tag)
        response = self.transaction(first, outcome)
        if response is None or response.status not in (401, 407) or probe.secret is None:
            return outcome
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
        challenge = response.headers.get(header)
        if challenge is None:
            outcome.problems.append(f"{response.status} without {header}")
            return outcome
        value = build_authorization(challenge, probe.method, first.uri, probe.from_user,
                                    probe.secret)
        self.transaction(self.request(probe, call_id, 2, from_tag, (answer, value)), outcome)
        return outcome


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python3 -m harness.flows.attacker PLAN_JSON", file=sys.stderr)
        return 2
    plan = json.loads(argv[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((plan["local"], PORT))
        attacker = Attacker(plan["gateway"], plan["local"], sock)
        for n, data in enumerate(plan["probes"]):
            if n:
                time.sleep(INTERVAL_S)  # a rate, not a wait for an event
            outcome = attacker.run(Probe.of(data), f"{n}{new_tag()}")
            print(outcome.as_json(), flush=True)
            # a dictionary attack ends at the secret it found, as svcrack does
            if plan.get("stop_at_success") and outcome.finals[-1:] and \
                    outcome.finals[-1].startswith("2"):
                break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
