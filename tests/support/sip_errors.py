"""The parse error a bad SIP input raises, for the harness.sip tests to assert on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from harness.sip.errors import SipParseError

T = TypeVar("T")


def parse_error(parse: Callable[[T], object], data: T) -> SipParseError:
    """The SipParseError that ``parse(data)`` raises (the test fails if it raises none)."""
    with pytest.raises(SipParseError) as info:
        parse(data)
    return info.value
