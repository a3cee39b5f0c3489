"""BGP path attributes as MRT tables carry them: encode, decode, widen to 4-byte AS numbers.

TABLE_DUMP (v1) entries carry 2-byte AS numbers; :func:`widen_attributes` converts them to the
4-byte form TABLE_DUMP_V2 and the rest of ribflow use (AS_PATH and AGGREGATOR rewritten,
AS4_PATH / AS4_AGGREGATOR merged in per RFC 6793 and dropped, an IPv6 route's MP_REACH_NLRI made
the full form gobgp reads). :func:`decode_path` decodes them for people and tests,
:func:`event_attrs` into the ``attrs`` of a bgp-updates event.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ribflow.errors import BadInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# path attribute type codes
ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES = range(1, 9)
ORIGINATOR_ID, CLUSTER_LIST = 9, 10
MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH, AS4_AGGREGATOR, LARGE_COMMUNITY = 14, 15, 17, 18, 32
AS_SET, AS_SEQUENCE = 1, 2
AS_TRANS = 23456
FLAG_OPTIONAL, FLAG_TRANSITIVE, FLAG_EXTENDED = 0x80, 0x40, 0x10

_ORIGINS = {0: "igp", 1: "egp", 2: "incomplete"}
_SEGMENTS = {1: "as-set", 2: "as-sequence", 3: "confed-sequence", 4: "confed-set"}


class MrtError(BadInput, ValueError):
    """The MRT input is damaged or of a kind this reader does not handle (reason ``mrt``)."""

    def __init__(self, detail: str) -> None:
        super().__init__("mrt", detail)


@dataclass(slots=True)
class PathInfo:
    """The attributes of a route decoded for people and tests (not for forwarding)."""

    origin: int | None = None
    as_path: list[tuple[int, list[int]]] = field(default_factory=list)
    next_hop: str | None = None
    med: int | None = None
    local_pref: int | None = None
    communities: list[tuple[int, int]] = field(default_factory=list)
    large_communities: list[tuple[int, int, int]] = field(default_factory=list)
    atomic_aggregate: bool = False
    aggregator: tuple[int, str] | None = None

    @property
    def origin_as(self) -> int:
        """The origin AS the way pmacct reports it: the last ASN of a final AS_SEQUENCE, else 0."""
        if self.as_path and self.as_path[-1][0] == AS_SEQUENCE and self.as_path[-1][1]:
            return self.as_path[-1][1][-1]
        return 0

    def as_path_text(self, sep: str = " ") -> str:
        """AS path as text; AS_SETs in braces ("1853 1239 {13659,701}")."""
        parts = []
        for kind, asns in self.as_path:
            if kind == AS_SET:
                parts.append("{" + ",".join(str(a) for a in asns) + "}")
            else:
                parts.extend(str(a) for a in asns)
        return sep.join(parts)


def attribute(flags: int, code: int, value: bytes) -> bytes:
    """One path attribute, using the extended length form when the value needs it."""
    flags &= ~FLAG_EXTENDED
    if len(value) > 255:
        return struct.pack("!BBH", flags | FLAG_EXTENDED, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def iter_attributes(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(flags, type code, value) of each attribute in a path attribute block."""
    pos, end = 0, len(data)
    while pos < end:
        if pos + 3 > end:
            raise MrtError("truncated path attribute header")
        flags, code = data[pos], data[pos + 1]
        if flags & FLAG_EXTENDED:
            if pos + 4 > end:
                raise MrtError("truncated extended attribute header")
            (length,) = struct.unpack_from("!H", data, pos + 2)
            pos += 4
        else:
            length = data[pos + 2]
            pos += 3
        if pos + length > end:
            raise MrtError(f"attribute {code} runs past its block")
        yield flags, code, data[pos : pos + length]
        pos += length


def encode_as_path(segments: Iterable[tuple[int, Iterable[int]]], width: int = 4) -> bytes:
    fmt = "!I" if width == 4 else "!H"
    out = bytearray()
    for kind, asns in segments:
        asns = list(asns)
        for i in range(0, max(len(asns), 1), 255):  # a segment holds at most 255 ASNs
            chunk = asns[i : i + 255]
            out += struct.pack("!BB", kind, len(chunk))
            out += b"".join(struct.pack(fmt, a) for a in chunk)
    return bytes(out)


