"""Simulated peers (asyncio services over the sans-I/O ``harness.sip`` layer).

``mediation``: the Lync Server 2010 Mediation Server (``python3 -m harness.peers.mediation``).
Shared pieces: ``control`` (tiny JSON HTTP server), ``rtp_session`` (PCMU + RFC 4733 over
UDP), ``sip_transport`` and ``transactions`` (SIP over TCP), ``lync_format`` (Lync's wire
format), ``offer_answer`` (RFC 3264), ``behaviour`` and ``records`` (what the API shows).
Standard library only: the peers run in bare python3 containers.
"""
