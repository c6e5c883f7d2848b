"""The one exception of the capture layer."""

from __future__ import annotations


class CaptureError(Exception):
    """The file cannot be used as a capture at all.

    ``str(error)`` (also ``reason``) is one line that names the problem (and the packet
    number where there is one), e.g. ``"not a pcap or pcapng file: it starts with
    '<?xml ve'"``; ``path`` is the file's path. Problems that leave part of
    the file readable are not raised: they go to ``Capture.warnings``.
    """

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
