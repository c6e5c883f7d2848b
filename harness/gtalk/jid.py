"""JIDs as the bot keys everything: the normalised bare JID."""

from __future__ import annotations

from slixmpp.jid import JID, InvalidJID


def bare_jid(jid: str | JID) -> str:
    """The normalised bare JID (``Sara@Gmail.TEST/phone`` -> ``sara@gmail.test``).

    ValueError if it is not a JID with a local part."""
    try:
        parsed = jid if isinstance(jid, JID) else JID(jid)
    except InvalidJID as exc:
        raise ValueError(f"not a valid JID: {jid!r} ({exc})") from None
    if not parsed.user:
        raise ValueError(f"not a user JID (no local part): {jid!r}")
    return parsed.bare
