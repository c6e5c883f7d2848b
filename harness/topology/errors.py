"""The one error the topology raises when it cannot be brought up or used."""

from __future__ import annotations


class TopologyError(RuntimeError):
    """The topology cannot be brought up or used; the message says what to do."""


__all__ = ["TopologyError"]
