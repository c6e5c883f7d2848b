"""The simulated Skype for SIP service, driven over loopback UDP by a tiny in-test SIP UA
playing Asterisk (tests/support/skype_sim.py): registration, the 407 challenge, the
service's admission rules (caller ID, E.164, codecs, channels), the RTP echo and
retransmissions."""

from __future__ import annotations

import asyncio
import itertools
import secrets

import pytest

from harness.rtp.packet import RtpPacket
from harness.sip.auth import build_authorization
from harness.sip.builder import (
    make_ack,
    make_cancel,
    make_response,
)
from harness.sip.message import Response, parse_message
from harness.sip.sdp import SessionDescription
from tests.support.peers import LOCAL, run_async
from tests.support.skype_sim import (
    ECHO,
    PASSWORD,
    PROFILE,
    Dialler,
    Sim,
    Ua,
    Udp,
    answer_port,
    establish,
    register,
)


@run_async
async def test_register_401_200_403_404_and_expires_granted() -> None:
    async with Sim() as sim, Ua() as ua:
        status, body = await sim.http("PUT", "/behaviour", {"max_expires": 20})
        assert status == 200 and body["max_expires"] == 20 and body["channels"] == 2
        call_id = secrets.token_hex(8)
        first = register(ua, sim.sip_port, call_id, 1)
        ua.send(first, sim.sip_port)
        r401, raw = await ua.expect(401)
        challenge = r401.headers.get("WWW-Authenticate")
        assert challenge.startswith('Digest realm="sip.skype.com", nonce="')
        assert challenge.endswith('algorithm=MD5, qop="auth"')
        # wrong password -> 403
        bad = build_authorization(challenge, "REGISTER", first.uri, PROFILE, "wrong")
        ua.send(register(ua, sim.sip_port, call_id, 2, auth=bad), sim.sip_port)
        r403, _ = await ua.expect(403)
        assert r403.reason == "Forbidden"
        # unknown user -> 404
        other = build_authorization(challenge, "REGISTER", first.uri, "12345", PASSWORD)
        ua.send(register(ua, sim.sip_port, call_id, 3, user="12345", auth=other), sim.sip_port)
        await ua.expect(404)
        # the right credentials -> 200, expires granted = min(3600, 20)
        good = build_authorization(challenge, "REGISTER", first.uri, PROFILE, PASSWORD, nc=2)
        ua.send(register(ua, sim.sip_port, call_id, 4, auth=good), sim.sip_port)
        ok, raw = await ua.expect(200)
        assert ok.headers.get("Contact") == f"<sip:{PROFILE}@{LOCAL}:{ua.port}>;expires=20"
        assert b"\r\nServer: Skype SIP" in raw
        # a refresh with a new nonce, before the expiry
        ua.send(register(ua, sim.sip_port, call_id, 5, expires=10), sim.sip_port)
        r401b, _ = await ua.expect(401)
        again = build_authorization(
            r401b.headers.get("WWW-Authenticate"), "REGISTER", first.uri, PROFILE, PASSWORD
        )
        ua.send(register(ua, sim.sip_port, call_id, 6, expires=10, auth=again), sim.sip_port)
        ok2, _ = await ua.expect(200)
        assert (ok2.headers.get("Contact") or "").endswith(";expires=10")
        status, every = await sim.http("GET", "/registrations?all=1")
        assert status == 200
        assert [r["status"] for r in every] == [401, 403, 404, 200, 401, 200]
        status, done = await sim.http("GET", "/registrations")
        assert len(done) == 2
        assert done[0]["expires_requested"] == 3600 and done[0]["expires_granted"] == 20
        assert done[0]["refresh"] is False and done[0]["refreshed_before_expiry"] is None
        assert done[1]["refresh"] is True and done[1]["refreshed_before_expiry"] is True
        assert done[1]["t"] < done[0]["expires_at"]
        assert done[1]["contact"] == f"sip:{PROFILE}@{LOCAL}:{ua.port}"
        status, bindings = await sim.http("GET", "/registrations/bindings")
        assert bindings[0]["expires_in"] in (9, 10)
        status, waited = await sim.http("GET", "/registrations?wait=2&timeout=0.1")
        assert status == 200 and len(waited) == 2
        status, _ = await sim.http("GET", "/registrations?wait=3&timeout=0.1")
        assert status == 408
        # unregister: Expires 0 removes the binding
        nonce_reuse = build_authorization(
            r401b.headers.get("WWW-Authenticate") or "",
            "REGISTER",
            first.uri,
            PROFILE,
            PASSWORD,
            nc=2,
        )
        ua.send(register(ua, sim.sip_port, call_id, 7, expires=0, auth=nonce_reuse), sim.sip_port)
        ok3, _ = await ua.expect(200)
        assert ok3.headers.get("Contact") is None
        status, bindings = await sim.http("GET", "/registrations/bindings")
        assert bindings == []
        status, done = await sim.http("GET", "/registrations")
        assert len(done) == 2  # a removal is not a registration
        status, deleted = await sim.http("DELETE", "/registrations")
        assert deleted == {"deleted": 7}


