"""Simulated peers: asyncio services over the sans-I/O ``harness.sip`` layer.

- ``common``: what every simulator shares (control API server, behaviour, call records,
  RTP session, offer/answer, logging, process entry, SIP transports).
- ``lync``: the Lync Server 2010 Mediation Server over TCP (``python3 -m harness.peers.lync``).
- ``skype``: Skype for SIP and Skype for Asterisk over UDP (``python3 -m harness.peers.skype``).

Standard library only: the simulators run in a bare python3 container that carries
``harness.sip``, ``harness.rtp`` and this package, nothing else.
"""
