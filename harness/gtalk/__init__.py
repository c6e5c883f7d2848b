"""The Google Talk user: an XMPP client (slixmpp) the tests drive on the host."""