# -- calls to the echo test number ----------------------------------------------------------


@run_async
async def test_invite_407_then_accepted_and_rtp_echoed() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d, _invite, ok = await establish(ua, sim, rtp)
        body = ok.body.decode()
        assert "m=audio" in body and "RTP/AVP 0 101" in body and "a=rtpmap:0 PCMU/8000" in body
        assert (ok.headers.get("Contact") or "").startswith(f"<sip:{ECHO}@{LOCAL}:")
        port = answer_port(ok)
        sent = []
        for n in range(10):
            payload = bytes([n]) * 160
            sent.append(payload)
            packet = RtpPacket(0, 1000 + n, 5000 + 160 * n, 0x1234, payload, n == 0)
            rtp.send(packet.pack(), port)
        echoed = [RtpPacket.parse((await rtp.datagram())[0]) for _ in range(10)]
        assert [p.payload for p in echoed] == sent
        assert {p.payload_type for p in echoed} == {0}
        assert len({p.ssrc for p in echoed}) == 1 and echoed[0].ssrc != 0x1234
        assert all((b.sequence - a.sequence) & 0xFFFF == 1 for a, b in itertools.pairwise(echoed))
        assert all(
            (b.timestamp - a.timestamp) & 0xFFFFFFFF == 160 for a, b in itertools.pairwise(echoed)
        )
        assert echoed[0].marker and not echoed[1].marker
        ua.send(d.in_dialog("BYE", ok), sim.sip_port)
        await ua.expect(200)
        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert status == 200, record
        assert record["state"] == "ended" and record["challenges"] == 1
        assert record["codec"] == "PCMU" and record["payload_type"] == 0
        assert record["caller_id"] == PROFILE and record["destination"] == ECHO
        assert record["rtp_received"] == 10 and record["rtp_echoed"] == 10
        assert record["rtp_sent"] == 10 and record["status_code"] == 200
        names = [e["event"] for e in record["events"]]
        assert names.index("challenge") < names.index("authenticated") < names.index("answered")
        status, calls = await sim.http("GET", "/calls")
        assert len(calls) == 1


@run_async
async def test_caller_id_must_be_the_profile_number() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port, caller="+14255550150")
        ua.send(await d.challenged(), sim.sip_port)
        await ua.expect(100)
        r403, _raw = await ua.expect(403)
        assert r403.reason == "Forbidden"
        assert r403.headers.get("Warning") == (
            '399 sip.skype.com "Caller ID must be your SIP profile number"'
        )
        # P-Asserted-Identity wins over From
        pai = [("P-Asserted-Identity", "<sip:+14255550150@10.0.0.1>")]
        d2 = Dialler(ua, sim.sip_port, rtp.port, extra=pai)
        ua.send(await d2.challenged(), sim.sip_port)
        await ua.expect(403)
        _status, record = await sim.http("GET", "/calls/last")
        assert record["state"] == "rejected" and record["status_code"] == 403
        assert record["caller_id"] == "+14255550150"
        assert record["caller_id_header"] == "P-Asserted-Identity"
        assert record["reason"] == ("403 Forbidden: Caller ID must be your SIP profile number")
        # status, reason phrase and warning are configurable
        custom = {
            "reject_status_for_caller_id": 480,
            "reject_reason_for_caller_id": "Caller ID Not Allowed",
            "caller_id_warning": "",
        }
        await sim.http("PUT", "/behaviour", custom)
        d3 = Dialler(ua, sim.sip_port, rtp.port, caller="1000")
        ua.send(await d3.challenged(), sim.sip_port)
        r480, _ = await ua.expect(480)
        assert r480.reason == "Caller ID Not Allowed" and r480.headers.get("Warning") is None
        # and the check can be switched off
        await sim.http("PUT", "/behaviour", {"reject_status_for_caller_id": None})
        d4 = Dialler(ua, sim.sip_port, rtp.port, caller="1000")
        ua.send(await d4.challenged(), sim.sip_port)
        await ua.expect(200)


@run_async
async def test_destination_must_be_e164_and_known() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port, to="17606604690")
        ua.send(await d.challenged(), sim.sip_port)
        r404, _ = await ua.expect(404)
        assert r404.headers.get("Warning") == (
            '399 sip.skype.com "Destination must be in E.164 format"'
        )
        d2 = Dialler(ua, sim.sip_port, rtp.port, to="echo123")  # no Skype names here
        ua.send(await d2.challenged(), sim.sip_port)
        await ua.expect(404)
        await sim.http("PUT", "/behaviour", {"unknown_number_status": 480})
        d3 = Dialler(ua, sim.sip_port, rtp.port, to="+14255550100")
        ua.send(await d3.challenged(), sim.sip_port)
        await ua.expect(480)


