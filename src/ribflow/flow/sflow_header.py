"""Decode the sampled packet header of an sFlow raw-packet record (sans-I/O).

sFlow agents copy the first bytes of each sampled packet; this module reads the fields a flow
record needs from them: Ethernet with any stack of 802.1Q / 802.1ad (QinQ) tags and MPLS labels,
then IPv4 or IPv6 (with its extension headers), then TCP or UDP. A header that is
cut short simply yields fewer fields (the agent decides how much it copies); it is never an error.

Conventions (the same as NetFlow exporters use, so records of every protocol look alike):
- ``vlan`` is the outermost 802.1Q/802.1ad tag (the one the sampling port saw);
- ``tcp_flags`` is the 8-bit flags byte of the TCP header;
- ``src_port``/``dst_port`` come from TCP and UDP headers only: an ICMP/ICMPv6 type and code are
  not ports and leave them null (flows.v1's port convention, what sfacctd reports for them);
- ``tos`` is the IPv4 TOS byte or the IPv6 traffic class.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

# sFlow header_protocol values (sFlow v5 spec, "enum header_protocol")
HEADER_ETHERNET = 1
HEADER_IPV4 = 11
HEADER_IPV6 = 12

_ETH_VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
_ETH_MPLS = frozenset((0x8847, 0x8848))
_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD

_IPV6_EXT = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_IPV6_AH = 51
_PROTO_TCP = 6
_PROTO_UDP = 17
_MAX_TAGS = 8  # more stacked tags or labels than this is not a real packet

_U16 = struct.Struct("!H")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HH9xB")  # ports, then the flags byte at offset 13
_IPV4 = struct.Struct("!BB4xH1xB2x4s4s")  # version/IHL, TOS, flags/fragment, protocol, src, dst
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def decode_header(protocol: int, d: bytes, off: int, end: int, rec: dict[str, Any]) -> bool:
    """Fill ``rec`` from the sampled header ``d[off:end]``; returns whether IP was found.

    Fields set: vlan (Ethernet only), src_addr, dst_addr, proto, tos, src_port, dst_port,
    tcp_flags. Fields the header is too short for are left untouched. Offsets instead of a
    slice: the header is read in place inside the datagram.
    """
    if end > len(d):
        end = len(d)
    if protocol == HEADER_ETHERNET:
        return _ethernet(d, off, end, rec)
    if protocol == HEADER_IPV4:
        return _ipv4(d, off, end, rec)
    if protocol == HEADER_IPV6:
        return _ipv6(d, off, end, rec)
    return False


def _ethernet(d: bytes, off: int, end: int, rec: dict[str, Any]) -> bool:
    if off + 14 > end:
        return False
    etype = _U16.unpack_from(d, off + 12)[0]
    off += 14
    tags = 0
    while etype in _ETH_VLAN_TAGS:
        if off + 4 > end or tags >= _MAX_TAGS:
            return False
        tci, etype = _PORTS.unpack_from(d, off)
        if tags == 0:
            rec["vlan"] = tci & 0x0FFF
        off += 4
        tags += 1
    if etype in _ETH_MPLS:
        off = _skip_mpls(d, off, end)
        if off < 0 or off >= end:
            return False
        version = d[off] >> 4
        etype = _ETH_IPV4 if version == 4 else _ETH_IPV6 if version == 6 else 0
    if etype == _ETH_IPV4:
        return _ipv4(d, off, end, rec)
    if etype == _ETH_IPV6:
        return _ipv6(d, off, end, rec)
    return False


def _skip_mpls(d: bytes, off: int, end: int) -> int:
    """Offset after the label with the bottom-of-stack bit, or -1."""
    for _ in range(_MAX_TAGS):
        if off + 4 > end:
            return -1
        bottom = d[off + 2] & 0x01
        off += 4
        if bottom:
            return off
    return -1


def _ipv4(d: bytes, off: int, end: int, rec: dict[str, Any]) -> bool:
    if off + 20 > end:
        return False
    vihl, tos, frag, proto, src, dst = _IPV4.unpack_from(d, off)
    if vihl >> 4 != 4:
        return False
    rec["tos"] = tos
    rec["proto"] = proto
    rec["src_addr"] = _inet_ntop(_AF_INET, src)
    rec["dst_addr"] = _inet_ntop(_AF_INET, dst)
    ihl = (vihl & 0x0F) * 4
    if not frag & 0x1FFF and ihl >= 20:
        _transport(d, off + ihl, end, proto, rec)
    return True


def _ipv6(d: bytes, off: int, end: int, rec: dict[str, Any]) -> bool:
    if off + 40 > end or d[off] >> 4 != 6:
        return False
    rec["tos"] = (_U16.unpack_from(d, off)[0] >> 4) & 0xFF
    rec["src_addr"] = _inet_ntop(_AF_INET6, d[off + 8 : off + 24])
    rec["dst_addr"] = _inet_ntop(_AF_INET6, d[off + 24 : off + 40])
    nxt = d[off + 6]
    off += 40
    for _ in range(_MAX_TAGS):
        if nxt in _IPV6_EXT:
            if off + 2 > end:
                break
            nxt, off = d[off], off + (d[off + 1] + 1) * 8
        elif nxt == _IPV6_FRAGMENT:
            if off + 8 > end:
                break
            first = (_U16.unpack_from(d, off + 2)[0] >> 3) == 0
            nxt, off = d[off], off + 8
            if not first:
                rec["proto"] = nxt
                return True
        elif nxt == _IPV6_AH:
            if off + 2 > end:
                break
            nxt, off = d[off], off + (d[off + 1] + 2) * 4
        else:
            break
    rec["proto"] = nxt
    _transport(d, off, end, nxt, rec)
    return True


def _transport(d: bytes, off: int, end: int, proto: int, rec: dict[str, Any]) -> None:
    if proto == _PROTO_TCP:
        if off + 14 <= end:
            rec["src_port"], rec["dst_port"], rec["tcp_flags"] = _TCP.unpack_from(d, off)
        elif off + 4 <= end:
            rec["src_port"], rec["dst_port"] = _PORTS.unpack_from(d, off)
    elif proto == _PROTO_UDP and off + 4 <= end:
        rec["src_port"], rec["dst_port"] = _PORTS.unpack_from(d, off)
    # ICMP/ICMPv6 (and every other protocol): no ports (see the module docstring)
