"""MRT table files (RFC 6396): read TABLE_DUMP and TABLE_DUMP_V2, write TABLE_DUMP_V2.

Reading gives :class:`RibEntry` objects with the path attributes in 4-byte-AS wire form, whatever
the file's format: TABLE_DUMP (v1) entries are widened (:func:`~ribflow.mrt.attributes.
widen_attributes`), TABLE_DUMP_V2 IPv4/IPv6 unicast RIBs are read as they are, including the
ADD-PATH subtypes (RFC 8050, with their path ids). Gzip input is recognised by its magic. A
truncated last record ends the file; a damaged record is skipped and counted in :class:`MrtStats`,
never fatal.

Writing makes what ``gobgp mrt inject`` loads: a PEER_INDEX_TABLE, then one RIB record per run of
entries of one prefix. Two quirks of gobgp 3.10 are handled: it reads IPv6 routes only with the
*full* MP_REACH_NLRI (widening makes it so), and ``mrt inject`` exits without flushing its last
queue of paths, so ``tail_repeat`` records are written again at the end: the last ones, cycled
when the table has fewer (idempotent re-announcements).

``python -m ribflow.mrt.tables IN[.gz] OUT.mrt [--pad N] [--peer IP]`` converts a file.
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import struct
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ribflow.mrt.attributes import MrtError, Network, event_attrs, nlri, widen_attributes

TABLE_DUMP, TABLE_DUMP_V2 = 12, 13
PEER_INDEX_TABLE, RIB_IPV4_UNICAST, RIB_IPV6_UNICAST = 1, 2, 4
# TABLE_DUMP_V2 RIB subtypes -> address length; 8 and 10 are the ADD-PATH variants (RFC 8050)
_RIB_SUBTYPES = {RIB_IPV4_UNICAST: 4, RIB_IPV6_UNICAST: 16, 8: 4, 10: 16}
_ADD_PATH = {8, 10}
_HEADER = struct.Struct("!IHHI")
DEFAULT_PEER = ("192.0.2.254", 65099)


@dataclass(frozen=True, slots=True)
class RibEntry:
    """One route of one peer: prefix, path attributes in 4-byte-AS wire form, and its source."""

    prefix: Network
    attrs: bytes
    peer_ip: str = DEFAULT_PEER[0]
    peer_as: int = DEFAULT_PEER[1]
    originated: int = 0
    path_id: int = 0


@dataclass(slots=True)
class MrtStats:
    """What a read saw: whole records, RIB entries, and records skipped by reason."""

    records: int = 0
    entries: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def open_table(path: Path) -> BinaryIO:
    """The file, gunzipped when it starts with gzip's magic."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")  # type: ignore[return-value]


def iter_records(fh: BinaryIO, stats: MrtStats) -> Iterator[tuple[int, int, bytes]]:
    """(type, subtype, body) of each whole MRT record; a truncated tail ends it (counted)."""
    while True:
        head = fh.read(_HEADER.size)
        if len(head) < _HEADER.size:
            if head:
                stats.skip("truncated_header")
            return
        _, kind, subtype, length = _HEADER.unpack(head)
        body = fh.read(length)
        if len(body) < length:
            stats.skip("truncated_record")
            return
        stats.records += 1
        yield kind, subtype, body


def _table_dump_v1(subtype: int, body: bytes) -> RibEntry:
    alen = 4 if subtype == 1 else 16
    if len(body) < 4 + alen + 2 + 4 + alen + 4:
        raise MrtError("truncated TABLE_DUMP entry")
    pos = 4  # view number, sequence number
    raw_prefix, plen = body[pos : pos + alen], body[pos + alen]
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
    net = ipaddress.IPv4Network if alen == 4 else ipaddress.IPv6Network
    prefix = net((raw_prefix, plen), strict=False)
    peer = str(ipaddress.ip_address(peer_raw))
    return RibEntry(prefix, widen_attributes(attrs, prefix), peer, peer_as, originated)


def _peer_index(body: bytes) -> list[tuple[str, int]]:
    (name_len,) = struct.unpack_from("!H", body, 4)
    pos = 6 + name_len
    (count,) = struct.unpack_from("!H", body, pos)
    pos += 2
    peers = []
    for _ in range(count):
        ptype = body[pos]
        pos += 5  # peer type, BGP id
        alen = 16 if ptype & 1 else 4
        ip = str(ipaddress.ip_address(body[pos : pos + alen]))
        pos += alen
        width = 4 if ptype & 2 else 2
        peers.append((ip, int.from_bytes(body[pos : pos + width], "big")))
        pos += width
    return peers


def _rib(subtype: int, body: bytes, peers: list[tuple[str, int]]) -> Iterator[RibEntry]:
    alen = _RIB_SUBTYPES[subtype]
    plen = body[4]
    nbytes = (plen + 7) // 8
    raw = body[5 : 5 + nbytes] + bytes(alen - nbytes)
    prefix: Network = (
        ipaddress.IPv4Network((raw, plen)) if alen == 4 else ipaddress.IPv6Network((raw, plen))
    )
    pos = 5 + nbytes
    (count,) = struct.unpack_from("!H", body, pos)
    pos += 2
    for _ in range(count):
        index, originated = struct.unpack_from("!HI", body, pos)
        pos += 6
        path_id = 0
        if subtype in _ADD_PATH:
            (path_id,) = struct.unpack_from("!I", body, pos)
            pos += 4
        (attr_len,) = struct.unpack_from("!H", body, pos)
        pos += 2
        attrs = body[pos : pos + attr_len]
        if len(attrs) < attr_len:
            raise MrtError("TABLE_DUMP_V2 attributes truncated")
        pos += attr_len
        peer_ip, peer_as = peers[index] if index < len(peers) else ("0.0.0.0", 0)
        yield RibEntry(prefix, attrs, peer_ip, peer_as, originated, path_id)


