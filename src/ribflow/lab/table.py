"""The lab router's table: the 2002 RIS dump (converted) or a generated table of any size.

Either way the result is a TABLE_DUMP_V2 file (a regular file: `gobgp mrt inject` cannot read a
pipe) plus the list of prefixes, from which the traffic generator picks its addresses.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import struct
from dataclasses import dataclass
from pathlib import Path

from ribflow.lab.errors import LabConfigError
from ribflow.mrt.attributes import (
    AS_PATH,
    AS_SEQUENCE,
    COMMUNITIES,
    FLAG_OPTIONAL,
    FLAG_TRANSITIVE,
    LARGE_COMMUNITY,
    LOCAL_PREF,
    MED,
    MP_REACH_NLRI,
    NEXT_HOP,
    ORIGIN,
    Network,
    attribute,
    encode_as_path,
)
from ribflow.mrt.tables import RibEntry, one_per_prefix, read_file, write_table_dump_v2

log = logging.getLogger(__name__)

RIS_DUMP_NAME = "bview.20020722.2337.gz"
# gobgp 3.10's `mrt inject` loses its last queue of paths: the last records are written twice
TAIL_REPEAT = 4000
# neighbour ASes of the generated table and the next hop each one uses (documentation ranges)
NEIGHBOURS: tuple[tuple[int, str, str], ...] = (
    (65010, "192.0.2.1", "2001:db8::1"),
    (65020, "192.0.2.2", "2001:db8::2"),
    (65030, "192.0.2.3", "2001:db8::3"),
    (3356, "192.0.2.4", "2001:db8::4"),
    (174, "192.0.2.5", "2001:db8::5"),
    (1299, "192.0.2.6", "2001:db8::6"),
)
TRANSIT = (3356, 174, 1299, 2914, 6939, 6453, 3257, 6762, 1273, 7018, 4200000001)
# IPv4 space never used for generated prefixes (private, shared, loopback, link-local, docs, mcast)
RESERVED_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    )
]


@dataclass(frozen=True)
class Table:
    """A table ready for `gobgp mrt inject`: the MRT file and the prefixes it announces."""

    path: Path
    prefixes: list[Network]
    source: str

    @property
    def count_v4(self) -> int:
        return sum(1 for p in self.prefixes if p.version == 4)

    @property
    def count_v6(self) -> int:
        return sum(1 for p in self.prefixes if p.version == 6)


def default_ris_dump() -> Path | None:
    """The RIS dump shipped with the repository's test data, if this is a checkout."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "tests" / "data" / "rib" / RIS_DUMP_NAME
        if candidate.is_file():
            return candidate
    return None


def ris_table(dump: Path, out: Path, collector_id: str) -> Table:
    """Convert a TABLE_DUMP (v1) file, gzip or plain, to TABLE_DUMP_V2, one route per prefix."""
    entries = one_per_prefix(read_file(dump))
    write_table_dump_v2(out, entries, collector_id=collector_id, tail_repeat=TAIL_REPEAT)
    return Table(out, [e.prefix for e in entries], f"RIS {dump.name}")


def _v4_blocks(count: int, rnd: random.Random) -> list[ipaddress.IPv4Network]:
    """``count`` non-overlapping IPv4 prefixes (/16 to /24, mostly /24) from 11.0.0.0 upwards."""
    lengths, weights = (16, 19, 20, 22, 23, 24), (1, 3, 6, 15, 15, 60)
    out: list[ipaddress.IPv4Network] = []
    cursor = int(ipaddress.IPv4Address("11.0.0.0"))
    limit = int(ipaddress.IPv4Address("223.255.255.255"))
    while len(out) < count:
        plen = rnd.choices(lengths, weights)[0]
        size = 1 << (32 - plen)
        cursor = (cursor + size - 1) // size * size
        if cursor + size - 1 > limit:
            raise LabConfigError(f"cannot generate {count} distinct IPv4 prefixes")
        net = ipaddress.IPv4Network((cursor, plen))
        clash = next((r for r in RESERVED_V4 if net.overlaps(r)), None)
        if clash is not None:
            cursor = int(clash.broadcast_address) + 1
            continue
        out.append(net)
        cursor += size
    return out


