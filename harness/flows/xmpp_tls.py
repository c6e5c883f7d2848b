"""The seed's ``usetls=yes`` on the wire: Asterisk's Google Talk account signs in with
STARTTLS (RFC 6120 5.4.2: the client sends ``<starttls/>``, the server answers
``<proceed/>``, and the rest of the connection is TLS), checked from the capture of a
fresh sign-in.

The account is connected before any test runs, so the flow makes res_xmpp sign in again:
res_xmpp reconnects a client only when its user, password, server, port or priority
changes on a reload (res_xmpp.c compares the old client configuration with the new), so
the run copy of xmpp.conf gets ``priority=2`` for the capture and its own lines back
afterwards (a second sign-in, waited for, so the tests that follow meet a connected
account).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.capture.table import PROTO_TCP
from harness.capture.xmpp import XMPP_C2S_PORT, extract_xmpp
from harness.flows.run import CallPcap, CallRun, verdict_of
from harness.flows.xmpp_account import ACCOUNT, wait_connected
from harness.roles import ASTERISK

if TYPE_CHECKING:
    from harness.topology.topology import Topology

STEP = "xmpp-tls"
LEG = "XMPP (Asterisk's account)"
XMPP_SERVER = "XMPP server"
# Asterisk 22 runs usetls=no (fixtures/asterisk/xmpp.conf says why): a documented
# difference, expected to fail this flow's STARTTLS step and nothing else.
NO_TLS_22 = ("Asterisk 22 runs usetls=no: with TLS its res_xmpp crashed (SIGSEGV) or dropped "
             "its XMPP connection under Jingle calls, one OpenSSL session being read and "
             "written from several threads without a lock")
_SIGN_IN_S = 10.0


@dataclass
class SignInRun(CallRun):
    """A sign-in of the gateway's account: its state once signed in again."""

    state: str = ""
    gateway: str = ""  # the gateway's address
    server: str = ""  # the XMPP server's


def sign_in(topology: Topology, pcap: CallPcap) -> SignInRun:
    """Asterisk's account signs in again while ``pcap`` records."""
    cfg = topology.config
    run = SignInRun("Asterisk signs in to the Google Talk service (jabber.conf usetls=yes)",
                    pcap, None, None, cfg.roles(), {},
                    gateway=cfg.address("asterisk"), server=cfg.address("xmpp"))
    section = f"[{ACCOUNT}]\n"
    if section not in (cfg.asterisk_fixtures / "xmpp.conf").read_text():
        run.problems.append(f"xmpp.conf has no {section.strip()} section to sign in with")
        pcap.stop()
        return run
    try:
        with topology.gateway_config_edited(
                "xmpp.conf", lambda text: text.replace(section, f"{section}priority=2\n", 1),
                ("res_xmpp.so",)):
            run.state = wait_connected(topology, _SIGN_IN_S)
            pcap.stop()  # before the restore signs the account in once more
    finally:
        pcap.stop()
    again = wait_connected(topology, _SIGN_IN_S)
    if again != "Connected":
        run.problems.append(f"the account did not sign in again with its own lines: {again}")
    return run


def _syns(capture: Capture, src: str, dst: str, port: int) -> list[int]:
    """Frame numbers of the TCP SYNs (without ACK) from ``src`` to ``dst``:``port``."""
    sel = np.flatnonzero((capture.proto == PROTO_TCP) & (capture.dport == port)
                         & ((capture.tcp_flags & 0x12) == 0x02))
    return [i + 1 for i in sel.tolist() if capture.src(i) == src and capture.dst(i) == dst]


def verify(run: SignInRun) -> Verdict:
    """A new connection from Asterisk and the account connected (step "account"); then
    the seed's TLS: Asterisk asks STARTTLS, the server grants it, and none of the account's
    stanzas is in clear (step "xmpp-tls")."""
    def check(capture: Capture) -> Verdict:
        v = Verdict(run.flow, run.pcap.path, family="Google Talk")
        syns = _syns(capture, run.gateway, run.server, XMPP_C2S_PORT)
        v.check("account", LEG, "a new connection to the XMPP server", bool(syns),
                f"a TCP SYN from Asterisk to {run.server}:{XMPP_C2S_PORT}",
                f"{len(syns)} SYN" if syns else "none", syns[0] if syns else None)
        v.equal("account", ASTERISK, f"xmpp show connections: {ACCOUNT}", "Connected",
                run.state)
        found = extract_xmpp(capture)
        asked = next((t for t in found.tls if t.kind == "starttls"
                      and (t.src_host, t.dst_host) == (run.gateway, run.server)), None)
        v.check(STEP, LEG, "STARTTLS asked by Asterisk (seed: usetls=yes)", asked is not None,
                f"<starttls/> from Asterisk to {run.server} (RFC 6120 5.4.2.1)",
                "none: the account signed in without TLS" if asked is None
                else f"<starttls/> at frame {asked.frame}", asked.frame if asked else None)
        granted = next((t for t in found.tls if t.kind == "proceed"
                        and (t.src_host, t.dst_host) == (run.server, run.gateway)), None)
        v.check(STEP, LEG, "STARTTLS granted by the XMPP server", granted is not None,
                "<proceed/> to Asterisk (RFC 6120 5.4.2.3)",
                "none" if granted is None else f"<proceed/> at frame {granted.frame}",
                granted.frame if granted else None)
        clear = [s for s in found.stanzas if run.gateway in (s.src_host, s.dst_host)]
        v.check(STEP, LEG, "the account's stanzas in clear", not clear,
                "none: after STARTTLS every stanza travels in TLS",
                f"{len(clear)}, the first a <{clear[0].kind}>" if clear else "none",
                clear[0].frame if clear else None)
        return v

    return verdict_of(run, check)


__all__ = ["NO_TLS_22", "STEP", "SignInRun", "sign_in", "verify"]
