"""sFlow v5 flow records other than the raw header: sampled IPv4/IPv6 and extended data.

Each function reads one record body (already bounded by its length) into a flow record dict and
raises :class:`FlowRecordError` when the body is shorter than what it declares.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from ribflow.flow.errors import FlowDecodeError
from ribflow.flow.sflow_header import decode_header

# flow record formats (enterprise 0)
RAW_HEADER = 1
SAMPLED_ETHERNET = 2
SAMPLED_IPV4 = 3
SAMPLED_IPV6 = 4
EXTENDED_SWITCH = 1001
EXTENDED_ROUTER = 1002
EXTENDED_GATEWAY = 1003

_MAX_PATH_ASNS = 1024  # more ASNs than this in one path is garbage, not BGP
_MAX_COMMUNITIES = 4096

_U32 = struct.Struct("!I")
_RAW = struct.Struct("!IIII")  # header_protocol, frame_length, stripped, header length
_IPV4 = struct.Struct("!II4s4sIIII")
_IPV6 = struct.Struct("!II16s16sIIII")
_SWITCH = struct.Struct("!IIII")
_GATEWAY_FIXED = struct.Struct("!IIII")  # as, src_as, src_peer_as, path segment count
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


class FlowRecordError(FlowDecodeError):
    """A flow record is shorter than its own fields say (reason is a metric label)."""


def raw_header(d: bytes, off: int, end: int, rec: dict[str, Any]) -> bool:
    """Raw packet header (format 1) at ``d[off:end]``: bytes = frame length; returns whether
    an IP packet was found (read in place, no copy of the header)."""
    if off + 16 > end:
        raise FlowRecordError("sflow_record_short", "raw header")
    protocol, frame_length, _stripped, hlen = _RAW.unpack_from(d, off)
    if off + 16 + hlen > end:
        raise FlowRecordError(
            "sflow_header_length", f"{hlen} bytes declared, {end - off - 16} sent"
        )
    rec["bytes"] = frame_length
    return decode_header(protocol, d, off + 16, off + 16 + hlen, rec)


def _sampled(layout: struct.Struct, family: int, what: str, d: bytes, rec: dict[str, Any]) -> None:
    """The agent's own parse of the packet (IPv4's tos and IPv6's priority are both ``tos``)."""
    if len(d) < layout.size:
        raise FlowRecordError("sflow_record_short", what)
    length, proto, src, dst, sport, dport, flags, tos = layout.unpack_from(d)
    rec.update(
        bytes=length,
        proto=proto & 0xFF,
        src_addr=_inet_ntop(family, src),
        dst_addr=_inet_ntop(family, dst),
        src_port=sport & 0xFFFF,
        dst_port=dport & 0xFFFF,
        tcp_flags=flags & 0xFF,
        tos=tos & 0xFF,
    )


def sampled_ipv4(d: bytes, rec: dict[str, Any]) -> None:
    """Sampled IPv4 (format 3)."""
    _sampled(_IPV4, _AF_INET, "sampled ipv4", d, rec)


def sampled_ipv6(d: bytes, rec: dict[str, Any]) -> None:
    """Sampled IPv6 (format 4)."""
    _sampled(_IPV6, _AF_INET6, "sampled ipv6", d, rec)


def extended_switch(d: bytes, rec: dict[str, Any]) -> tuple[int, int]:
    """Extended switch (format 1001): the switch's own idea of the incoming VLAN wins.

    Sets ``vlan`` (src_vlan) and ``vlan_out`` (dst_vlan) when they are VLAN ids; returns both
    as sent (for :func:`pmacct_vlan`).
    """
    if len(d) < _SWITCH.size:
        raise FlowRecordError("sflow_record_short", "extended switch")
    src_vlan, _src_pri, dst_vlan, _dst_pri = _SWITCH.unpack_from(d)
    if 0 < src_vlan < 4096:
        rec["vlan"] = src_vlan
    if 0 < dst_vlan < 4096:
        rec["vlan_out"] = dst_vlan
    return src_vlan, dst_vlan


