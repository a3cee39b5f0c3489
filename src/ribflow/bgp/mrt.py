"""MRT (RFC 6396) tables: read TABLE_DUMP (v1), write TABLE_DUMP_V2 for ``gobgp mrt inject``.

Used to load real tables into a lab router (gobgpd) for the benchmarks and the lab. gobgp only
injects TABLE_DUMP_V2, and old RIS/RouteViews dumps (e.g. RIPE RIS rrc05, 2002) are TABLE_DUMP v1
with 2-byte AS numbers, hence :func:`convert`:

* AS_PATH and AGGREGATOR are rewritten with 4-byte AS numbers (TABLE_DUMP_V2 requires them);
  AS4_PATH / AS4_AGGREGATOR, when present, replace their 2-byte counterparts (RFC 6793 merge,
  simplified: the 4-byte attribute wins when both are there).
* IPv6 entries get a *full* MP_REACH_NLRI (AFI, SAFI, next hop, NLRI): gobgp 3.10 reads that,
  not RFC 6396's abbreviated form.
* ``pad``: gobgp 3.10's ``mrt inject`` exits without waiting for its last queued paths, so the
  last ~1000 are lost; repeating the last ``pad`` records (idempotent re-announcements) gets
  every prefix through.

Usage: ``python -m ribflow.bgp.mrt IN[.gz] OUT.mrt [--pad N]``.
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

TABLE_DUMP = 12
TABLE_DUMP_V2 = 13
TD_AFI_IPV4, TD_AFI_IPV6 = 1, 2
PEER_INDEX_TABLE, RIB_IPV4_UNICAST, RIB_IPV6_UNICAST = 1, 2, 4

ATTR_AS_PATH, ATTR_NEXT_HOP, ATTR_AGGREGATOR = 2, 3, 7
ATTR_MP_REACH, ATTR_MP_UNREACH, ATTR_AS4_PATH, ATTR_AS4_AGGREGATOR = 14, 15, 17, 18
_HEADER = struct.Struct("!IHHI")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class MrtError(ValueError):
    """The MRT data is not what the record header says."""


@dataclass(frozen=True)
class Record:
    timestamp: int
    type: int
    subtype: int
    body: bytes


@dataclass(frozen=True)
class RibEntry:
    """One route of one peer (TABLE_DUMP v1 gives exactly this, one per record)."""

    prefix: IPNetwork
    peer_ip: str
    peer_as: int
    originated: int
    attrs: bytes  # path attributes as in a BGP UPDATE (2-byte ASNs for TABLE_DUMP v1)


@dataclass
class TableStats:
    records: int = 0
    prefixes: int = 0
    entries: int = 0
    peers: int = 0
    v6: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def open_maybe_gzip(path: Path) -> BinaryIO:
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")  # type: ignore[return-value]


def iter_records(stream: BinaryIO) -> Iterator[Record]:
    """MRT records of a stream; a truncated last record ends the iteration."""
    while True:
        head = stream.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        ts, kind, subtype, length = _HEADER.unpack(head)
        body = stream.read(length)
        if len(body) < length:
            return
        yield Record(ts, kind, subtype, body)


def parse_table_dump_v1(rec: Record) -> RibEntry:
    """A TABLE_DUMP (v1) record (RFC 6396 section 4.2)."""
    if rec.subtype == TD_AFI_IPV4:
        alen, net = 4, ipaddress.IPv4Network
    elif rec.subtype == TD_AFI_IPV6:
        alen, net = 16, ipaddress.IPv6Network  # type: ignore[assignment]
    else:
        raise MrtError(f"TABLE_DUMP subtype {rec.subtype}")
    b = rec.body
    pos = 4  # view number, sequence number
    addr = b[pos : pos + alen]
    plen = b[pos + alen]
    pos += alen + 2  # prefix, length, status
    (originated,) = struct.unpack_from("!I", b, pos)
    pos += 4
    peer_ip = str(ipaddress.ip_address(b[pos : pos + alen]))
    pos += alen
    peer_as, attr_len = struct.unpack_from("!HH", b, pos)
    pos += 4
    attrs = b[pos : pos + attr_len]
    if len(attrs) != attr_len:
        raise MrtError("truncated attributes")
    prefix = net((addr, plen), strict=False)
    return RibEntry(prefix, peer_ip, peer_as, originated, attrs)


def iter_attrs(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(flags, type code, value) of each path attribute."""
    i = 0
    while i + 3 <= len(data):
        flags, code = data[i], data[i + 1]
        if flags & 0x10:
            (length,) = struct.unpack_from("!H", data, i + 2)
            i += 4
        else:
            length = data[i + 2]
            i += 3
        value = data[i : i + length]
        if len(value) != length:
            raise MrtError(f"attribute {code} truncated")
        yield flags, code, value
        i += length


