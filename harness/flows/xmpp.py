"""The seed's Google Talk IVR through Asterisk's res_xmpp and chan_motif, driven for real.

The Google Talk user (a slixmpp bot on the host, through Prosody) calls the company's
account: a Jingle session (XEP-0166) with PCMU over ICE-UDP lands in [from-gtalk], which
answers it and runs the text IVR over XMPP messages while the call is up; the user answers
the JabberSend prompts, and the IVR routes the call over the Lync trunk (the Mediation
Server answers), RTP flowing between the user and Lync through Asterisk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.analysis.verdict import Verdict
from harness.analysis.xmpp_flow import CHAT, check_ivr
from harness.flows.gtalk_session import (
    ASTERISK_JID,
    GTALK_USER,
    GtalkRun,
    jingle_checks,
    media_address,
    settle,
    trunk_media,
)
from harness.flows.run import CallPcap, Simulators, last_call, prepare, verdict_of
from harness.flows.xmpp_account import wait_connected
from harness.gtalk import GtalkError
from harness.roles import ASTERISK

if TYPE_CHECKING:
    from harness.capture.capture import Capture
    from harness.gtalk import GtalkUser
    from harness.topology.topology import Topology

MENU_END = "5 - Conference Center"
# Prompts, as the seed writes them (typos included: "Please enter you name").
PROMPTS = {
    "name": ("Please enter your name", "Please enter you name"),
    "number": ("Enter the number you want to call",),
    "confid": ("Please enter the Conference Id, followed by #",),
}


@dataclass
class IvrRun(GtalkRun):
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
    """The user calls the company's account (Jingle), reads the menu, answers `option`
    (None: no answer) and what follows. Lync hangs up `hangup_after_ms` after answering
    (default: time enough for the conference id's digits, about 250 ms each, after
    option 5), and Asterisk ends the Jingle session."""
    if hangup_after_ms is None:
        hangup_after_ms = 1500 + (300 * len(confid) if option == "5" else 0)
    sims = Simulators.of(topology)
    prepare(sims.mediation, hold_after_ms=None, hangup_after_ms=hangup_after_ms,
            hangup_by="mediation")
    user.media_address = media_address(topology)
    user.drain(ASTERISK_JID)
    run = IvrRun(f"Google Talk IVR, option {option or '(no answer)'}", pcap, None, None,
                 sims.roles, {"option": option}, option=option,
                 media_host=user.media_address,
                 user_jid=f"{user.jid}/{user.resource}")
    try:
        run.jingle = user.call(ASTERISK_JID, timeout=5)
    except GtalkError as exc:
        run.problems.append(f"the Jingle call to {ASTERISK_JID} failed: {exc}")
        return _finish(run, user)
    if not user.wait_answered(run.jingle, 5):
        run.problems.append("Asterisk did not accept the Jingle session within 5 s "
                            f"({run.jingle.reason or run.jingle.error or 'no session-accept'})")
        return _finish(run, user)
    if not user.wait_media(run.jingle, 5):
        stats = run.jingle.media.stats if run.jingle.media else None
        run.problems.append("ICE did not complete within 5 s"
                            + (f" ({stats.ice_error})" if stats and stats.ice_error else ""))
    _converse(user, run, option, name, number, confid)
    if option in ("1", "2", "3", "5"):
        run.mediation_call = last_call(sims.mediation, run.problems, timeout_s=15)
        events = run.mediation_call["events"] if run.mediation_call else []
        run.owes_user_from = next((e["t"] for e in events if e["event"] == "state:confirmed"),
                                  None)
    else:
        # The IVR must end by itself (after JABBER_RECEIVE's timeout at most) without
        # a call to Lync.
        if not topology.wait_idle(settle_s):
            run.problems.append(f"Asterisk still had channels up {settle_s:g} s after the IVR")
        calls = sims.mediation.calls()
        run.mediation_call = calls[-1] if calls else None
    if not settle(user, run.jingle, 10):
        run.problems.append("Asterisk did not end the Jingle session within 10 s of the call")
    return _finish(run, user)


def _converse(user: GtalkUser, run: IvrRun, option: str | None, name: str, number: str,
              confid: str) -> None:
    try:
        menu = user.messages_until(ASTERISK_JID, lambda m: m == MENU_END, timeout=10)
    except GtalkError as exc:
        run.problems.append(f"the IVR menu did not arrive: {exc}")
        return
    run.transcript += [(ASTERISK, m) for m in menu]
    if option is None:
        return
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


def _finish(run: IvrRun, user: GtalkUser) -> IvrRun:
    run.pcap.stop()
    if run.jingle is not None and not run.jingle.ended.is_set():
        user.hangup(run.jingle)  # a failed run leaves no session behind
    run.transcript += [(ASTERISK, m) for m in user.drain(ASTERISK_JID)]
    return run


def verify(run: IvrRun, name: str = "Alice Smith", number: str = "+14255550150",
           confid: str = "123456#") -> Verdict:
    """The IVR's chat and trunk call (xmpp_flow), then the Jingle call that carried it: the
    user's session-initiate accepted by Asterisk, ICE, RTP both ways (Asterisk's toward the
    user from Lync's answer: the IVR itself sends no audio), Asterisk's session-terminate."""
    def check(capture: Capture) -> Verdict:
        v = check_ivr(run.transcript, capture.sip_messages(), capture, run.roles,
                      run.pcap.path, run.flow, run.option, name, number, confid)
        jingle_checks(v, run, capture, initiator=GTALK_USER, outcome="answered",
                      terminated_by=ASTERISK, reason="success",
                      addresses={ASTERISK: run.address_of(ASTERISK),
                                 GTALK_USER: run.media_host},
                      asterisk_owes=run.option in ("1", "2", "3", "5"))
        trunk_media(v, run, capture, after_digits=run.option == "5")
        return v

    return verdict_of(run, check)


def account_status(topology: Topology, user: GtalkUser, timeout_s: float = 8.0) -> Verdict:
    """Seed jabber.conf: Asterisk's account connected, available, "How can we help?", and
    a Google Talk user's subscription accepted."""
    v = Verdict("Google Talk account (jabber.conf)", None, family="Google Talk")
    state = wait_connected(topology, timeout_s)
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
