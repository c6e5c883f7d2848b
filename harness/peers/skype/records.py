"""Call records of the simulated Skype for SIP service: the shared
:class:`~harness.peers.common.records.CallRecord` plus what matters for Skype (listener, caller
ID, destination, codec chosen, packets echoed, the reason of the final status)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from harness.peers.common.records import CallRecord, CallStore


@dataclass
class SkypeCallRecord(CallRecord):
    service: str = "sip"  # "sip" (Skype for SIP, 5060) or "sfa" (Skype for Asterisk, 5070)
    from_uri: str | None = None
    to_uri: str | None = None
    request_uri: str | None = None
    destination: str | None = None  # the Request-URI user (number or Skype name)
    caller_id: str | None = None
    caller_id_header: str | None = None
    anonymous: bool | None = None
    challenges: int = 0
    codec: str | None = None
    payload_type: int | None = None
    telephone_event_pt: int | None = None
    rtp_echoed: int = 0
    rtp_bytes_echoed: int = 0
    reason: str | None = None  # e.g. "403 Forbidden: Caller ID must be your SIP profile number"

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.update(
            service=self.service,
            from_uri=self.from_uri,
            to_uri=self.to_uri,
            request_uri=self.request_uri,
            destination=self.destination,
            caller_id=self.caller_id,
            caller_id_header=self.caller_id_header,
            anonymous=self.anonymous,
            challenges=self.challenges,
            codec=self.codec,
            payload_type=self.payload_type,
            telephone_event_pt=self.telephone_event_pt,
            rtp_echoed=self.rtp_echoed,
            rtp_bytes_echoed=self.rtp_bytes_echoed,
            reason=self.reason,
        )
        return out


class SkypeCallStore(CallStore):
    """A :class:`CallStore` whose records are :class:`SkypeCallRecord`."""

    record_type = SkypeCallRecord

    def new(self, call_id: str, direction: str) -> SkypeCallRecord:
        return cast(SkypeCallRecord, super().new(call_id, direction))