def attr(flags: int, code: int, value: bytes) -> bytes:
    """Encode one path attribute (extended length when needed)."""
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, code, len(value)) + value
    return struct.pack("!BBB", flags & ~0x10, code, len(value)) + value


def as_path_to_4byte(value: bytes) -> bytes:
    """Re-encode AS_PATH segments of 2-byte ASNs with 4-byte ASNs."""
    out = bytearray()
    i = 0
    while i + 2 <= len(value):
        seg_type, count = value[i], value[i + 1]
        asns = struct.unpack_from(f"!{count}H", value, i + 2)
        out += struct.pack(f"!BB{count}I", seg_type, count, *asns)
        i += 2 + 2 * count
    if i != len(value):
        raise MrtError("AS_PATH does not parse as 2-byte segments")
    return bytes(out)


def to_tdv2_attrs(attrs: bytes, prefix: IPNetwork, as4: bool = False) -> bytes:
    """Path attributes of a TABLE_DUMP v1 entry, made fit for TABLE_DUMP_V2 / gobgp."""
    found = list(iter_attrs(attrs))
    codes = {code for _, code, _ in found}
    out = bytearray()
    next_hop6: bytes | None = None
    for flags, code, value in found:
        if code == ATTR_AS_PATH:
            if ATTR_AS4_PATH in codes and not as4:
                continue  # the AS4_PATH (4-byte) replaces it below
            out += attr(flags, code, value if as4 else as_path_to_4byte(value))
        elif code == ATTR_AS4_PATH:
            out += attr(0x40, ATTR_AS_PATH, value)
        elif code == ATTR_AGGREGATOR:
            if ATTR_AS4_AGGREGATOR in codes:
                continue
            if not as4 and len(value) == 6:
                value = struct.pack("!I", struct.unpack_from("!H", value)[0]) + value[2:]
            out += attr(flags, code, value)
        elif code == ATTR_AS4_AGGREGATOR:
            out += attr(0xC0, ATTR_AGGREGATOR, value)
        elif code == ATTR_MP_REACH:
            next_hop6 = _mp_next_hop(value)
        elif code == ATTR_MP_UNREACH:
            continue
        else:
            out += attr(flags, code, value)
    if prefix.version == 6:
        nh = next_hop6 or bytes(16)
        nlri = (
            bytes([prefix.prefixlen]) + prefix.network_address.packed[: (prefix.prefixlen + 7) // 8]
        )
        mp = struct.pack("!HBB", 2, 1, len(nh)) + nh + b"\x00" + nlri
        out += attr(0x80, ATTR_MP_REACH, mp)
    return bytes(out)


def _mp_next_hop(value: bytes) -> bytes | None:
    """Next hop of an MP_REACH_NLRI, full or RFC 6396 abbreviated (length first)."""
    if len(value) >= 4 and value[0] == 0 and value[1] == 2:  # full form: AFI 2
        nhlen = value[3]
        return value[4 : 4 + nhlen][:16] or None
    nhlen = value[0] if value else 0
    return value[1 : 1 + nhlen][:16] or None


class TableDumpV2Writer:
    """Writes a PEER_INDEX_TABLE then RIB records (one per prefix, one entry per peer)."""

    def __init__(self, collector_id: str = "10.0.0.254", timestamp: int = 0) -> None:
        self.collector_id = collector_id
        self.timestamp = timestamp
        self.peers: dict[tuple[str, int], int] = {}
        self._ribs: list[bytes] = []

    def peer_index(self, peer_ip: str, peer_as: int) -> int:
        key = (peer_ip, peer_as)
        if key not in self.peers:
            self.peers[key] = len(self.peers)
        return self.peers[key]

    def add(self, prefix: IPNetwork, entries: Iterable[tuple[int, int, bytes]]) -> None:
        """One RIB record: ``entries`` are (peer index, originated time, TDv2 attributes)."""
        items = list(entries)
        body = bytearray(struct.pack("!I", len(self._ribs)))
        body += (
            bytes([prefix.prefixlen]) + prefix.network_address.packed[: (prefix.prefixlen + 7) // 8]
        )
        body += struct.pack("!H", len(items))
        for index, originated, attrs in items:
            body += struct.pack("!HIH", index, originated, len(attrs)) + attrs
        subtype = RIB_IPV4_UNICAST if prefix.version == 4 else RIB_IPV6_UNICAST
        self._ribs.append(_HEADER.pack(self.timestamp, TABLE_DUMP_V2, subtype, len(body)) + body)

    def _peer_table(self) -> bytes:
        body = bytearray(ipaddress.IPv4Address(self.collector_id).packed)
        body += struct.pack("!HH", 0, len(self.peers))
        for (ip, asn), _ in sorted(self.peers.items(), key=lambda kv: kv[1]):
            addr = ipaddress.ip_address(ip)
            kind = 0x02 | (0x01 if addr.version == 6 else 0)  # 4-byte AS, v4/v6 address
            body += bytes([kind]) + ipaddress.IPv4Address("0.0.0.0").packed + addr.packed
            body += struct.pack("!I", asn)
        return _HEADER.pack(self.timestamp, TABLE_DUMP_V2, PEER_INDEX_TABLE, len(body)) + bytes(
            body
        )

    def write(self, out: BinaryIO, pad: int = 0) -> int:
        """Write everything; the last ``pad`` RIB records are written twice (see module doc)."""
        out.write(self._peer_table())
        for rec in self._ribs:
            out.write(rec)
        tail = self._ribs[-pad:] if pad > 0 else []
        for rec in tail:
            out.write(rec)
        return len(self._ribs)


def convert(src: Path, dst: Path, pad: int = 0, only_peer: str | None = None) -> TableStats:
    """TABLE_DUMP v1 file (gzip or not) -> TABLE_DUMP_V2 file for ``gobgp mrt inject``."""
    stats = TableStats()
    writer = TableDumpV2Writer()
    current: IPNetwork | None = None
    entries: list[tuple[int, int, bytes]] = []

    def flush() -> None:
        if current is not None and entries:
            writer.add(current, entries)
            stats.prefixes += 1
            stats.v6 += current.version == 6

    with open_maybe_gzip(src) as stream:
        for rec in iter_records(stream):
            stats.records += 1
            if rec.type != TABLE_DUMP:
                stats.skipped[f"type{rec.type}"] = stats.skipped.get(f"type{rec.type}", 0) + 1
                continue
            try:
                entry = parse_table_dump_v1(rec)
                if only_peer and entry.peer_ip != only_peer:
                    continue
                attrs = to_tdv2_attrs(entry.attrs, entry.prefix)
            except (MrtError, struct.error, ValueError) as exc:
                reason = type(exc).__name__
                stats.skipped[reason] = stats.skipped.get(reason, 0) + 1
                continue
            if entry.prefix != current:
                flush()
                current, entries = entry.prefix, []
            entries.append(
                (writer.peer_index(entry.peer_ip, entry.peer_as), entry.originated, attrs)
            )
            stats.entries += 1
        flush()
    stats.peers = len(writer.peers)
    with dst.open("wb") as out:
        writer.write(out, pad=pad)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="TABLE_DUMP v1 -> TABLE_DUMP_V2 (for gobgp mrt inject)"
    )
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument(
        "--pad", type=int, default=0, help="repeat the last N records (gobgp tail loss)"
    )
    ap.add_argument("--peer", help="keep only this peer's entries")
    args = ap.parse_args(argv)
    stats = convert(args.src, args.dst, pad=args.pad, only_peer=args.peer)
    print(
        f"{args.dst}: {stats.prefixes} prefixes ({stats.v6} IPv6), {stats.entries} entries, "
        f"{stats.peers} peers from {stats.records} records; skipped {stats.skipped or 'none'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
