"""Simulated peers (asyncio services over the sans-I/O ``harness.sip`` layer).

- Mediation, the Lync Server 2010 Mediation Server over TCP (``python3 -m
  harness.peers.mediation``): ``mediation``, ``call``, ``dialog``, ``sip_transport``,
  ``transactions``, ``lync_format`` (Lync's wire format), ``offer_answer`` (RFC 3264).
- Skype, Skype for SIP and Skype for Asterisk over UDP (``python3 -m harness.peers.skype``):
  ``skype``, ``skype_api``, ``skype_calls``, ``skype_echo``, ``skype_records``,
  ``skype_registrar``, ``skype_rules``, ``skype_udp``, ``skype_wire``.
- Google Talk bot, an XMPP client (slixmpp) the tests drive on the host: ``gtalk``.

Shared by both simulators: ``control`` (tiny JSON HTTP server), ``api`` (the control API),
``behaviour`` and ``records`` (what the API shows), ``call_base`` (a call's record, events
and tasks), ``rtp_session`` (PCMU + RFC 4733 over UDP), ``cli``, ``log``, ``salvage``.
Standard library only, but for ``gtalk``: the simulators run in bare python3 containers.
"""