def decode_as_path(value: bytes, width: int = 4) -> list[tuple[int, list[int]]]:
    fmt = "!I" if width == 4 else "!H"
    segments, pos = [], 0
    while pos < len(value):
        if pos + 2 > len(value):
            raise MrtError("truncated AS_PATH segment")
        kind, count = value[pos], value[pos + 1]
        pos += 2
        if pos + count * width > len(value):
            raise MrtError("AS_PATH segment runs past the attribute")
        asns = [struct.unpack_from(fmt, value, pos + i * width)[0] for i in range(count)]
        segments.append((kind, asns))
        pos += count * width
    return segments


def _merge_as4_path(
    two: list[tuple[int, list[int]]], four: list[tuple[int, list[int]]]
) -> list[tuple[int, list[int]]]:
    """RFC 6793 §4.2.3: AS4_PATH replaces the trailing part of an AS_PATH of 2-byte speakers."""

    def count(path: list[tuple[int, list[int]]]) -> int:
        return sum(len(a) if k == AS_SEQUENCE else 1 for k, a in path)

    keep = count(two) - count(four)
    if keep < 0:
        return two
    head: list[tuple[int, list[int]]] = []
    for kind, asns in two:
        if keep <= 0:
            break
        if kind == AS_SEQUENCE:
            head.append((kind, asns[:keep]))
            keep -= len(asns[:keep])
        else:
            head.append((kind, asns))
            keep -= 1
    merged: list[tuple[int, list[int]]] = []
    for kind, asns in head + four:  # AS4_PATH continues the last AS_SEQUENCE of the head
        fits = bool(merged) and len(merged[-1][1]) + len(asns) <= 255
        if fits and kind == merged[-1][0] == AS_SEQUENCE:
            merged[-1] = (kind, merged[-1][1] + asns)
        elif asns:
            merged.append((kind, list(asns)))
    return merged


def widen_attributes(data: bytes, prefix: Network | None = None) -> bytes:
    """Convert a 2-byte-AS attribute block (TABLE_DUMP) to the 4-byte form (TABLE_DUMP_V2).

    For an IPv6 ``prefix`` the MP_REACH_NLRI becomes the full form (AFI, SAFI, next hop, NLRI)
    that gobgp reads, whether the input had it full or abbreviated (RFC 6396 §4.3.4)."""
    parsed = list(iter_attributes(data))
    as4_path = next((v for _, c, v in parsed if c == AS4_PATH), None)
    as4_aggr = next((v for _, c, v in parsed if c == AS4_AGGREGATOR), None)
    out = bytearray()
    v6 = prefix is not None and prefix.version == 6
    for flags, code, value in parsed:
        if code in (AS4_PATH, AS4_AGGREGATOR) or (v6 and code in (MP_REACH_NLRI, MP_UNREACH_NLRI)):
            continue
        if code == AS_PATH:
            path = decode_as_path(value, width=2)
            if as4_path is not None:
                path = _merge_as4_path(path, decode_as_path(as4_path, width=4))
            value = encode_as_path(path, width=4)
        elif code == AGGREGATOR and len(value) == 6:
            asn, ip = struct.unpack("!H4s", value)
            if asn == AS_TRANS and as4_aggr is not None and len(as4_aggr) == 8:
                value = as4_aggr
            else:
                value = struct.pack("!I4s", asn, ip)
        out += attribute(flags, code, value)
    if v6 and prefix is not None:
        reach = next((v for _, c, v in parsed if c == MP_REACH_NLRI), b"")
        out += attribute(FLAG_OPTIONAL, MP_REACH_NLRI, full_mp_reach(prefix, mp_next_hop(reach)))
    return bytes(out)


