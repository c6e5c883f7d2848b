"""Text helpers of the ladder's SVG and HTML: XML-safe escaping, shortening, seconds."""

from __future__ import annotations

import html
import re

# Characters XML 1.0 does not allow (SVG and the HTML page are XML-safe).
XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(text: object) -> str:
    """Text for an XML attribute or element: escaped, without characters XML forbids."""
    return html.escape(XML_BAD.sub("\N{REPLACEMENT CHARACTER}", str(text)), quote=True)


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def fmt_s(t: float) -> str:
    return f"{t:.3f}"
