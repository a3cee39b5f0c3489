"""AS-path segment types from an UPDATE's raw bytes (ExaBGP's ``consolidate`` API option).

ExaBGP 5.0.15 renders AS_CONFED_SEQUENCE and AS_CONFED_SET segments as ``"as-sequence"`` in its
JSON, so confederation segments cannot be told apart from the parsed output. With ``consolidate``
ExaBGP adds the message's raw body (hex) to each parsed UPDATE; this module reads only the AS_PATH
attribute's segment headers from it. Anything unexpected returns ``None`` and the parsed types are
kept: this is a correction, never a reason to reject a message.
"""

from __future__ import annotations

SEGMENT_TYPES = {1: "as-set", 2: "as-sequence", 3: "confed-sequence", 4: "confed-set"}
AS_PATH = 2
_EXTENDED_LENGTH = 0x10


def _segment_types(data: bytes, width: int) -> list[str] | None:
    """Segment type names if ``data`` parses exactly as segments of ``width``-byte ASNs."""
    out = []
    i, end = 0, len(data)
    while i < end:
        if i + 2 > end:
            return None
        name = SEGMENT_TYPES.get(data[i])
        if name is None:
            return None
        i += 2 + data[i + 1] * width
        out.append(name)
    return out if i == end else None


def attribute_value(body_hex: str, code: int) -> bytes | None:
    """The value of path attribute ``code`` in the UPDATE whose body is ``body_hex``
    (``0x...``), or None (absent or malformed).

    Walks the hex text itself and converts only that value: an UPDATE body can be kilobytes of
    NLRI and MP_REACH that we have no use for here."""
    h = body_hex[2:] if body_hex[:2] in ("0x", "0X") else body_hex
    try:
        pos = 4 + int(h[0:4], 16) * 2  # skip the withdrawn routes
        end = pos + 4 + int(h[pos : pos + 4], 16) * 2
        pos += 4
        if end > len(h):
            return None
        while pos + 6 <= end:
            flags = int(h[pos : pos + 2], 16)
            kind = int(h[pos + 2 : pos + 4], 16)
            if flags & _EXTENDED_LENGTH:
                length = int(h[pos + 4 : pos + 8], 16)
                pos += 8
            else:
                length = int(h[pos + 4 : pos + 6], 16)
                pos += 6
            if kind == code:
                if pos + length * 2 > end:
                    return None
                return bytes.fromhex(h[pos : pos + length * 2])
            pos += length * 2
    except ValueError:
        return None
    return None


def aspath_segment_types(body_hex: str, asn4: bool = True) -> list[str] | None:
    """Types of the AS_PATH segments of the UPDATE whose body is ``body_hex`` (``0x...``)."""
    value = attribute_value(body_hex, AS_PATH)
    if value is None:
        return None
    first, second = (4, 2) if asn4 else (2, 4)
    return _segment_types(value, first) or _segment_types(value, second)