def pmacct_vlan(switch: tuple[int, int] | None, tag: int | None, tag_after_switch: bool) -> int:
    """sfacctd's ``vlan`` primitive of a flow sample (sflow.c, SF_vlan_handler, 1.7.7-1.7.9).

    pmacct keeps an in and an out VLAN, filled in record order: the raw header's 802.1Q tag
    becomes the in VLAN only while both are still 0; an extended switch record sets both (its
    src_vlan/dst_vlan, even 0, over a tag read before it). ``vlan`` is the in VLAN, or the out
    VLAN when that is 0, as 16-bit integers.
    """
    in_vlan, out_vlan = switch if switch is not None else (0, 0)
    if tag is not None and (switch is None or (tag_after_switch and not in_vlan and not out_vlan)):
        in_vlan = tag
    return (in_vlan & 0xFFFF) or (out_vlan & 0xFFFF)


def _address(d: bytes, off: int) -> tuple[str | None, int]:
    """An sFlow ``address`` (type, then 4 or 16 bytes) at ``off``; returns text and new offset."""
    if off + 4 > len(d):
        raise FlowRecordError("sflow_record_short", "address type")
    kind = _U32.unpack_from(d, off)[0]
    if kind == 1:
        if off + 8 > len(d):
            raise FlowRecordError("sflow_record_short", "ipv4 address")
        return _inet_ntop(_AF_INET, d[off + 4 : off + 8]), off + 8
    if kind == 2:
        if off + 20 > len(d):
            raise FlowRecordError("sflow_record_short", "ipv6 address")
        return _inet_ntop(_AF_INET6, d[off + 4 : off + 20]), off + 20
    if kind == 0:
        return None, off + 4
    raise FlowRecordError("sflow_address_type", str(kind))


def extended_router(d: bytes, rec: dict[str, Any]) -> None:
    """Extended router (format 1002): next hop and the prefix lengths of source/destination."""
    next_hop, off = _address(d, 0)
    if off + 8 > len(d):
        raise FlowRecordError("sflow_record_short", "extended router")
    src_mask, dst_mask = struct.unpack_from("!II", d, off)
    rec["next_hop"] = next_hop
    if src_mask <= 128:
        rec["src_mask"] = src_mask
    if dst_mask <= 128:
        rec["dst_mask"] = dst_mask


def extended_gateway(d: bytes, rec: dict[str, Any]) -> None:
    """Extended gateway (format 1003): BGP next hop, source AS, destination AS path.

    ``dst_as`` is the last ASN of the destination path (the origin AS), 0 when the path is
    empty (the destination is inside the router's own AS), as NetFlow exporters report it.
    """
    bgp_next_hop, off = _address(d, 0)
    if off + _GATEWAY_FIXED.size > len(d):
        raise FlowRecordError("sflow_record_short", "extended gateway")
    _own_as, src_as, _src_peer_as, segments = _GATEWAY_FIXED.unpack_from(d, off)
    off += _GATEWAY_FIXED.size
    if segments > _MAX_PATH_ASNS:
        raise FlowRecordError("sflow_as_path_count", str(segments))
    last_as = 0
    for _ in range(segments):
        if off + 8 > len(d):
            raise FlowRecordError("sflow_record_short", "as path segment")
        _seg_type, n = struct.unpack_from("!II", d, off)
        off += 8
        if n > _MAX_PATH_ASNS or off + 4 * n > len(d):
            raise FlowRecordError("sflow_as_path_count", str(n))
        if n:
            last_as = _U32.unpack_from(d, off + 4 * (n - 1))[0]
        off += 4 * n
    if off + 4 <= len(d):  # communities and local pref follow; checked, not carried
        n_comms = _U32.unpack_from(d, off)[0]
        if n_comms > _MAX_COMMUNITIES or off + 4 + 4 * n_comms > len(d):
            raise FlowRecordError("sflow_community_count", str(n_comms))
    rec["bgp_next_hop"] = bgp_next_hop
    rec["src_as"] = src_as
    rec["dst_as"] = last_as