def nlri(prefix: Network) -> bytes:
    """A prefix in NLRI form (length, then the significant bytes)."""
    return bytes([prefix.prefixlen]) + prefix.network_address.packed[: (prefix.prefixlen + 7) // 8]


def full_mp_reach(prefix: Network, next_hop: bytes | None) -> bytes:
    """MP_REACH_NLRI of one IPv6 unicast prefix (AFI 2, SAFI 1, next hop, reserved, NLRI)."""
    nh = next_hop or bytes(16)
    return struct.pack("!HBB", 2, 1, len(nh)) + nh + b"\x00" + nlri(prefix)


def mp_next_hop(value: bytes) -> bytes | None:
    """The next hop of an MP_REACH_NLRI, full or abbreviated (length first), at most 16 bytes."""
    if len(value) >= 4 and value[0] == 0 and value[1] in (1, 2):  # full form: AFI 1/2
        return value[4 : 4 + value[3]][:16] or None
    if not value:
        return None
    return value[1 : 1 + value[0]][:16] or None


def _ip(data: bytes) -> str:
    return str(ipaddress.ip_address(data))


def event_attrs(attrs: bytes) -> tuple[dict[str, Any], str | None]:
    """4-byte-AS path attributes -> (the ``attrs`` of a bgp-updates event, next hop)."""
    out: dict[str, Any] = {}
    next_hop: str | None = None
    for _, code, value in iter_attributes(attrs):
        n = len(value)
        if code == ORIGIN and value:
            out["origin"] = _ORIGINS.get(value[0], "incomplete")
        elif code == AS_PATH:
            out["as_path"] = [
                {"type": _SEGMENTS.get(kind, "as-sequence"), "asns": asns}
                for kind, asns in decode_as_path(value, 4)
            ]
        elif code == NEXT_HOP and n == 4:
            next_hop = _ip(value)
        elif code == MED and n == 4:
            out["med"] = struct.unpack("!I", value)[0]
        elif code == LOCAL_PREF and n == 4:
            out["local_pref"] = struct.unpack("!I", value)[0]
        elif code == ATOMIC_AGGREGATE:
            out["atomic_aggregate"] = True
        elif code == COMMUNITIES:
            vals = struct.unpack(f"!{n // 2}H", value[: n - n % 4])
            out["communities"] = [f"{vals[i]}:{vals[i + 1]}" for i in range(0, len(vals), 2)]
        elif code == ORIGINATOR_ID and n == 4:
            out["originator_id"] = _ip(value)
        elif code == CLUSTER_LIST:
            out["cluster_list"] = [_ip(value[i : i + 4]) for i in range(0, n - 3, 4)]
        elif code == MP_REACH_NLRI:
            nh = mp_next_hop(value)
            if nh and len(nh) in (4, 16):
                next_hop = _ip(nh)
        elif code == LARGE_COMMUNITY:
            vals = struct.unpack(f"!{n // 4}I", value[: n - n % 12])
            out["large_communities"] = [
                f"{vals[i]}:{vals[i + 1]}:{vals[i + 2]}" for i in range(0, len(vals), 3)
            ]
    return out, next_hop


def decode_path(attrs: bytes) -> PathInfo:
    """Decode the attributes people look at (4-byte AS form)."""
    info = PathInfo()
    for _, code, value in iter_attributes(attrs):
        if code == ORIGIN and value:
            info.origin = value[0]
        elif code == AS_PATH:
            info.as_path = decode_as_path(value, 4)
        elif code == NEXT_HOP and len(value) == 4:
            info.next_hop = str(ipaddress.IPv4Address(value))
        elif code == MED and len(value) == 4:
            info.med = struct.unpack("!I", value)[0]
        elif code == LOCAL_PREF and len(value) == 4:
            info.local_pref = struct.unpack("!I", value)[0]
        elif code == ATOMIC_AGGREGATE:
            info.atomic_aggregate = True
        elif code == AGGREGATOR and len(value) == 8:
            asn, ip = struct.unpack("!I4s", value)
            info.aggregator = (asn, str(ipaddress.IPv4Address(ip)))
        elif code == COMMUNITIES:
            info.communities = [
                struct.unpack_from("!HH", value, i) for i in range(0, len(value) - 3, 4)
            ]
        elif code == LARGE_COMMUNITY:
            info.large_communities = [
                struct.unpack_from("!III", value, i) for i in range(0, len(value) - 11, 12)
            ]
        elif code == MP_REACH_NLRI and len(value) >= 5:
            nh_len = value[3]
            nh = value[4 : 4 + nh_len]
            if len(nh) >= 16:
                info.next_hop = str(ipaddress.IPv6Address(nh[:16]))
    return info
