"""A route that moves, and flows around the move: the data of the replay tests.

Every router announces ``10.20.0.0/16`` (stable, AS path S) and ``203.0.113.0/24`` with AS path
X; at its own time ``move_ms`` the /24 moves to AS path Y. Flows go from 10.20.x to
203.0.113.x at chosen times; each flow record has a unique source port, so the expected AS
path of every output record follows from the scenario alone: X when the flow is stamped at or
before the move (a change stamped T applies to flows stamped after T), Y after it.
Messages are built per schemas/bgp-updates.v1.json and schemas/flows.v1.json and validated.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from ribflow.schemas import validate
from tests.rib.builders import Stream, attrs, flow, flows_message

P = "203.0.113.0/24"
STABLE = "10.20.0.0/16"
PATH_X = (65010, 65020)
PATH_Y = (65030, 65040)
PATH_S = (65010,)


@dataclass(frozen=True)
class Msg:
    topic: str  # "bgp" | "flows"
    key: str
    value: bytes
    ts: int
    partition: int


@dataclass
class RouterPlan:
    router: str
    partition: int
    move_ms: int
    flow_times: list[int]  # one flows message per time, in the order they are written
    bgp: bool = True  # False: the router has no BGP history at all


@dataclass
class Scenario:
    base_ms: int
    routers: list[RouterPlan]
    messages: list[Msg] = field(default_factory=list)
    expected: dict[tuple[str, int], str] = field(default_factory=dict)  # (router, port) -> path

    def of(self, topic: str) -> list[Msg]:
        return [m for m in self.messages if m.topic == topic]


def _joined(path: tuple[int, ...]) -> str:
    return "_".join(map(str, path))


def build(base_ms: int, routers: list[RouterPlan]) -> Scenario:
    sc = Scenario(base_ms, routers)
    port = 20000
    for rp in routers:
        if rp.bgp:
            s = Stream(rp.router, epoch=base_ms, time_ms=base_ms)
            msgs = [
                s.session("up"),
                s.update([STABLE], attrs=attrs(*PATH_S)),
                s.update([P], attrs=attrs(*PATH_X, communities=["65010:1"])),
                s.eor(),
            ]
            s.time_ms = rp.move_ms - 1  # the builder adds 1 ms: the move is stamped move_ms
            msgs.append(s.update([P], attrs=attrs(*PATH_Y, communities=["65030:2"])))
            for m in msgs:
                validate("bgp-updates.v1", m)
                sc.messages.append(
                    Msg("bgp", rp.router, orjson.dumps(m), m["time_ms"], rp.partition)
                )
        for t in rp.flow_times:
            records = []
            for i in range(3):
                port += 1
                src, dst = f"10.20.{i}.1", f"203.0.113.{i + 10}"
                records.append(flow(src, dst, sport=port, exporter=rp.router, time_ms=t))
                if not rp.bgp:
                    sc.expected[(rp.router, port)] = ""
                else:
                    sc.expected[(rp.router, port)] = _joined(PATH_X if t <= rp.move_ms else PATH_Y)
            msg = flows_message(rp.router, rp.router, records)
            validate("flows.v1", msg)
            sc.messages.append(Msg("flows", rp.router, orjson.dumps(msg), t, rp.partition))
    return sc


def _landing_order(messages: list[Msg]) -> list[Msg]:
    """Messages in the order a live pipeline writes them: by time, except that a message listed
    after a later-stamped one of its router lands right after that one (out of order)."""
    newest: dict[str, int] = {}
    keyed = []
    for i, m in enumerate(messages):
        newest[m.key] = max(newest.get(m.key, m.ts), m.ts)
        keyed.append((newest[m.key], i, m))
    return [m for _, _, m in sorted(keyed, key=lambda k: (k[0], k[1]))]


def layout(sc: Scenario, kind: str, seed: int = 7) -> list[Msg]:
    """The write order on disk.

    ``flows_first``, ``bgp_first``, ``shuffled``: each topic in landing order (see
    :func:`_landing_order`), the two topics written one after the other or randomly
    interleaved. ``router_blocks``: BGP first, then each router's flows as one block, so a
    partition shared by two routers is far out of time order.
    """
    bgp, flows = _landing_order(sc.of("bgp")), _landing_order(sc.of("flows"))
    if kind == "flows_first":
        return flows + bgp
    if kind == "bgp_first":
        return bgp + flows
    if kind == "router_blocks":
        return bgp + sc.of("flows")
    rnd = random.Random(seed)
    out: list[Msg] = []
    queues = [list(bgp), list(flows)]
    while any(queues):
        q = rnd.choice([q for q in queues if q])
        out.append(q.pop(0))
    return out


def standard(base_ms: int) -> Scenario:
    """Four routers on three partitions (two share one), moves at different times, flows
    before/after each move (one router's flows written slightly out of time order)."""
    s = 1000
    r = [
        RouterPlan("127.0.0.3", 0, base_ms + 60 * s,
                   [base_ms + t * s for t in (10, 30, 59, 61, 90)]),
        RouterPlan("127.0.0.5", 1, base_ms + 40 * s,
                   [base_ms + t * s for t in (20, 39, 41, 70)]),
        RouterPlan("10.0.0.7", 2, base_ms + 75 * s,
                   [base_ms + t * s for t in (15, 74, 76, 100)]),
        # shares partition 0; its flows land slightly out of order around its move
        RouterPlan("127.0.0.9", 0, base_ms + 50 * s,
                   [base_ms + t for t in (25_000, 50_300, 49_800, 52_000, 80_000)]),
    ]  # fmt: skip
    return build(base_ms, r)


def records_by_port(values: list[bytes]) -> dict[tuple[str, int], dict[str, Any]]:
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for v in values:
        for line in v.split(b"\n"):
            if line:
                r = orjson.loads(line)
                out[(r["peer_ip_src"], r["port_src"])] = r
    return out


def out_of_order_ports(sc: Scenario) -> set[tuple[str, int]]:
    """(router, port) of the records in flows messages written after a later-stamped one."""
    newest: dict[str, int] = {}
    out: set[tuple[str, int]] = set()
    for m in sc.of("flows"):
        if m.ts < newest.get(m.key, -1):
            for r in orjson.loads(m.value)["records"]:
                out.add((m.key, r["src_port"]))
        newest[m.key] = max(newest.get(m.key, -1), m.ts)
    return out