def _attrs(rnd: random.Random, origin_as: int, v6_nlri: bytes | None, router_as: int) -> bytes:
    neighbour, nh4, nh6 = rnd.choice(NEIGHBOURS)
    middle = [rnd.choice(TRANSIT) for _ in range(rnd.randint(0, 4))]
    path = [neighbour, *middle, origin_as]
    a = attribute(FLAG_TRANSITIVE, ORIGIN, bytes([rnd.choice((0, 0, 0, 1, 2))]))
    a += attribute(FLAG_TRANSITIVE, AS_PATH, encode_as_path([(AS_SEQUENCE, path)]))
    if v6_nlri is None:
        a += attribute(FLAG_TRANSITIVE, NEXT_HOP, ipaddress.IPv4Address(nh4).packed)
    a += attribute(FLAG_OPTIONAL, MED, struct.pack("!I", rnd.randrange(0, 200)))
    a += attribute(FLAG_TRANSITIVE, LOCAL_PREF, struct.pack("!I", rnd.choice((100, 120, 150))))
    comms = struct.pack("!HH", router_as & 0xFFFF, neighbour & 0xFFFF)
    comms += struct.pack("!HH", router_as & 0xFFFF, 1000 + rnd.randrange(8))
    a += attribute(FLAG_OPTIONAL | FLAG_TRANSITIVE, COMMUNITIES, comms)
    large = struct.pack("!III", router_as, neighbour, origin_as % 1000)
    a += attribute(FLAG_OPTIONAL | FLAG_TRANSITIVE, LARGE_COMMUNITY, large)
    if v6_nlri is not None:  # gobgp wants the full MP_REACH_NLRI (AFI 2, SAFI 1, nh, NLRI)
        nh = ipaddress.IPv6Address(nh6).packed
        mp = struct.pack("!HBB", 2, 1, 16) + nh + b"\x00" + v6_nlri
        a += attribute(FLAG_OPTIONAL, MP_REACH_NLRI, mp)
    return a


def generated_entries(n4: int, n6: int, seed: int, router_as: int) -> list[RibEntry]:
    """A synthetic table: varied prefix lengths, AS paths, next hops and communities.

    Origin ASes follow a skewed distribution (a few origins own many prefixes), as in the
    real Internet, so the lab's dashboards have something to rank.
    """
    rnd = random.Random(seed)
    origins = [64512 + i for i in range(1000)] + [4200000100 + i for i in range(200)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(origins))]
    entries: list[RibEntry] = []
    for net in _v4_blocks(n4, rnd):
        origin = rnd.choices(origins, weights)[0]
        entries.append(RibEntry(net, _attrs(rnd, origin, None, router_as)))
    base6 = int(ipaddress.IPv6Address("2a00::"))
    for n in range(n6):
        net6 = ipaddress.IPv6Network((base6 + (n << 80), 48))
        nlri = bytes([48]) + net6.network_address.packed[:6]
        origin = rnd.choices(origins, weights)[0]
        entries.append(RibEntry(net6, _attrs(rnd, origin, nlri, router_as)))
    return entries


def generated_table(out: Path, n4: int, n6: int, seed: int, router_as: int, rid: str) -> Table:
    entries = generated_entries(n4, n6, seed, router_as)
    write_table_dump_v2(out, entries, collector_id=rid, tail_repeat=TAIL_REPEAT)
    return Table(out, [e.prefix for e in entries], f"generated {n4} v4 + {n6} v6")


def build_table(
    kind: str,
    out: Path,
    *,
    ris_dump: Path | None,
    n4: int,
    n6: int,
    seed: int,
    router_as: int,
    router_id: str,
) -> Table:
    """The table the lab loads; the RIS kind falls back to a generated one when the dump is
    absent (a pip install has no test data), saying so in the log."""
    if kind == "ris":
        dump = ris_dump or default_ris_dump()
        if dump is not None and dump.is_file():
            return ris_table(dump, out, router_id)
        if ris_dump is not None:
            raise LabConfigError(f"RIS dump {ris_dump} not found")
        log.warning("RIS dump %s not found: using a generated table instead", RIS_DUMP_NAME)
    return generated_table(out, n4, n6, seed, router_as, router_id)
