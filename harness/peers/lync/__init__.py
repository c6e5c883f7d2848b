"""The simulated Lync Server 2010 Mediation Server (direct SIP over TCP)."""
