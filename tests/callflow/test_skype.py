"""The seed's Skype integrations through the real Asterisk: Skype for SIP (registration,
Lync to Skype's test number, Skype to Lync, the channel limit) and the withdrawn Skype for
Asterisk's echo123, emulated. Each checked from its pcap."""

from __future__ import annotations

import pytest

from harness.flows import skype

pytestmark = [pytest.mark.callflow, pytest.mark.skype]

PROFILE = "99051000107808"

# Measured on Asterisk 16's chan_sip with the seed's [Skype SIP profile] (allow = ulaw, alaw,
# g729): its INVITE to Skype offers "0 8 101", without G.729 (18); Asterisk 22's PJSIP
# offers "0 8 18 101". Debian's Asterisk 16 has no G.729 codec module (codec_g729 was
# licensed separately), and chan_sip leaves out what it cannot translate the caller's
# audio to.
CHAN_SIP_NO_G729 = pytest.mark.gateway_difference(
    "asterisk16-chansip",
    reason="chan_sip offers Skype 0 8 101 without the G.729 the seed allows (no G.729 "
    "codec in Debian's Asterisk 16)",
    explains=("2:codec set",),
)


def test_registration_is_challenged_answered_and_refreshed(topology, call_pcap, flow_report):
    """Seed: register => 99051000107808:<password>@sip.skype.com/99051000107808."""
    # Asterisk refreshes 10 s before expiry (res_pjsip_outbound_registration): a 12 s
    # grant shows the refresh 2 s later. (An 8 s grant makes Asterisk 22 re-register
    # every ~15 ms; the refresh-time check catches that.)
    run, regs = skype.registration(topology, call_pcap, grant_s=12)
    verdict = flow_report.add(run, skype.verify(run, "registration", granted_s=12))
    verdict.raise_if_failed()
    assert len(regs) >= 2


@CHAN_SIP_NO_G729
def test_lync_dials_1001_reaches_skype_test_number_and_hears_echo(topology, call_pcap, flow_report):
    """Seed: 1001 sets the caller ID to the profile number and dials the test number."""
    run = skype.lync_dials(topology, call_pcap, "1001")
    flow_report.add(
        run,
        skype.verify(
            run, "lync_to_skype", dialled="+1001", target="+17606604690", via_profile=True
        ),
    ).raise_if_failed()


def test_lync_dials_1002_reaches_echo123_through_skype_for_asterisk(
    topology, call_pcap, flow_report
):
    """Seed: exten => 1002,1,Dial(Skype/echo123), with chan_skype emulated as a SIP peer."""
    run = skype.lync_dials(topology, call_pcap, "1002")
    flow_report.add(
        run,
        skype.verify(run, "lync_to_skype", dialled="+1002", target="echo123", via_profile=False),
    ).raise_if_failed()


def test_skype_user_calls_lync_as_anonymous_caller(topology, call_pcap, flow_report):
    """Seed: a Skype call to the business account reaches Bob on Lync as Anonymous Caller."""
    run = skype.skype_calls_lync(topology, call_pcap, anonymous=True)
    flow_report.add(run, skype.verify(run, "skype_to_lync", anonymous=True)).raise_if_failed()


def test_skype_user_reaches_lync_through_skype_for_asterisk(topology, call_pcap, flow_report):
    """Seed "Skype for Asterisk": chan_skype.conf's exten = 14255550150 in context default,
    which "was already configured to route calls for 14255550150 to his Lync Server"."""
    run = skype.skype_user_calls_lync_via_sfa(topology, call_pcap)
    flow_report.add(run, skype.verify(run, "skype_to_lync", anonymous=False,
                                      via_profile=False)).raise_if_failed()


@CHAN_SIP_NO_G729
def test_channels_exhausted_is_refused_by_skype(topology, call_pcap, flow_report):
    """Skype for SIP sells channels; past them it refuses (here: 0 channels left)."""
    run = skype.lync_dials(topology, call_pcap, "1001", skype={"channels": 0, "limit_status": 503})
    run.flow = "Lync dials 1001, no channel left (refusal expected)"
    verdict = flow_report.add(
        run,
        skype.verify(
            run, "lync_to_skype", dialled="+1001", target="+17606604690", via_profile=True,
            refused=503,
        ),
    )
    verdict.raise_if_failed()
    refusal = next(r for r in verdict.results if r.subject == "call refused")
    assert refusal.actual.startswith("503"), verdict.report()
