"""SIP interoperability harness: Asterisk between Lync 2010, a softphone, Skype and XMPP.

The subpackages are layered: ``sip`` and ``media`` are sans-I/O protocol code (standard
library only, so that the simulators can run in a bare container); ``capture`` and
``analysis`` read pcaps; ``peers``, ``topology`` and ``report`` do the I/O.
"""

__version__ = "0.1.0"
