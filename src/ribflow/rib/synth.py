"""Synthetic but realistic RIBs for benchmarks: bgp-updates messages and flows that hit them.

Shape of a real full table, scaled to any size: mostly /24s with aggregates and their
more-specifics (/8-/23), a few /25-/32, IPv6 mostly /32-/48, and many distinct attribute
sets (a set per few prefixes; real tables share a few hundred thousand sets across a million
prefixes) with AS paths of 1-8 hops, communities, large communities and MEDs. Prefixes sharing
a set are packed into one UPDATE like a router sends them. Everything is seeded.
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ribflow.rib.prefix import AFI_IP, AFI_IP6, format_address

# (prefix length, weight) of a full table's mix
_V4_LENGTHS: list[tuple[int, float]] = [
    (24, 55), (23, 9), (22, 10), (21, 5), (20, 5), (19, 5), (16, 4), (18, 2), (17, 1.5),
    (15, 0.5), (14, 0.5), (13, 0.3), (12, 0.2), (11, 0.1), (10, 0.1), (8, 0.05), (25, 0.3),
    (26, 0.2), (27, 0.1), (28, 0.1), (29, 0.1), (30, 0.1), (32, 0.1),
]  # fmt: skip
_V6_LENGTHS: list[tuple[int, float]] = [
    (48, 50), (32, 12), (44, 8), (40, 8), (36, 4), (46, 3), (47, 2), (29, 3), (33, 2),
    (34, 2), (56, 2), (64, 1), (28, 1), (24, 1), (20, 1),
]  # fmt: skip
_V6_RIRS = [0x200, 0x240, 0x260, 0x280, 0x2A0, 0x2C0]  # 2000::/12, 2400::/12, ... (top 12 bits)


@dataclass(frozen=True)
class SynthRoute:
    afi: int
    network: int
    length: int
    attr_set: int

    @property
    def prefix(self) -> str:
        return f"{format_address(self.afi, self.network)}/{self.length}"


def _length_picker(rnd: random.Random, table: Sequence[tuple[int, float]]) -> Callable[[], int]:
    lengths = [n for n, _ in table]
    cum = list(itertools.accumulate(w for _, w in table))
    total = cum[-1]
    return lambda: lengths[bisect.bisect(cum, rnd.random() * total)]


def _routes(n: int, afi: int, rnd: random.Random, n_sets: int) -> list[SynthRoute]:
    bits = 32 if afi == AFI_IP else 128
    seen: set[tuple[int, int]] = set()
    made: list[tuple[int, int]] = []
    pick = _length_picker(rnd, _V4_LENGTHS if afi == AFI_IP else _V6_LENGTHS)
    while len(made) < n:
        length = pick()
        if made and rnd.random() < 0.3:  # a more-specific of an existing, shorter prefix
            parent, plen = made[rnd.randrange(len(made))]
            if plen >= length:
                continue
            value = parent | rnd.getrandbits(bits - plen)
        elif afi == AFI_IP:
            value = rnd.randrange(1 << 24, 224 << 24)  # 1.0.0.0 .. 223.255.255.255
        else:  # inside an RIR-like /12, in one of 4096 allocations (/32) of it
            rir = rnd.choice(_V6_RIRS)
            value = (rir << 116) | (rnd.randrange(4096) << 96) | rnd.getrandbits(96)
        shift = bits - length
        network = (value >> shift) << shift
        if (network, length) in seen:
            continue
        seen.add((network, length))
        made.append((network, length))
    return [SynthRoute(afi, net, ln, rnd.randrange(n_sets)) for net, ln in made]


def _attr_sets(n_sets: int, rnd: random.Random, v6: bool) -> list[tuple[str, dict[str, Any]]]:
    transit = [174, 1299, 2914, 3257, 3356, 6453, 6461, 6762, 6939, 7018, 9002, 4200000001]
    out = []
    for i in range(n_sets):
        hops = rnd.choice([1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 8])
        path = [rnd.choice(transit) for _ in range(hops - 1)] + [rnd.randrange(1, 400_000)]
        attrs: dict[str, Any] = {
            "origin": rnd.choice(["igp", "igp", "igp", "incomplete", "egp"]),
            "as_path": [{"type": "as-sequence", "asns": path}],
            "local_pref": rnd.choice([100, 100, 100, 110, 200, 50]),
        }
        if rnd.random() < 0.5:
            attrs["med"] = rnd.randrange(0, 1000)
        n_comms = rnd.choice([0, 0, 1, 2, 3, 5])
        if n_comms:
            attrs["communities"] = [f"{rnd.choice(transit) % 65536}:{rnd.randrange(65536)}"
                                    for _ in range(n_comms)]  # fmt: skip
        if rnd.random() < 0.2:
            attrs["large_communities"] = [f"{path[0]}:{rnd.randrange(1000)}:{i % 100}"]
        hop = rnd.randrange(1, 32)
        next_hop = f"2001:db8::{hop:x}" if v6 else f"192.0.2.{hop}"
        out.append((next_hop, attrs))
    return out


class SynthTable:
    """A seeded table of ``n_routes`` paths (``v6_share`` of them IPv6) for one router."""

    def __init__(
        self,
        n_routes: int,
        *,
        v6_share: float = 0.1,
        routes_per_set: float = 4.0,
        seed: int = 42,
    ) -> None:
        rnd = random.Random(seed)
        n6 = int(n_routes * v6_share)
        n4 = n_routes - n6
        self.sets4 = _attr_sets(max(1, int(n4 / routes_per_set)), rnd, v6=False)
        self.sets6 = _attr_sets(max(1, int(n6 / routes_per_set)), rnd, v6=True)
        self.routes = _routes(n4, AFI_IP, rnd, len(self.sets4)) + _routes(
            n6, AFI_IP6, rnd, len(self.sets6)
        )
        self._rnd = rnd

    def updates(
        self, router: str, epoch: int = 1, time_ms: int | None = None, pack: int = 200
    ) -> Iterator[dict[str, Any]]:
        """bgp-updates v1 messages announcing the table (session up first, EORs last)."""
        seq = 0
        time_ms = int(time.time() * 1000) if time_ms is None else time_ms

        def head(kind: str) -> dict[str, Any]:
            nonlocal seq
            seq += 1
            return {"v": 1, "type": kind, "router": router, "peer": router, "peer_as": 65001,
                    "time_ms": time_ms, "epoch": epoch, "seq": seq}  # fmt: skip

        yield {**head("session"), "state": "up"}
        by_set: dict[tuple[int, int], list[SynthRoute]] = {}
        for r in self.routes:
            by_set.setdefault((r.afi, r.attr_set), []).append(r)
        for (afi, idx), routes in by_set.items():
            next_hop, attrs = (self.sets4 if afi == AFI_IP else self.sets6)[idx]
            family = "ipv4 unicast" if afi == AFI_IP else "ipv6 unicast"
            for i in range(0, len(routes), pack):
                nlri = [{"prefix": r.prefix, "path_id": 0} for r in routes[i : i + pack]]
                ann = [{"family": family, "next_hop": next_hop, "nlri": nlri}]
                yield {**head("update"), "attrs": attrs, "announce": ann, "withdraw": []}
        yield {**head("eor"), "family": "ipv4 unicast"}
        yield {**head("eor"), "family": "ipv6 unicast"}

    def addresses(self, n: int, seed: int = 7) -> list[str]:
        """``n`` addresses, each inside a random prefix of the table (so lookups hit)."""
        rnd = random.Random(seed)
        out = []
        for _ in range(n):
            r = self.routes[rnd.randrange(len(self.routes))]
            bits = 32 if r.afi == AFI_IP else 128
            host = rnd.getrandbits(bits - r.length) if r.length < bits else 0
            out.append(format_address(r.afi, r.network | host))
        return out

    def flow_records(
        self, n: int, exporter: str, time_ms: int | None = None, seed: int = 7
    ) -> list[dict[str, Any]]:
        """``n`` flows v1 records whose source and destination both fall in the table."""
        time_ms = int(time.time() * 1000) if time_ms is None else time_ms
        rnd = random.Random(seed)
        v4 = [r for r in self.routes if r.afi == AFI_IP]
        out = []
        for _ in range(n):
            pair = []
            for _ in range(2):
                r = v4[rnd.randrange(len(v4))]
                host = rnd.getrandbits(32 - r.length) if r.length < 32 else 0
                pair.append(format_address(AFI_IP, r.network | host))
            out.append(
                {
                    "exporter": exporter,
                    "version": 9,
                    "domain": 0,
                    "time_received_ms": time_ms,
                    "time_export_ms": time_ms,
                    "start_ms": time_ms - 1000,
                    "end_ms": time_ms,
                    "src_addr": pair[0],
                    "dst_addr": pair[1],
                    "src_port": rnd.randrange(1024, 65536),
                    "dst_port": rnd.choice([53, 80, 443]),
                    "proto": rnd.choice([6, 17]),
                    "tos": 0,
                    "tcp_flags": 27,
                    "in_if": 1,
                    "out_if": 2,
                    "packets": 1,
                    "bytes": rnd.randrange(40, 1500),
                    "sampling_rate": 1,
                }
            )
        return out


__all__ = ["AFI_IP6", "SynthRoute", "SynthTable"]
