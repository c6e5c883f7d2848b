"""What a simulated peer does on a call: delays, rejection, hold, hangup, DTMF.

``Behaviour`` is immutable; ``Behaviour.merged(partial)`` validates a partial JSON dict and
returns a new one, raising :class:`BehaviourError` naming the offending field.
All times are milliseconds. Timeline of an inbound call (times from the INVITE):
``progress_delay_ms`` 183 (null: none), ``ring_delay_ms`` 180 (null: none), ``answer_delay_ms``
200 OK, or ``reject_code`` instead of the 200 at that time (provisionals due earlier are
sent first). After the ACK (the answer): ``dtmf`` at ``dtmf_after_ms``; hold at
``hold_after_ms`` (null: no hold) for ``hold_duration_ms`` (counted from the hold's 200);
``hangup_after_ms`` counted from the resume (or from the answer when there is no hold; null:
never); ``hangup_by`` "mediation" sends the BYE, "remote" waits for the peer's BYE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from harness.rtp.rfc4733 import DIGITS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

HANGUP_BY = ("mediation", "remote")
MAX_MS = 3_600_000

D = TypeVar("D", bound="DataclassInstance")


class BehaviourError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Behaviour:
    progress_delay_ms: float | None = 20
    ring_delay_ms: float | None = 40
    answer_delay_ms: float = 200
    reject_code: int | None = None
    hold_after_ms: float | None = None
    hold_duration_ms: float = 1000
    hangup_after_ms: float | None = 1000
    hangup_by: str = "mediation"
    dtmf: str | None = None
    dtmf_after_ms: float = 200

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def merged(self, partial: Any) -> Behaviour:
        return merge_fields(self, partial, _validate)


def merge_fields(current: D, partial: Any, validate: Callable[[str, Any], Any]) -> D:
    """``current`` (a frozen dataclass) with the fields of the JSON object ``partial``, each
    value as ``validate(name, value)`` returns it; BehaviourError naming the first bad
    field (or "behaviour" when ``partial`` is not an object)."""
    if not isinstance(partial, dict):
        raise BehaviourError("behaviour", "expected a JSON object")
    known = {f.name for f in dataclasses.fields(current)}
    changes: dict[str, Any] = {}
    for key, value in partial.items():
        if key not in known:
            raise BehaviourError(str(key), f"unknown field (known: {', '.join(sorted(known))})")
        changes[key] = validate(key, value)
    return dataclasses.replace(current, **changes)


def milliseconds(key: str, value: Any) -> Any:
    """``value`` when it is a number of milliseconds from 0 to ``MAX_MS`` (null is the
    caller's business); BehaviourError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BehaviourError(key, f"must be a number of milliseconds, got {value!r}")
    if not 0 <= value <= MAX_MS:
        raise BehaviourError(key, f"must be between 0 and {MAX_MS}, got {value}")
    return value


def one_of(key: str, value: Any, choices: tuple[str, ...]) -> Any:
    """``value`` when it is one of ``choices``; BehaviourError otherwise."""
    if value not in choices:
        raise BehaviourError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def dtmf_digits(key: str, value: Any) -> str | None:
    """A string of DTMF digits, upper-cased; None for null or ""; BehaviourError otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or any(c not in DIGITS for c in value.upper()):
        raise BehaviourError(key, f"must be a string of DTMF digits {DIGITS}, got {value!r}")
    return value.upper()


_NULLABLE_MS = {"progress_delay_ms", "ring_delay_ms", "hold_after_ms", "hangup_after_ms"}
_MS = {"answer_delay_ms", "hold_duration_ms", "dtmf_after_ms"}


def _validate(key: str, value: Any) -> Any:
    if key in _NULLABLE_MS or key in _MS:
        if value is None:
            if key in _MS:
                raise BehaviourError(key, "must be a number of milliseconds, not null")
            return None
        return milliseconds(key, value)
    if key == "reject_code":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 300 <= value <= 699:
            raise BehaviourError(key, f"must be null or a status code 300-699, got {value!r}")
        return value
    if key == "hangup_by":
        return one_of(key, value, HANGUP_BY)
    if key == "dtmf":
        return dtmf_digits(key, value)
    raise BehaviourError(key, "unknown field")  # pragma: no cover - guarded by merged()
