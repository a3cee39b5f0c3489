"""A small MRT reader (RFC 6396) for RIB dumps: TABLE_DUMP (v1) and TABLE_DUMP_V2 unicast.

Used to load real tables (RIPE RIS, RouteViews) into benchmarks and tests, turned into the
same ``attrs`` form the bridge writes to bgp-updates. Gzip input is detected by its magic.
Records that are truncated or of other types are skipped and counted, never fatal.
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

TABLE_DUMP = 12
TABLE_DUMP_V2 = 13
_TDV2_PEER_INDEX = 1
_TDV2_RIB = {2: 4, 4: 16, 8: 4, 10: 16}  # subtype -> address length (8/10: ADD-PATH variants)
_TDV2_ADDPATH = {8, 10}
_ORIGINS = {0: "igp", 1: "egp", 2: "incomplete"}
_SEGMENTS = {1: "as-set", 2: "as-sequence", 3: "confed-sequence", 4: "confed-set"}


@dataclass(slots=True)
class RibEntry:
    """One route of one peer."""

    peer: str
    peer_as: int
    prefix: str
    next_hop: str | None
    attrs: dict[str, Any]
    path_id: int = 0


@dataclass(slots=True)
class MrtStats:
    records: int = 0
    entries: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _ip(data: bytes) -> str:
    return str(ipaddress.ip_address(data))


def _as_path(data: bytes, asn_size: int) -> list[dict[str, Any]]:
    segs, pos = [], 0
    fmt = "!%dH" if asn_size == 2 else "!%dI"
    while pos + 2 <= len(data):
        kind, count = data[pos], data[pos + 1]
        pos += 2
        end = pos + count * asn_size
        if end > len(data):
            raise ValueError("truncated AS_PATH")
        asns = list(struct.unpack(fmt % count, data[pos:end]))
        pos = end
        segs.append({"type": _SEGMENTS.get(kind, "as-sequence"), "asns": asns})
    return segs


def _mp_reach_next_hop(data: bytes) -> str | None:
    """Next hop of an MP_REACH_NLRI, abbreviated (RFC 6396 §4.3.4) or full."""
    if not data:
        return None
    if len(data) >= 5 and data[0] in (16, 32, 4) and len(data) >= 1 + data[0]:
        nh_len = data[0]
        if len(data) == 1 + nh_len:  # abbreviated: length + next hop only
            return _ip(data[1 : 1 + min(nh_len, 16)])
    if len(data) >= 4:  # full: AFI(2) SAFI(1) nh_len(1) nh ...
        nh_len = data[3]
        nh = data[4 : 4 + nh_len]
        if nh_len in (4, 16, 32):
            return _ip(nh[: 16 if nh_len >= 16 else 4])
    return None


def parse_attributes(data: bytes, asn_size: int) -> tuple[dict[str, Any], str | None]:
    """BGP path attributes -> (bgp-updates ``attrs``, next hop)."""
    attrs: dict[str, Any] = {}
    next_hop: str | None = None
    as4_path: list[dict[str, Any]] | None = None
    pos = 0
    while pos + 3 <= len(data):
        flags, code = data[pos], data[pos + 1]
        if flags & 0x10:
            (length,) = struct.unpack_from("!H", data, pos + 2)
            pos += 4
        else:
            length = data[pos + 2]
            pos += 3
        value = data[pos : pos + length]
        if len(value) != length:
            raise ValueError("truncated attribute")
        pos += length
        if code == 1 and value:
            attrs["origin"] = _ORIGINS.get(value[0], "incomplete")
        elif code == 2:
            attrs["as_path"] = _as_path(value, asn_size)
        elif code == 3 and length == 4:
            next_hop = _ip(value)
        elif code == 4 and length == 4:
            attrs["med"] = struct.unpack("!I", value)[0]
        elif code == 5 and length == 4:
            attrs["local_pref"] = struct.unpack("!I", value)[0]
        elif code == 6:
            attrs["atomic_aggregate"] = True
        elif code == 8:
            vals = struct.unpack(f"!{length // 2}H", value[: length - length % 4])
            attrs["communities"] = [f"{vals[i]}:{vals[i + 1]}" for i in range(0, len(vals), 2)]
        elif code == 9 and length == 4:
            attrs["originator_id"] = _ip(value)
        elif code == 10:
            attrs["cluster_list"] = [_ip(value[i : i + 4]) for i in range(0, length - 3, 4)]
        elif code == 14:
            next_hop = _mp_reach_next_hop(value) or next_hop
        elif code == 17:
            as4_path = _as_path(value, 4)
        elif code == 32:
            vals = struct.unpack(f"!{length // 4}I", value[: length - length % 12])
            attrs["large_communities"] = [
                f"{vals[i]}:{vals[i + 1]}:{vals[i + 2]}" for i in range(0, len(vals), 3)
            ]
    if as4_path is not None and asn_size == 2:
        attrs["as_path"] = as4_path
    return attrs, next_hop


def _read_records(f: BinaryIO, stats: MrtStats) -> Iterator[tuple[int, int, bytes]]:
    while True:
        head = f.read(12)
        if len(head) < 12:
            if head:
                stats.skip("truncated_header")
            return
        _, kind, subtype, length = struct.unpack("!IHHI", head)
        body = f.read(length)
        if len(body) < length:
            stats.skip("truncated_record")
            return
        stats.records += 1
        yield kind, subtype, body


def _table_dump_v1(subtype: int, body: bytes) -> RibEntry:
    alen = 4 if subtype == 1 else 16
    pos = 4  # view, seq
    prefix = _ip(body[pos : pos + alen])
    plen = body[pos + alen]
    pos += alen + 2 + 4  # len, status, originated
    peer = _ip(body[pos : pos + alen])
    pos += alen
    peer_as, attr_len = struct.unpack_from("!HH", body, pos)
    pos += 4
    attrs, nh = parse_attributes(body[pos : pos + attr_len], 2)
    return RibEntry(peer, peer_as, f"{prefix}/{plen}", nh, attrs)


def _peer_index(body: bytes) -> list[tuple[str, int]]:
    pos = 4
    (name_len,) = struct.unpack_from("!H", body, pos)
    pos += 2 + name_len
    (count,) = struct.unpack_from("!H", body, pos)
    pos += 2
    peers = []
    for _ in range(count):
        ptype = body[pos]
        pos += 1 + 4  # type, bgp id
        alen = 16 if ptype & 1 else 4
        ip = _ip(body[pos : pos + alen])
        pos += alen
        asn_len = 4 if ptype & 2 else 2
        asn = int.from_bytes(body[pos : pos + asn_len], "big")
        pos += asn_len
        peers.append((ip, asn))
    return peers


def _table_dump_v2(subtype: int, body: bytes, peers: list[tuple[str, int]]) -> Iterator[RibEntry]:
    alen = _TDV2_RIB[subtype]
    addpath = subtype in _TDV2_ADDPATH
    plen = body[4]
    nbytes = (plen + 7) // 8
    raw = body[5 : 5 + nbytes] + bytes(alen - nbytes)
    prefix = f"{_ip(raw)}/{plen}"
    pos = 5 + nbytes
    (count,) = struct.unpack_from("!H", body, pos)
    pos += 2
    for _ in range(count):
        peer_idx, _orig = struct.unpack_from("!HI", body, pos)
        pos += 6
        path_id = 0
        if addpath:
            (path_id,) = struct.unpack_from("!I", body, pos)
            pos += 4
        (attr_len,) = struct.unpack_from("!H", body, pos)
        pos += 2
        attrs, nh = parse_attributes(body[pos : pos + attr_len], 4)
        pos += attr_len
        peer, peer_as = peers[peer_idx] if peer_idx < len(peers) else ("0.0.0.0", 0)
        yield RibEntry(peer, peer_as, prefix, nh, attrs, path_id)


def read_rib(path: str | Path, stats: MrtStats | None = None) -> Iterator[RibEntry]:
    """Every unicast RIB entry of an MRT dump (v1 or v2), in file order."""
    stats = stats if stats is not None else MrtStats()
    peers: list[tuple[str, int]] = []
    with _open(Path(path)) as f:
        for kind, subtype, body in _read_records(f, stats):
            try:
                if kind == TABLE_DUMP and subtype in (1, 2):
                    stats.entries += 1
                    yield _table_dump_v1(subtype, body)
                elif kind == TABLE_DUMP_V2 and subtype == _TDV2_PEER_INDEX:
                    peers = _peer_index(body)
                elif kind == TABLE_DUMP_V2 and subtype in _TDV2_RIB:
                    for entry in _table_dump_v2(subtype, body, peers):
                        stats.entries += 1
                        yield entry
                else:
                    stats.skip(f"type_{kind}_{subtype}")
            except (ValueError, IndexError, struct.error):
                stats.skip("malformed")
