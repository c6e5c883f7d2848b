"""The seed's Google Talk IVR through Asterisk's res_xmpp, driven for real.

The Google Talk user (a slixmpp bot on the host, through Prosody) answers the IVR's
JabberSend prompts; the IVR routes the call over the Lync trunk (the Mediation Server
answers). The call that starts the IVR is an originate into [gtalk-call] with the user's
JID as caller name: chan_gtalk is gone, and the bot cannot place a Jingle call (see the
fixture's note).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.analysis.verdict import Verdict
from harness.analysis.xmpp_flow import CHAT, check_ivr
from harness.flows.run import CallPcap, CallRun, Simulators, last_call, prepare, verdict_of
from harness.gtalk import GtalkError
from harness.roles import ASTERISK

if TYPE_CHECKING:
    from harness.gtalk import GtalkUser
    from harness.topology.topology import Topology

ASTERISK_JID = "asterisk@gmail.test"
MENU_END = "5 - Conference Center"
# Prompts, as the seed writes them (typos included: "Please enter you name").
PROMPTS = {
    "name": ("Please enter your name", "Please enter you name"),
    "number": ("Enter the number you want to call",),
    "confid": ("Please enter the Conference Id, followed by #",),
}


@dataclass
class IvrRun(CallRun):
    transcript: list[tuple[str, str]] = field(default_factory=list)  # (who, text) in order
    option: str | None = None


def _wait_prompt(user: GtalkUser, run: IvrRun, kind: str, timeout: float) -> bool:
    try:
        text = user.wait_message(ASTERISK_JID, timeout)
    except GtalkError as exc:
        run.problems.append(f"no {kind} prompt from Asterisk: {exc}")
        return False
    run.transcript.append((ASTERISK, text))
    if text not in PROMPTS[kind]:
        run.problems.append(f"expected the {kind} prompt {PROMPTS[kind][0]!r}, got {text!r}")
        return False
    return True


def _say(user: GtalkUser, run: IvrRun, text: str) -> None:
    user.send(ASTERISK_JID, text)
    run.transcript.append(("user", text))


def ivr_call(topology: Topology, pcap: CallPcap, user: GtalkUser, option: str | None,
             name: str = "Alice Smith", number: str = "+14255550150", confid: str = "123456#",
             hangup_after_ms: int | None = None, settle_s: float = 6.0) -> IvrRun:
    """Starts the IVR, reads the menu, answers `option` (None: no answer) and what follows.
    Lync hangs up `hangup_after_ms` after answering (default: time enough for the
    conference id's digits, about 250 ms each, after option 5)."""
    if hangup_after_ms is None:
        hangup_after_ms = 1500 + (300 * len(confid) if option == "5" else 0)
    sims = Simulators.of(topology)
    prepare(sims.mediation, hold_after_ms=None, hangup_after_ms=hangup_after_ms,
            hangup_by="mediation")
    user.drain(ASTERISK_JID)
    run = IvrRun(f"Google Talk IVR, option {option or '(no answer)'}", pcap, None, None,
                 sims.roles, {"option": option}, option=option)
    topology.asterisk(f"dialplan set global GTALK_JID {user.jid}")
    topology.asterisk("channel originate Local/s@gtalk-call application Wait 30")
    try:
        menu = user.messages_until(ASTERISK_JID, lambda m: m == MENU_END, timeout=10)
    except GtalkError as exc:
        run.problems.append(f"the IVR menu did not arrive: {exc}")
        pcap.stop()
        return run
    run.transcript += [(ASTERISK, m) for m in menu]
    if option is not None:
        _say(user, run, option)
        steps = {"1": ["name"], "2": ["name", "number"], "3": ["name"], "5": ["name", "confid"]}
        answers = {"name": name, "number": number, "confid": confid}
        for kind in steps.get(option, []):
            if not _wait_prompt(user, run, kind, timeout=10):
                break
            _say(user, run, answers[kind])
        if option == "4":
            try:
                info = user.messages_until(ASTERISK_JID, 5, timeout=10)
                run.transcript += [(ASTERISK, m) for m in info]
            except GtalkError as exc:
                run.problems.append(f"the company info did not arrive: {exc}")
    if option in ("1", "2", "3", "5"):
        run.mediation_call = last_call(sims.mediation, run.problems, timeout_s=15)
    else:
        # The IVR must end by itself (after JABBER_RECEIVE's timeout at most) without
        # a call to Lync.
        if not topology.wait_idle(settle_s):
            run.problems.append(f"Asterisk still had channels up {settle_s:g} s after the IVR")
        calls = sims.mediation.calls()
        run.mediation_call = calls[-1] if calls else None
    pcap.stop()
    run.transcript += [(ASTERISK, m) for m in user.drain(ASTERISK_JID)]
    return run


def verify(run: IvrRun, name: str = "Alice Smith", number: str = "+14255550150",
           confid: str = "123456#") -> Verdict:
    return verdict_of(run, lambda capture: check_ivr(
        run.transcript, capture.sip_messages(), capture, run.roles, run.pcap.path, run.flow,
        run.option, name, number, confid))


def account_status(topology: Topology, user: GtalkUser, timeout_s: float = 8.0) -> Verdict:
    """Seed jabber.conf: Asterisk's account connected, available, "How can we help?", and
    a Google Talk user's subscription accepted."""
    v = Verdict("Google Talk account (jabber.conf)", None, family="Google Talk")
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:  # res_xmpp reports no event: poll its CLI
        line = next((ln for ln in topology.asterisk("xmpp show connections").splitlines()
                     if "gtalk_account" in ln), "")
        state = line.rsplit("-", 1)[-1].strip() if line else "no such account"
        if state == "Connected":
            break
        time.sleep(0.25)
    v.equal("account", ASTERISK, "xmpp show connections: gtalk_account", "Connected", state)
    try:
        user.subscribe(ASTERISK_JID, timeout=5)
        v.check("account", CHAT, "subscription", True, "accepted (seed: auto-accepts subscribes)",
                "accepted")
    except GtalkError as exc:
        v.check("account", CHAT, "subscription", False, "accepted (seed: auto-accepts subscribes)",
                str(exc))
    try:
        presence = user.wait_presence(ASTERISK_JID, ("available", "chat"), timeout=5)
        shown = (presence.show, presence.status)
    except GtalkError as exc:
        shown = ("unavailable", str(exc))
    v.equal("account", CHAT, "presence of asterisk@gmail.test",
            ("available", "How can we help?"), shown)
    return v
