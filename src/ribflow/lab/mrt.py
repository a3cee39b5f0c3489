"""MRT routing tables for the lab router (RFC 6396): read TABLE_DUMP, write TABLE_DUMP_V2.

gobgpd loads big tables with `gobgp mrt inject global FILE`, which reads TABLE_DUMP_V2 only. The
2002 RIS dump the lab uses is the older TABLE_DUMP format (2-byte AS numbers in its attributes),
so :func:`read_table_dump` converts every entry's attributes to the 4-byte form TABLE_DUMP_V2
carries (AS_PATH, AGGREGATOR; AS4_PATH/AS4_AGGREGATOR merged in and dropped) and
:func:`write_table_dump_v2` writes them back. Two quirks of gobgp 3.10 are handled here:

- its MRT reader wants IPv6 routes with the *full* MP_REACH_NLRI attribute (AFI, SAFI, next hop
  and NLRI), not RFC 6396's abbreviated form;
- `mrt inject` exits without flushing its last queue of paths, so the tail of the file is
  repeated (idempotent re-announcements) to make every real prefix arrive.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MRT_TABLE_DUMP = 12
MRT_TABLE_DUMP_V2 = 13
TD2_PEER_INDEX_TABLE, TD2_RIB_IPV4_UNICAST, TD2_RIB_IPV6_UNICAST = 1, 2, 4

# path attribute type codes
ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES = range(1, 9)
MP_REACH_NLRI, AS4_PATH, AS4_AGGREGATOR, LARGE_COMMUNITY = 14, 17, 18, 32
AS_SET, AS_SEQUENCE = 1, 2
AS_TRANS = 23456

FLAG_OPTIONAL, FLAG_TRANSITIVE, FLAG_EXTENDED = 0x80, 0x40, 0x10
TAIL_REPEAT = 4000


class MrtError(ValueError):
    """The MRT input is damaged or of a kind this reader does not handle."""


@dataclass(frozen=True, slots=True)
class RibEntry:
    """One route of a table: prefix, path attributes in 4-byte-AS wire form, and its source."""

    prefix: Network
    attrs: bytes
    peer_ip: str = "192.0.2.254"
    peer_as: int = 65099
    originated: int = 0


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


# -- attribute encoding ------------------------------------------------------------------------
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


def widen_attributes(data: bytes) -> bytes:
    """Convert a 2-byte-AS attribute block (TABLE_DUMP) to the 4-byte form (TABLE_DUMP_V2)."""
    parsed = list(iter_attributes(data))
    as4_path = next((v for _, c, v in parsed if c == AS4_PATH), None)
    as4_aggr = next((v for _, c, v in parsed if c == AS4_AGGREGATOR), None)
    out = bytearray()
    for flags, code, value in parsed:
        if code in (AS4_PATH, AS4_AGGREGATOR):
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
    return bytes(out)


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


# -- reading -----------------------------------------------------------------------------------
def _records(fh: BinaryIO) -> Iterator[tuple[int, int, int, bytes]]:
    """(timestamp, type, subtype, body) of each whole MRT record; a truncated tail ends it."""
    while True:
        head = fh.read(12)
        if len(head) < 12:
            return
        ts, typ, sub, length = struct.unpack("!IHHI", head)
        body = fh.read(length)
        if len(body) < length:
            return
        yield ts, typ, sub, body


def read_table_dump(fh: BinaryIO) -> Iterator[RibEntry]:
    """Entries of a TABLE_DUMP (v1) file, attributes widened to 4-byte AS numbers.

    Records of other MRT types are skipped; a damaged entry raises :class:`MrtError`.
    """
    for _, typ, sub, body in _records(fh):
        if typ != MRT_TABLE_DUMP or sub not in (1, 2):
            continue
        alen = 4 if sub == 1 else 16
        fixed = 4 + alen + 2 + 4 + alen + 2 + 2
        if len(body) < fixed:
            raise MrtError("truncated TABLE_DUMP entry")
        pos = 4
        raw_prefix = body[pos : pos + alen]
        plen = body[pos + alen]
        pos += alen + 2  # prefix length, status
        (originated,) = struct.unpack_from("!I", body, pos)
        pos += 4
        peer_raw = body[pos : pos + alen]
        pos += alen
        peer_as, attr_len = struct.unpack_from("!HH", body, pos)
        pos += 4
        attrs = body[pos : pos + attr_len]
        if len(attrs) < attr_len:
            raise MrtError("TABLE_DUMP attributes truncated")
        addr_cls = ipaddress.IPv4Address if alen == 4 else ipaddress.IPv6Address
        net_cls = ipaddress.IPv4Network if alen == 4 else ipaddress.IPv6Network
        prefix = net_cls((addr_cls(raw_prefix), plen), strict=False)
        yield RibEntry(
            prefix=prefix,
            attrs=widen_attributes(attrs),
            peer_ip=str(addr_cls(peer_raw)),
            peer_as=peer_as,
            originated=originated,
        )


def read_table_dump_v2(fh: BinaryIO) -> Iterator[RibEntry]:
    """Entries of a TABLE_DUMP_V2 file (IPv4/IPv6 unicast RIBs; other subtypes skipped)."""
    peers: list[tuple[str, int]] = []
    for _, typ, sub, body in _records(fh):
        if typ != MRT_TABLE_DUMP_V2:
            continue
        if sub == TD2_PEER_INDEX_TABLE:
            (name_len,) = struct.unpack_from("!H", body, 4)
            pos = 6 + name_len
            (count,) = struct.unpack_from("!H", body, pos)
            pos += 2
            peers = []
            for _ in range(count):
                ptype = body[pos]
                pos += 5
                alen = 16 if ptype & 1 else 4
                ip = ipaddress.ip_address(body[pos : pos + alen])
                pos += alen
                awidth = 4 if ptype & 2 else 2
                asn = int.from_bytes(body[pos : pos + awidth], "big")
                pos += awidth
                peers.append((str(ip), asn))
        elif sub in (TD2_RIB_IPV4_UNICAST, TD2_RIB_IPV6_UNICAST):
            v6 = sub == TD2_RIB_IPV6_UNICAST
            plen = body[4]
            nbytes = (plen + 7) // 8
            raw = body[5 : 5 + nbytes] + bytes((16 if v6 else 4) - nbytes)
            prefix: Network = (
                ipaddress.IPv6Network((raw, plen)) if v6 else ipaddress.IPv4Network((raw, plen))
            )
            pos = 5 + nbytes
            (count,) = struct.unpack_from("!H", body, pos)
            pos += 2
            for _ in range(count):
                idx, originated, alen = struct.unpack_from("!HIH", body, pos)
                pos += 8
                peer_ip, peer_as = peers[idx] if idx < len(peers) else ("0.0.0.0", 0)
                yield RibEntry(prefix, body[pos : pos + alen], peer_ip, peer_as, originated)
                pos += alen


def one_per_prefix(entries: Iterable[RibEntry]) -> list[RibEntry]:
    """One route per prefix: the entry of the peer with the most routes wins, else the first.

    A route reflector injecting several peers' paths for one prefix would keep only one of them
    anyway; choosing here keeps the lab's table (and the tests' expectations) deterministic.
    """
    entries = list(entries)
    counts = Counter((e.peer_ip, e.peer_as) for e in entries)
    rank = {peer: i for i, (peer, _) in enumerate(counts.most_common())}
    chosen: dict[Network, RibEntry] = {}
    for e in entries:
        old = chosen.get(e.prefix)
        if old is None or rank[(e.peer_ip, e.peer_as)] < rank[(old.peer_ip, old.peer_as)]:
            chosen[e.prefix] = e
    return list(chosen.values())


# -- writing -----------------------------------------------------------------------------------
def _mrt(ts: int, subtype: int, body: bytes) -> bytes:
    return struct.pack("!IHHI", ts, MRT_TABLE_DUMP_V2, subtype, len(body)) + body


def _peer_index(collector_id: str, peers: list[tuple[str, int]]) -> bytes:
    body = bytearray(ipaddress.IPv4Address(collector_id).packed)
    body += struct.pack("!HH", 0, len(peers))
    for ip, asn in peers:
        addr = ipaddress.ip_address(ip)
        ptype = 0x02 | (0x01 if addr.version == 6 else 0)
        peer_id = addr.packed if addr.version == 4 else ipaddress.IPv4Address("0.0.0.0").packed
        body += struct.pack("!B", ptype) + peer_id + addr.packed + struct.pack("!I", asn)
    return bytes(body)


def _rib_record(ts: int, seq: int, entry: RibEntry, peer_index: int) -> bytes:
    net = entry.prefix
    nbytes = (net.prefixlen + 7) // 8
    body = struct.pack("!IB", seq, net.prefixlen) + net.network_address.packed[:nbytes]
    body += struct.pack("!H", 1)
    body += struct.pack("!HIH", peer_index, entry.originated or ts, len(entry.attrs)) + entry.attrs
    subtype = TD2_RIB_IPV6_UNICAST if net.version == 6 else TD2_RIB_IPV4_UNICAST
    return _mrt(ts, subtype, body)


def write_table_dump_v2(
    out: Path,
    entries: Iterable[RibEntry],
    *,
    collector_id: str = "10.0.0.3",
    timestamp: int = 0,
    tail_repeat: int = TAIL_REPEAT,
) -> int:
    """Write ``entries`` as a TABLE_DUMP_V2 file for `gobgp mrt inject`; returns the route count.

    The last ``tail_repeat`` RIB records are written twice (see the module docstring).
    """
    entries = list(entries)
    peers = sorted({(e.peer_ip, e.peer_as) for e in entries}) or [("192.0.2.254", 65099)]
    index = {p: i for i, p in enumerate(peers)}
    ts = timestamp or 1
    records = [
        _rib_record(ts, seq, e, index[(e.peer_ip, e.peer_as)]) for seq, e in enumerate(entries)
    ]
    tmp = out.with_name(out.name + ".partial")
    with open(tmp, "wb") as fh:
        fh.write(_mrt(ts, TD2_PEER_INDEX_TABLE, _peer_index(collector_id, peers)))
        for rec in records:
            fh.write(rec)
        for rec in records[-tail_repeat:] if tail_repeat else []:
            fh.write(rec)
    tmp.replace(out)
    return len(records)