@pytest.mark.parametrize(
    ("pts", "status", "chosen"),
    [((18, 0, 8, 101), 200, "18 101"), ((8,), 200, "8"), ((9, 3), 488, None)],
    ids=["g729-first-in-offer", "pcma-only", "g722-only"],
)
@run_async
async def test_codec_choice(pts: tuple[int, ...], status: int, chosen: str | None) -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port, pts=pts)
        ua.send(await d.challenged(), sim.sip_port)
        response, _ = await ua.expect(status)
        if chosen is None:
            assert response.headers.get("Warning").startswith('305 sip.skype.com "Incompatible')
            return
        audio = SessionDescription.parse(response.body).media[0]
        assert " ".join(audio.formats) == chosen


@run_async
async def test_channel_limit() -> None:
    async with Sim(channels=1) as sim, Ua() as ua, Udp() as rtp:
        await establish(ua, sim, rtp)
        d = Dialler(ua, sim.sip_port, rtp.port)
        ua.send(await d.challenged(), sim.sip_port)
        r503, _ = await ua.expect(503)
        assert "channels" in r503.headers.get("Warning")
        await sim.http("PUT", "/behaviour", {"limit_status": 486})
        d2 = Dialler(ua, sim.sip_port, rtp.port)
        ua.send(await d2.challenged(), sim.sip_port)
        await ua.expect(486)
        status, _ = await sim.http("POST", "/calls", {"to": PROFILE})
        assert status == 409


@run_async
async def test_retransmissions_are_answered_without_reprocessing() -> None:
    async with Sim(t1=0.1) as sim, Ua() as ua, Udp() as rtp:
        d = Dialler(ua, sim.sip_port, rtp.port)
        first = d.invite()
        ua.send(first, sim.sip_port)
        _, raw1 = await ua.expect(407)
        ua.send(first, sim.sip_port)  # retransmission: the same 407, byte for byte
        _, raw2 = await ua.expect(407)
        assert raw1 == raw2
        # the 407 is retransmitted until the ACK (Timer G)
        _, raw3 = await ua.expect(407, timeout=1.0)
        assert raw3 == raw1
        r407 = parse_message(raw1)
        assert isinstance(r407, Response)
        challenge = r407.headers.get("Proxy-Authenticate") or ""
        ua.send(make_ack(first, r407), sim.sip_port)
        invite = d.invite(build_authorization(challenge, "INVITE", d.uri, PROFILE, PASSWORD))
        ua.send(invite, sim.sip_port)
        await ua.expect(100)
        ua.send(invite, sim.sip_port)  # retransmitted INVITE
        await ua.expect(200)
        ua.clear()
        # no ACK yet: the 200 comes again (T1 doubling); then ACK stops it
        ok, raw = await ua.expect(200, timeout=1.0)
        ua.send(invite, sim.sip_port)  # a late retransmission gets the 200 again
        _, again = await ua.expect(200)
        assert again == raw
        ua.send(make_ack(invite, ok), sim.sip_port)
        await asyncio.sleep(0.05)
        ua.clear()
        assert await ua.nothing(0.5, status=200)
        _status, calls = await sim.http("GET", "/calls")
        assert len(calls) == 1 and calls[0]["state"] == "confirmed"
        assert sum(1 for e in calls[0]["events"] if e["event"] == "invite") == 2  # 407 + retry


@run_async
async def test_echo_hangs_up_after_configured_time_and_cancel() -> None:
    async with Sim() as sim, Ua() as ua, Udp() as rtp:
        await sim.http("PUT", "/behaviour", {"echo_hangup_after_ms": 100})
        d, _invite, ok = await establish(ua, sim, rtp)
        bye, _ = await ua.expect(method="BYE")
        assert bye.uri == f"sip:{PROFILE}@{LOCAL}:{ua.port}"
        assert bye.headers.get("To") == d.from_ and bye.headers.get("From") == ok.headers.get("To")
        ua.send(make_response(bye, 200), sim.sip_port)
        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert status == 200 and "BYE sent" in record["events"][-1]["detail"]
        # CANCEL while ringing
        await sim.http("PUT", "/behaviour", {"answer_delay_ms": 5000})
        d2 = Dialler(ua, sim.sip_port, rtp.port)
        invite = await d2.challenged()
        ua.send(invite, sim.sip_port)
        await ua.expect(180)
        cancel = make_cancel(invite)
        ua.send(cancel, sim.sip_port)
        await ua.expect(200)
        r487, _ = await ua.expect(487)
        ua.send(make_ack(invite, r487), sim.sip_port)
        status, record = await sim.http("GET", "/calls/last?wait=ended&timeout=2")
        assert record["state"] == "ended" and record["status_code"] == 487


# -- Skype for Asterisk ---------------------------------------------------------------------
