"""Addresses and prefixes as integers: the representation every RIB structure works on.

An IPv4 address is an int below 2**32, an IPv6 address one below 2**128; a prefix is
``(afi, network, length)`` with the host bits cleared. Parsing goes through ``socket.inet_pton``
(about five times faster than :mod:`ipaddress`), which matters on the per-flow path.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Final

from ribflow.rib.errors import BadEvent

AFI_IP: Final = 1
AFI_IP6: Final = 2
BITS: Final = {AFI_IP: 32, AFI_IP6: 128}

_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop
_from_bytes = int.from_bytes
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6

Prefix = tuple[int, int, int]  # (afi, network, length)


def parse_address(text: str) -> tuple[int, int]:
    """``(afi, value)`` of an IPv4 or IPv6 address; raises ``ValueError`` on anything else."""
    if ":" in text:
        return AFI_IP6, _from_bytes(_inet_pton(_AF_INET6, text), "big")
    return AFI_IP, _from_bytes(_inet_pton(_AF_INET, text), "big")


def parse_prefix(text: str) -> tuple[Prefix, bool]:
    """Parse ``network/length``; returns the prefix and whether host bits had to be cleared.

    Raises :class:`BadEvent` (reason ``bad_prefix``) when the text is not a prefix.
    """
    addr, sep, length_text = text.partition("/")
    try:
        afi, value = parse_address(addr)
        length = int(length_text) if sep else BITS[afi]
    except (OSError, ValueError) as exc:
        raise BadEvent("bad_prefix", repr(text)) from exc
    bits = BITS[afi]
    if not 0 <= length <= bits:
        raise BadEvent("bad_prefix", repr(text))
    shift = bits - length
    network = (value >> shift) << shift
    return (afi, network, length), network != value


def format_address(afi: int, value: int) -> str:
    """Text form of an address (``inet_ntop``: compressed IPv6, dotted IPv4)."""
    if afi == AFI_IP:
        return _inet_ntop(_AF_INET, value.to_bytes(4, "big"))
    return _inet_ntop(_AF_INET6, value.to_bytes(16, "big"))


def format_prefix(afi: int, network: int, length: int) -> str:
    """``network/length`` text of a prefix."""
    return f"{format_address(afi, network)}/{length}"


def normalise_address(text: str) -> str:
    """Canonical text of an address (so next hops compare equal whatever their spelling)."""
    afi, value = parse_address(text)
    return format_address(afi, value)


_UNICAST: Final = {
    "ipv4 unicast": AFI_IP,
    "ipv6 unicast": AFI_IP6,
    # labelled unicast: the prefix goes into the global table (the labels are not kept)
    "ipv4 nlri-mpls": AFI_IP,
    "ipv6 nlri-mpls": AFI_IP6,
}
_VPN: Final = {"ipv4 mpls-vpn": AFI_IP, "ipv6 mpls-vpn": AFI_IP6}


def afi_of_family(family: str) -> int | None:
    """AFI of an ExaBGP family whose routes go into the global table (unicast, labelled
    unicast), else ``None``."""
    return _UNICAST.get(family)


def vpn_afi_of_family(family: str) -> int | None:
    """AFI of an L3VPN family (routes go into the table of their RD), else ``None``."""
    return _VPN.get(family)


_RD = re.compile(r"^(?:0:(\d{1,5})|1:(\d{1,3}(?:\.\d{1,3}){3})|2:(\d{1,10})):(\d{1,10})$")


def check_rd(text: str) -> str:
    """The RD if it is one of pmacct's text forms (numbers within their type's range)."""
    m = _RD.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not an RD (0:ASN:N, 1:IPv4:N, 2:ASN4:N)")
    asn2, ip, asn4, number = m.groups()
    n = int(number)
    if asn2 is not None:
        ok = int(asn2) <= 0xFFFF and n <= 0xFFFFFFFF
    elif ip is not None:
        ipaddress.IPv4Address(ip)
        ok = n <= 0xFFFF
    else:
        ok = int(asn4) <= 0xFFFFFFFF and n <= 0xFFFF
    if not ok:
        raise ValueError(f"{text!r}: a number is out of range for its RD type")
    return text
