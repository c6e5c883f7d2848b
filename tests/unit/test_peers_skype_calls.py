"""The simulated Skype for SIP service, continued: the Skype for Asterisk listener
(echo123), calls from Skype to the gateway with their RTP and DTMF, malformed requests, the
behaviour API, the command line and the service's own retransmissions (RFC 3261 timers)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from harness.peers.skype.service import build_parser, config_from_args
from harness.rtp.packet import RtpPacket
from harness.sip.builder import (
    make_ack,
    make_request,
    make_response,
    new_branch,
    via_value,
)
from harness.sip.sdp import SessionDescription
from tests.support.peers import LOCAL, run_async
from tests.support.skype_sim import (
    DOMAIN,
    ECHO,
    PROFILE,
    Dialler,
    Sim,
    Ua,
    Udp,
    answer_port,
    offer,
    register,
)


@run_async
async def test_sfa_echo123_needs_no_auth_and_echoes() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sfa_port, rtp.port, to="echo123", caller="contoso", pts=(0, 101))
        invite = d.invite()
        ua.send(invite, sim.sfa_port)
        await ua.expect(100)
        ok, _ = await ua.expect(200)
        ua.send(make_ack(invite, ok), sim.sfa_port)
        port = answer_port(ok)
        rtp.send(RtpPacket(0, 1, 160, 7, b"\x01" * 160).pack(), port)
        packet = RtpPacket.parse((await rtp.datagram())[0])
        assert packet.payload == b"\x01" * 160 and packet.ssrc != 7
        # hold from the gateway (re-INVITE a=sendonly): answered recvonly, echo stops
        hold = d.in_dialog("INVITE", ok)
        hold.headers.add("Contact", f"<sip:contoso@{LOCAL}:{ua.port}>")
        hold.headers.add("Content-Type", "application/sdp")
        hold.body = d.sdp.replace("a=sendrecv", "a=sendonly").encode()
        ua.send(hold, sim.sfa_port)
        held, _ = await ua.expect(200)
        assert "a=recvonly" in held.body.decode()
        ua.send(make_ack(hold, held), sim.sfa_port)
        rtp.send(RtpPacket(0, 2, 320, 7, b"\x02" * 160).pack(), port)
        with pytest.raises(TimeoutError):
            await rtp.datagram(timeout=0.2)
        ua.send(d.in_dialog("BYE", ok), sim.sfa_port)
        await ua.expect(200)
        _status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert record["service"] == "sfa" and record["destination"] == "echo123"
        assert record["rtp_echoed"] == 1 and record["challenges"] == 0
        for name, warning in (
            ("bob_skype", "Skype user not found"),
            ("12", "Destination must be a Skype name or an E.164 number"),
            ("+14255550100", "Number not reachable"),
        ):
            d2 = Dialler(ua, sim.sfa_port, rtp.port, to=name)
            ua.send(d2.invite(), sim.sfa_port)
            r404, _ = await ua.expect(404)
            assert warning in r404.headers.get("Warning")
        ua.send(register(ua, sim.sfa_port, "r1", 1), sim.sfa_port)
        await ua.expect(405)


# -- calls from Skype to the gateway --------------------------------------------------------


@run_async
async def test_call_from_skype_anonymous_answered_with_pcmu_rtp_and_bye() -> None:
    async with Ua() as gw, Udp() as rtp, Sim(gateway_port=gw.port) as sim:
        status, placed = await sim.http("POST", "/calls", {"hangup_after_ms": 300})
        assert status == 200
        invite, raw = await gw.expect(method="INVITE")
        assert invite.uri == f"sip:{PROFILE}@{LOCAL}:{gw.port}"
        assert invite.headers.get("From").startswith(
            '"Anonymous" <sip:anonymous@anonymous.invalid>;tag='
        )
        assert invite.headers.get("To") == f"<sip:{PROFILE}@{DOMAIN}>"
        assert b"\r\nUser-Agent: Skype SIP" in raw
        audio = SessionDescription.parse(invite.body).media[0]
        assert audio.formats == ["18", "0", "8", "101"]
        gw.send(make_response(invite, 100), sim.sip_port)
        gw.send(make_response(invite, 180, to_tag="gw1"), sim.sip_port)
        answer = offer(rtp.port, (0, 101))
        ok = make_response(
            invite,
            200,
            to_tag="gw1",
            headers=[("Contact", f"<sip:{PROFILE}@{LOCAL}:{gw.port}>")],
            body=answer,
            content_type="application/sdp",
        )
        gw.send(ok, sim.sip_port)
        ack, _ = await gw.expect(method="ACK")
        assert ack.headers.get("To").endswith(";tag=gw1") and ack.cseq == (1, "ACK")
        gw.send(ok, sim.sip_port)  # a retransmitted 200 is ACKed again
        await gw.expect(method="ACK")
        packets = [RtpPacket.parse((await rtp.datagram())[0]) for _ in range(5)]
        assert {p.payload_type for p in packets} == {0}
        assert all(len(p.payload) == 160 for p in packets) and packets[0].marker
        bye, _ = await gw.expect(method="BYE", timeout=2.0)
        gw.send(make_response(bye, 200), sim.sip_port)
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["direction"] == "outbound"
        assert record["anonymous"] is True and record["codec"] == "PCMU"
        assert record["rtp_sent"] >= 5


@run_async
async def test_call_from_skype_with_caller_rejected_by_gateway() -> None:
    async with Ua() as gw, Sim(gateway_port=gw.port) as sim:
        status, placed = await sim.http(
            "POST", "/calls", {"from": "14255550100", "anonymous": False}
        )
        invite, _ = await gw.expect(method="INVITE")
        assert invite.headers.get("From").startswith(f"<sip:+14255550100@{DOMAIN}>;tag=")
        gw.send(make_response(invite, 486, to_tag="gw2"), sim.sip_port)
        ack, _ = await gw.expect(method="ACK")
        assert ack.via_branch == invite.via_branch and ack.uri == invite.uri
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "rejected" and record["status_code"] == 486
        status, err = await sim.http("POST", "/calls", {"from": "bad name!"})
        assert status == 400 and err["field"] == "from"


# -- robustness and the API -----------------------------------------------------------------


@run_async
async def test_malformed_requests_get_400_and_options_200() -> None:
    async with Sim() as sim, Ua() as ua:
        bad = (
            f"INVITE sip:{ECHO}@{LOCAL} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCAL}:{ua.port};branch={new_branch()};rport\r\n"
            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: bad1\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        ua.send(bad, sim.sip_port)
        r400, _ = await ua.expect(400)
        assert r400.headers.get("Warning").startswith("399 sip.skype.com ")
        short = bad.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE").replace(
            b"Content-Length: 0", b"Content-Length: 99"
        )
        ua.send(short, sim.sip_port)
        await ua.expect(400)
        ua.send(b"\x00\x01garbage\r\n\r\n", sim.sip_port)
        ua.send(b"\r\n\r\n", sim.sip_port)  # keep-alive
        options = make_request(
            "OPTIONS",
            f"sip:{DOMAIN}",
            from_="<sip:ping@b>;tag=2",
            to=f"<sip:{DOMAIN}>",
            call_id="opt1",
            cseq=1,
            via=via_value("UDP", LOCAL, ua.port, rport=True),
        )
        ua.send(options, sim.sip_port)
        ok, _raw = await ua.expect(200)
        assert ok.headers.get("Allow") and ok.headers.get("Via").endswith(
            f";received={LOCAL};rport={ua.port}"
        )
        ua.send(options, sim.sfa_port)
        await ua.expect(200)
        assert any("INVALID" in line for line in sim.lines)


@run_async
async def test_behaviour_api() -> None:
    async with Sim(channels=4) as sim:
        status, body = await sim.http("GET", "/behaviour")
        assert status == 200 and body["channels"] == 4 and body["echo_numbers"] == [ECHO]
        status, err = await sim.http("PUT", "/behaviour", {"echo_numbers": ["1234"]})
        assert status == 400 and err["field"] == "echo_numbers"
        status, err = await sim.http("PUT", "/behaviour", {"nope": 1})
        assert status == 400 and err["field"] == "nope"
        status, body = await sim.http("PUT", "/behaviour", {"echo_numbers": [ECHO, "+15550001111"]})
        assert body["echo_numbers"] == [ECHO, "+15550001111"] and body["channels"] == 4
        status, body = await sim.http("DELETE", "/behaviour")
        assert body["echo_numbers"] == [ECHO] and body["channels"] == 4
        status, health = await sim.http("GET", "/health")
        assert health == {"ok": True}


def test_cli_help_and_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    assert "--sfa-port" in capsys.readouterr().out
    args = build_parser().parse_args(
        [
            "--address",
            "192.168.100.30",
            "--sip-port",
            "5060",
            "--sfa-port",
            "5070",
            "--control-port",
            "8070",
            "--rtp-ports",
            "41000-41199",
            "--domain",
            "sip.skype.com",
            "--gateway",
            "192.168.100.10:5060",
            "--profile",
            "99051000107808",
            "--password",
            "pw",
            "--channels",
            "2",
        ]
    )
    config = config_from_args(args)
    assert config.gateway == ("192.168.100.10", 5060) and config.rtp_ports == (41000, 41199)
    assert config.channels == 2 and config.password == "pw"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--gateway", "nohost"])


@run_async
async def test_own_requests_retransmitted_timer_a_b_and_e() -> None:
    async with Ua() as gw, Sim(gateway_port=gw.port, t1=0.02) as sim:
        # Timer A: the INVITE is resent at T1, 2*T1, 4*T1 ... until Timer B (64*T1)
        status, placed = await sim.http("POST", "/calls", {})
        loop = asyncio.get_running_loop()
        times = []
        for _ in range(5):
            invite, _raw = await gw.expect(method="INVITE")
            times.append(loop.time())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[-1] > gaps[0] * 3, gaps  # doubling
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=3")
        assert record["state"] == "failed" and "no response" in record["error"]
        # Timer E: the BYE is resent until answered; CANCEL after cancel_after_ms
        gw.clear()
        status, placed = await sim.http("POST", "/calls", {"hangup_after_ms": 50})
        invite, _ = await gw.expect(method="INVITE")
        ok = make_response(
            invite,
            200,
            to_tag="gw3",
            headers=[("Contact", f"<sip:{PROFILE}@{LOCAL}:{gw.port}>")],
            body=offer(9, (8,)),
            content_type="application/sdp",
        )
        gw.send(ok, sim.sip_port)
        await gw.expect(method="ACK")
        _bye1, raw1 = await gw.expect(method="BYE")
        bye2, raw2 = await gw.expect(method="BYE")
        assert raw1 == raw2
        gw.send(make_response(bye2, 200), sim.sip_port)
        status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["codec"] == "PCMA"
        gw.clear()
        status, placed = await sim.http("POST", "/calls", {"cancel_after_ms": 100})
        assert status == 200
        invite, _ = await gw.expect(method="INVITE")
        gw.send(make_response(invite, 180, to_tag="gw4"), sim.sip_port)
        cancel, _ = await gw.expect(method="CANCEL")
        assert cancel.via_branch == invite.via_branch and cancel.cseq == (1, "CANCEL")
        gw.send(make_response(cancel, 200), sim.sip_port)
        gw.send(make_response(invite, 487, to_tag="gw4"), sim.sip_port)
        await gw.expect(method="ACK")
        _status, record = await sim.http("GET", f"/calls/{placed['id']}?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["status_code"] == 487


@run_async
async def test_call_from_skype_sends_dtmf_from_the_dial_pad() -> None:
    async with Ua() as gw, Udp() as rtp, Sim(gateway_port=gw.port) as sim:
        body = {"dtmf": "1#", "dtmf_after_ms": 40, "offer_codecs": ["PCMU"]}
        status, placed = await sim.http("POST", "/calls", body)
        assert status == 200
        invite, _ = await gw.expect(method="INVITE")
        assert SessionDescription.parse(invite.body).media[0].formats == ["0", "101"]
        ok = make_response(
            invite,
            200,
            to_tag="gw5",
            headers=[("Contact", f"<sip:{PROFILE}@{LOCAL}:{gw.port}>")],
            body=offer(rtp.port, (0, 101)),
            content_type="application/sdp",
        )
        gw.send(ok, sim.sip_port)
        events: set[int] = set()
        while len(events) < 2:
            packet = RtpPacket.parse((await rtp.datagram())[0])
            if packet.payload_type == 101 and packet.payload[1] & 0x80:
                events.add(packet.payload[0])
        assert events == {1, 11}
        _status, record = await sim.http("GET", f"/calls/{placed['id']}")
        assert record["state"] == "confirmed"
