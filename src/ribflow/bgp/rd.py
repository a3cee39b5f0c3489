"""Route distinguishers: ExaBGP's text -> pmacct's text form (``0:ASN:N``, ``1:IP:N``,
``2:ASN4:N``).

ExaBGP 5.0.15 writes an RD as ``asn:n`` for both type 0 (2-byte admin, 4-byte number) and type 2
(4-byte admin, 2-byte number), and ``a.b.c.d:n`` for type 1. When both numbers fit in 16 bits the
type cannot be read from the text; it is then read from the UPDATE's raw bytes (``consolidate``):
the 8 bytes of each candidate encoding are looked for in MP_REACH/MP_UNREACH. Without the raw
bytes such an RD is taken as type 0 (the common one) and counted by the caller.
"""

from __future__ import annotations

import ipaddress
import struct

from ribflow.bgp.wire import attribute_value

MP_REACH, MP_UNREACH = 14, 15
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF


def _wire(body: str | None) -> bytes:
    if not body:
        return b""
    parts = (attribute_value(body, MP_REACH), attribute_value(body, MP_UNREACH))
    return b"".join(p for p in parts if p)


class RdReader:
    """Converts the RDs of one UPDATE (whose raw body hex is ``body``, when known)."""

    def __init__(self, body: str | None) -> None:
        self._body = body
        self._wire: bytes | None = None
        self.guessed = 0  # ambiguous RDs taken as type 0 without wire evidence

    def pmacct(self, text: str) -> str:
        """pmacct's form of ExaBGP's RD text; raises ValueError when it is not an RD."""
        admin, sep, number = text.rpartition(":")
        if not sep or not number.isdigit():
            raise ValueError(f"not a route distinguisher: {text!r}")
        n = int(number)
        if "." in admin:
            ip = ipaddress.IPv4Address(admin)
            if n > _MAX16:
                raise ValueError(f"RD number out of range: {text!r}")
            return f"1:{ip}:{n}"
        if not admin.isdigit():
            raise ValueError(f"not a route distinguisher: {text!r}")
        asn = int(admin)
        if asn > _MAX32 or n > _MAX32 or (asn > _MAX16 and n > _MAX16):
            raise ValueError(f"RD out of range: {text!r}")
        if asn > _MAX16:
            return f"2:{asn}:{n}"
        if n > _MAX16:
            return f"0:{asn}:{n}"
        if self._wire is None:
            self._wire = _wire(self._body)
        if struct.pack("!HIH", 2, asn, n) in self._wire:
            if struct.pack("!HHI", 0, asn, n) not in self._wire:
                return f"2:{asn}:{n}"
        elif struct.pack("!HHI", 0, asn, n) not in self._wire:
            self.guessed += 1
        return f"0:{asn}:{n}"
