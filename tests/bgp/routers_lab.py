"""The lab of tests/bgp/test_integration_routers.py: gobgpd and BIRD peering with one ExaBGP
speaker, the routes loaded into gobgpd, and readers of the events and of gobgp's adj-out.

gobgpd (route reflector, AS 65001, ADD-PATH send) and BIRD (second router) peer with one ExaBGP
speaker that also has 118 passive neighbours nobody connects to (120 in its configuration). The
routes are injected with gobgp's CLI and ``gobgp mrt inject`` (for what the CLI cannot set:
confederation segments, atomic-aggregate, an unknown attribute).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ribflow.mrt.attributes import attribute as attr
from ribflow.mrt.tables import RibEntry, write_table_dump_v2
from ribflow.schemas import validate
from tests.bgp.lab import BIRD, EXA, GOBGP, Daemon, children, gobgp, kcat_read


@dataclass
class Lab:
    broker: str
    topic: str
    workdir: Path
    gobgpd: Daemon
    bird: Daemon
    speaker: Daemon
    metrics_port: int

    def messages(self) -> list[dict[str, Any]]:
        msgs = kcat_read(self.broker, self.topic)
        for m in msgs:
            validate("bgp-updates.v1", m["value"])
            assert m["key"] == m["value"]["router"], "key = router (no shards here)"
            assert m["ts"] == m["value"]["time_ms"], "Kafka timestamp = event time"
        return msgs

    def events(self, router: str, epoch: int | None = None) -> list[dict[str, Any]]:
        evs = [m["value"] for m in self.messages() if m["key"] == router]
        if epoch is not None:
            evs = [e for e in evs if e["epoch"] == epoch]
        return evs

    def bridge_pid(self) -> int | None:
        for exabgp in children(self.speaker.pid):
            kids = children(exabgp)
            if kids:
                return kids[0]
        return None


def inject_mrt_routes(workdir: Path) -> None:
    """198.51.100.0/24 with what gobgp's CLI cannot express, then a pad route (gobgp 3.10
    loses the tail of an injection, see ribflow.mrt.tables)."""
    path = (
        struct.pack("!BBII", 3, 2, 65500, 65501)  # AS_CONFED_SEQUENCE
        + struct.pack("!BBII", 2, 2, 65010, 4200000002)  # AS_SEQUENCE
        + struct.pack("!BBI", 4, 1, 65502)  # AS_CONFED_SET
        + struct.pack("!BBII", 1, 2, 65100, 65101)  # AS_SET
    )
    attrs = (
        attr(0x40, 1, b"\x02")  # ORIGIN incomplete
        + attr(0x40, 2, path)
        + attr(0x40, 3, ipaddress.IPv4Address("192.0.2.7").packed)
        + attr(0x80, 4, struct.pack("!I", 4000000000))  # MED
        + attr(0x40, 6, b"")  # ATOMIC_AGGREGATE
        + attr(0xC0, 7, struct.pack("!I", 4200000003) + ipaddress.IPv4Address("192.0.2.99").packed)
        + attr(0xC0, 99, b"\xde\xad\xbe\xef")  # unknown optional transitive
    )
    pad = (
        attr(0x40, 1, b"\x00")
        + attr(0x40, 2, b"")
        + attr(0x40, 3, ipaddress.IPv4Address("192.0.2.250").packed)
    )
    entries = [
        RibEntry(ipaddress.IPv4Network("198.51.100.0/24"), attrs, GOBGP, 65001),
        RibEntry(ipaddress.IPv4Network("100.64.0.0/32"), pad, GOBGP, 65001),
    ]
    path_mrt = workdir / "routes.mrt"
    write_table_dump_v2(path_mrt, entries, tail_repeat=3000)
    gobgp("mrt", "inject", "global", str(path_mrt))


def load_gobgp() -> None:
    gobgp(
        "global", "rib", "-a", "ipv4", "add", "203.0.113.0/24", "identifier", "10",
        "origin", "igp", "aspath", "65010 4200000001 {65100,65101}", "nexthop", "192.0.2.1",
        "med", "50", "local-pref", "200", "community", "65001:100,no-export",
        "large-community", "65001:1:1,4200000001:2:3", "aggregator", "65020:192.0.2.9",
        "rt", "65001:7",
    )  # fmt: skip
    gobgp(
        "global", "rib", "-a", "ipv4", "add", "203.0.113.0/24", "identifier", "20",
        "origin", "egp", "aspath", "65011", "nexthop", "192.0.2.2", "local-pref", "90",
    )  # fmt: skip
    gobgp(
        "global", "rib", "-a", "ipv6", "add", "2001:db8:100::/48", "origin", "incomplete",
        "aspath", "65030,4200000009", "nexthop", "2001:db8::1", "med", "7",
        "community", "65001:600", "large-community", "65001:6:6", "rt", "65001:8",
    )  # fmt: skip


def neighbours_file(workdir: Path) -> Path:
    lines = ["neighbors:", f"  - address: {GOBGP}", f"  - address: {BIRD}"]
    for i in range(118):  # configured, passive, never connect: 120 neighbours in ExaBGP
        lines += [
            f"  - address: 10.255.{i // 100}.{i % 100 + 1}",
            "    passive: true",
            "    peer_as: 65099",
        ]
    path = workdir / "neighbors.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def eors(events: list[dict[str, Any]]) -> set[str]:
    return {e["family"] for e in events if e["type"] == "eor"}


def header_ok(e: dict[str, Any], router: str, router_id: str) -> None:
    got = (e["v"], e["router"], e["peer"], e["peer_as"], e["local"], e["local_as"], e["router_id"])
    assert got == (1, router, router, 65001, EXA, 65001, router_id)


def announced(
    events: list[dict[str, Any]],
) -> dict[tuple[str, int], tuple[str | None, str, dict[str, Any]]]:
    """(prefix, path id) -> (next hop, family, attrs) of every announce, last one wins."""
    out = {}
    for e in events:
        if e["type"] != "update":
            continue
        for group in e["announce"]:
            for n in group["nlri"]:
                out[(n["prefix"], n["path_id"])] = (group["next_hop"], group["family"], e["attrs"])
    return out


def adj_out_path_ids() -> dict[str, set[tuple[str, int]]]:
    """gobgp's own view of what it sent ExaBGP: next hop -> {(prefix, path id)} (text table)."""
    out: dict[str, set[tuple[str, int]]] = {}
    for family in ("ipv4", "ipv6"):
        text = gobgp("neighbor", EXA, "adj-out", "-a", family).stdout
        for line in text.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 3 and cols[0].isdigit():
                out.setdefault(cols[2], set()).add((cols[1], int(cols[0])))
    return out
