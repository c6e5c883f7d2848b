"""The security checks over real captures of the attacker against both gateways
(tests/unit/data/security/, taken on 192.168.121.0/24), and with faults injected."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.analysis import security_rules as rules
from harness.analysis.verdict import Verdict
from harness.capture import CapturedSip, open_capture
from harness.flows import security
from harness.sip import parse_message

DATA = Path(__file__).parent / "data" / "security"
HOSTS = rules.Hosts("192.168.121.10", "192.168.121.66",
                    {"192.168.121.20": "Mediation Server", "192.168.121.30": "Skype"})
FOUND_AT = 14  # the dictionary holds the extension (1000) as its 14th secret


def messages(name: str) -> list[CapturedSip]:
    return list(open_capture(DATA / name).sip_messages())


def judged(check: rules.Check, msgs: list[CapturedSip], probes: list) -> Verdict:
    verdict = Verdict("test", None)
    check(verdict, msgs, HOSTS, probes)
    return verdict


def answered_ok(msgs: list[CapturedSip], label: str) -> list[CapturedSip]:
    """The fault: the gateway's first final answer to `label` becomes 200 OK."""
    out, done = [], False
    for m in msgs:
        if (not done and m.dst == HOSTS.attacker and rules.label_of(m.msg.call_id) == label
                and not m.is_request and m.msg.status >= 200):
            line = m.data.split(b"\r\n", 1)[0]
            data = m.data.replace(line, b"SIP/2.0 200 OK", 1)
            m, done = replace(m, data=data, message=parse_message(data)), True
        out.append(m)
    return out


def test_toll_fraud_refused_on_pjsip():
    verdict = judged(rules.check_toll_fraud, messages("pjsip-toll-fraud.pcap"),
                     security.toll_fraud_probes())
    assert verdict.ok, verdict.report()
    assert len(verdict.results) == 5 + 3  # five INVITEs, three "no INVITE onward"


def test_toll_fraud_fails_on_an_accepted_invite():
    msgs = answered_ok(messages("pjsip-toll-fraud.pcap"), "toll/INVITE/1001")
    verdict = judged(rules.check_toll_fraud, msgs, security.toll_fraud_probes())
    [failure] = verdict.failures
    assert failure.subject == "toll/INVITE/1001" and failure.actual == "200 OK"


def test_toll_fraud_fails_on_an_invite_to_a_trunk():
    msgs = messages("pjsip-toll-fraud.pcap")
    invite = next(m for m in msgs if m.src == HOSTS.attacker and m.is_request)
    forwarded = replace(invite, src=HOSTS.gateway, dst="192.168.121.30", frame=999)
    verdict = judged(rules.check_toll_fraud, [*msgs, forwarded],
                     security.toll_fraud_probes())
    [failure] = verdict.failures
    assert failure.leg == "Asterisk -> Skype" and failure.frame == 999


def test_a_probe_missing_from_the_capture_fails():
    probes = [*security.toll_fraud_probes(),
              security.Probe("toll/INVITE/9501", "INVITE", "9501", "attacker")]
    verdict = judged(rules.check_toll_fraud, messages("pjsip-toll-fraud.pcap"), probes)
    [failure] = verdict.failures
    assert failure.actual == "not captured"


def test_wrong_password_refused_with_403_on_chan_sip():
    msgs = messages("chansip-wrong-password.pcap")
    verdict = judged(rules.check_wrong_password, msgs, security.wrong_password_probes())
    assert verdict.ok, verdict.report()
    found = rules.exchanges(msgs, HOSTS)
    assert found["wrongpw/REGISTER/1000"].texts() == ["401 Unauthorized", "403 Forbidden"]
    faulty = answered_ok(msgs[::-1], "wrongpw/INVITE/+14255550150")[::-1]  # the last final
    verdict = judged(rules.check_wrong_password, faulty, security.wrong_password_probes())
    assert [f.subject for f in verdict.failures] == ["wrongpw/INVITE/+14255550150"]


def test_probing_same_answers_on_pjsip():
    verdict = judged(rules.check_same_answers, messages("pjsip-probing.pcap"),
                     security.probing_probes())
    assert verdict.ok, verdict.report()


def test_probing_chan_sip_options_reveal_the_extension():
    """chan_sip answers OPTIONS for an extension of the dialplan 200 and others 404."""
    verdict = judged(rules.check_same_answers, messages("chansip-probing.pcap"),
                     security.probing_probes())
    assert [(f.subject, f.expected, f.actual) for f in verdict.failures] == [
        ("OPTIONS 1999 answered as 1000", "1000's: 200 OK", "404 Not Found"),
        ("OPTIONS 2000 answered as 1000", "1000's: 200 OK", "404 Not Found"),
    ]


@pytest.mark.parametrize("pcap", ["pjsip-dictionary.pcap", "chansip-dictionary.pcap"])
def test_dictionary_finds_the_seed_secret(pcap):
    verdict = judged(rules.check_weak_secret, messages(pcap),
                     security.dictionary_probes()[:FOUND_AT])
    [failure] = verdict.failures
    assert failure.actual.startswith("weak secret: 1000's secret is '1000' (found after 14")
    with pytest.raises(rules.WeakSecret):
        rules.raise_if_failed(verdict)


def test_dictionary_with_a_strong_secret_passes():
    """The same capture, the accepted try removed: every secret was refused."""
    msgs = [m for m in messages("pjsip-dictionary.pcap")
            if rules.label_of(m.message.call_id if m.message else None)
            != f"dict/REGISTER/1000/{FOUND_AT - 1}"]
    verdict = judged(rules.check_weak_secret, msgs, security.dictionary_probes()[:FOUND_AT - 1])
    assert verdict.ok, verdict.report()


def test_dictionary_capture_with_drops_is_not_a_pass():
    """tcpdump dropped the tail of a back-to-back attack: the missing tries fail the
    check instead of passing for refused, and the WeakSecret expectation does not hide it."""
    verdict = judged(rules.check_weak_secret, messages("chansip-dictionary-dropped.pcap"),
                     security.dictionary_probes()[:FOUND_AT])
    assert {f.actual for f in verdict.failures} == {"not captured"}
    with pytest.raises(rules.CallflowFailure) as raised:
        rules.raise_if_failed(verdict)
    assert not isinstance(raised.value, rules.WeakSecret)


def test_disclosed_versions():
    assert rules.disclosed_versions(messages("chansip-probing.pcap"), HOSTS.gateway) == [
        "Server: Asterisk PBX 16.28.0~dfsg-0+deb11u4"]
    assert rules.disclosed_versions(messages("pjsip-toll-fraud.pcap"), HOSTS.gateway) == [
        "Server: Asterisk PBX 22.10.1+dfsg+~cs6.17.60671434-1"]