def read_entries(fh: BinaryIO, stats: MrtStats | None = None) -> Iterator[RibEntry]:
    """Every unicast RIB entry of an MRT stream (TABLE_DUMP or TABLE_DUMP_V2), in file order."""
    stats = stats if stats is not None else MrtStats()
    peers: list[tuple[str, int]] = []
    for kind, subtype, body in iter_records(fh, stats):
        try:
            if kind == TABLE_DUMP and subtype in (1, 2):
                entries = [_table_dump_v1(subtype, body)]
            elif kind == TABLE_DUMP_V2 and subtype == PEER_INDEX_TABLE:
                peers, entries = _peer_index(body), []
            elif kind == TABLE_DUMP_V2 and subtype in _RIB_SUBTYPES:
                entries = list(_rib(subtype, body, peers))
            else:
                stats.skip(f"type_{kind}_{subtype}")
                continue
        except (ValueError, IndexError, struct.error):
            stats.skip("malformed")
            continue
        stats.entries += len(entries)
        yield from entries


def read_file(path: str | Path, stats: MrtStats | None = None) -> Iterator[RibEntry]:
    """:func:`read_entries` of a file (gzip or plain)."""
    with open_table(Path(path)) as fh:
        yield from read_entries(fh, stats)


@dataclass(frozen=True, slots=True)
class Route:
    """A RIB entry decoded the way bgp-updates events carry it."""

    peer: str
    peer_as: int
    prefix: str
    next_hop: str | None
    attrs: dict[str, Any]
    path_id: int = 0


def read_rib(path: str | Path, stats: MrtStats | None = None) -> Iterator[Route]:
    """Every unicast RIB entry of a file, its attributes as a bgp-updates event's ``attrs``."""
    for e in read_file(path, stats):
        attrs, next_hop = event_attrs(e.attrs)
        yield Route(e.peer_ip, e.peer_as, str(e.prefix), next_hop, attrs, e.path_id)


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
def _record(ts: int, subtype: int, body: bytes) -> bytes:
    return _HEADER.pack(ts, TABLE_DUMP_V2, subtype, len(body)) + body


def _peer_table(collector_id: str, peers: list[tuple[str, int]]) -> bytes:
    body = bytearray(ipaddress.IPv4Address(collector_id).packed)
    body += struct.pack("!HH", 0, len(peers))
    for ip, asn in peers:
        addr = ipaddress.ip_address(ip)
        ptype = 0x02 | (0x01 if addr.version == 6 else 0)  # 4-byte AS; IPv6 address
        peer_id = addr.packed if addr.version == 4 else bytes(4)
        body += struct.pack("!B", ptype) + peer_id + addr.packed + struct.pack("!I", asn)
    return bytes(body)


def write_table_dump_v2(
    out: Path,
    entries: Iterable[RibEntry],
    *,
    collector_id: str = "10.0.0.254",
    timestamp: int = 0,
    tail_repeat: int = 0,
) -> int:
    """Write ``entries`` as a TABLE_DUMP_V2 file; returns the number of RIB records.

    Consecutive entries of one prefix share a record; peers are indexed in order of appearance.
    Then ``tail_repeat`` more: the last records again, cycled when there are fewer (see the
    module docstring)."""
    ts = timestamp or 1
    index: dict[tuple[str, int], int] = {}
    records: list[bytes] = []
    run: list[RibEntry] = []

    def flush() -> None:
        if not run:
            return
        net = run[0].prefix
        body = struct.pack("!I", len(records)) + nlri(net) + struct.pack("!H", len(run))
        for e in run:
            peer = index.setdefault((e.peer_ip, e.peer_as), len(index))
            body += struct.pack("!HIH", peer, e.originated or ts, len(e.attrs)) + e.attrs
        subtype = RIB_IPV6_UNICAST if net.version == 6 else RIB_IPV4_UNICAST
        records.append(_record(ts, subtype, body))
        run.clear()

    for e in entries:
        if run and e.prefix != run[0].prefix:
            flush()
        run.append(e)
    flush()
    peers = list(index) or [DEFAULT_PEER]
    tmp = out.with_name(out.name + ".partial")
    with tmp.open("wb") as fh:
        fh.write(_record(ts, PEER_INDEX_TABLE, _peer_table(collector_id, peers)))
        for rec in records:
            fh.write(rec)
        if records and tail_repeat > 0:
            tail = records[-tail_repeat:]
            for i in range(tail_repeat):
                fh.write(tail[i % len(tail)])
    tmp.replace(out)
    return len(records)


@dataclass
class TableStats:
    """What :func:`convert` read and wrote."""

    records: int = 0
    prefixes: int = 0
    entries: int = 0
    peers: int = 0
    v6: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def convert(src: Path, dst: Path, pad: int = 0, only_peer: str | None = None) -> TableStats:
    """An MRT table file (TABLE_DUMP v1 or v2, gzip or not) -> TABLE_DUMP_V2 for gobgp."""
    read = MrtStats()
    entries = [e for e in read_file(src, read) if only_peer is None or e.peer_ip == only_peer]
    prefixes = {e.prefix for e in entries}
    stats = TableStats(
        records=read.records,
        prefixes=write_table_dump_v2(dst, entries, tail_repeat=pad),
        entries=len(entries),
        peers=len({(e.peer_ip, e.peer_as) for e in entries}),
        v6=sum(1 for p in prefixes if p.version == 6),
        skipped=dict(read.skipped),
    )
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="MRT table -> TABLE_DUMP_V2 (for gobgp mrt inject)")
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--pad", type=int, default=0, help="repeat the last N records (gobgp)")
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
