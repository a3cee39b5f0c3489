"""IP protocol names as pmacct prints them: the one table of the enricher, aggregator and
pre_tag_map.

pmacct writes ``ip_proto`` (and ``tunnel_ip_proto``) through its ``_protocols`` table
(pmacct-data.h, ip_proto_print): a name for the numbers it lists, the decimal number for every
other one, 0 included (``"0"``, not ``"ip"``). The names below are those of pmacct 1.7.7, the
version Debian ships and tests/flow/test_protocols_pmacct.py runs for all 256 numbers; later
pmacct (1.7.9+) adds ``ethernet`` (143) and ``others`` (255), which 1.7.7 prints as numbers.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PROTO_NAMES", "PROTO_TEXT", "proto_number"]

PROTO_NAMES: Final[dict[int, str]] = {
    1: "icmp", 2: "igmp", 3: "ggp", 4: "ipencap", 6: "tcp", 8: "egp", 9: "igp", 17: "udp",
    18: "mux", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp", 47: "gre",
    50: "esp", 51: "ah", 55: "mobile", 56: "tlsp", 58: "ipv6-icmp",
    59: "ipv6-nonxt", 60: "ipv6-opts", 80: "iso-ip", 83: "vines", 88: "eigrp", 89: "ospf",
    91: "larp", 93: "ax.25", 94: "ipip", 98: "encap", 102: "pnni", 103: "pim", 108: "IPcomp",
    111: "ipx-in-ip", 112: "vrrp", 115: "l2tp", 124: "isis", 132: "sctp", 133: "fc",
}  # fmt: skip
#: protocol number -> the text pmacct prints for it
PROTO_TEXT: Final[tuple[str, ...]] = tuple(PROTO_NAMES.get(n, str(n)) for n in range(256))
_NUMBERS: Final = {name: n for n, name in PROTO_NAMES.items()}


def proto_number(text: str) -> int:
    """The protocol a name of :data:`PROTO_TEXT` or a decimal number (0-255) stands for."""
    number = _NUMBERS.get(text)
    if number is None:
        number = int(text)
        if not 0 <= number <= 255:
            raise ValueError(f"IP protocol out of range: {text}")
    return number
