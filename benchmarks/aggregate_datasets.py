"""The aggregation benchmark's datasets (bench_aggregate.py): flows-enriched-shaped records, made
here and deterministic (the lab's enriched flows looped, and synthetic flows of realistic
cardinality), and what the aggregator should make of them.

The importing script puts the repository root and src/ on sys.path.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WINDOW_S = 10  # the seed's kafka_refresh_time
GRACE_S = 10
SYN_RATE = 5000  # flows per second of flow time (a mid-size network)
LAB_RATE = 1000


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def lab_dataset(n: int, base: int) -> list[dict[str, Any]]:
    path = REPO / "tests" / "data" / "aggregate" / "pmacct-enriched-full.json"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    out = []
    for i in range(n):
        rec = {k: v for k, v in lines[i % len(lines)].items() if k != "event_type"}
        arrival = base + i / LAB_RATE
        rec.update(timestamp_arrival=stamp(arrival), timestamp_start=stamp(arrival - 3),
                   timestamp_end=stamp(arrival - 1))  # fmt: skip
        out.append(rec)
    return out


def _zipf(n: int, s: float = 1.1) -> list[float]:
    acc, cum = 0.0, []
    for k in range(1, n + 1):
        acc += 1 / k**s
        cum.append(acc)
    return cum


def synthetic_dataset(n: int, base: int, seed: int = 8) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    srcs = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(200_000)]
    dsts = [f"203.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(50_000)]
    src_w, dst_w, as_w = _zipf(len(srcs)), _zipf(len(dsts)), _zipf(2000)
    paths = {}
    for origin in range(2000):
        transit = [
            rng.choice([174, 1299, 2914, 3356, 6939, 6453]) for _ in range(rng.randint(1, 3))
        ]
        paths[64512 + origin] = [*transit, 64512 + origin]
    origins = list(paths)
    exporters = [f"192.0.2.{i}" for i in range(1, 9)]
    hops = [f"198.51.100.{i}" for i in range(1, 17)]
    comms = ["", "65001:100", "65001:100_65001:200", "65001:300_no-export"]
    out = []
    src_pick = rng.choices(srcs, cum_weights=src_w, k=n)
    dst_pick = rng.choices(dsts, cum_weights=dst_w, k=n)
    as_pick = rng.choices(origins, cum_weights=as_w, k=n)
    for i in range(n):
        proto = rng.choices(["tcp", "udp", "icmp"], [80, 18, 2])[0]
        dport = rng.choices([443, 80, 53, rng.randrange(1024, 65536)], [50, 20, 10, 20])[0]
        path = paths[as_pick[i]]
        arrival = base + i / SYN_RATE
        packets = max(1, int(rng.lognormvariate(1.5, 1.2)))
        out.append({
            "as_src": 64500, "as_dst": as_pick[i], "comms": rng.choice(comms),
            "as_path": "_".join(map(str, path)), "local_pref": rng.choice([100, 200]),
            "peer_as_dst": path[0], "peer_ip_src": rng.choice(exporters),
            "peer_ip_dst": hops[as_pick[i] % len(hops)], "iface_in": rng.randrange(1, 9),
            "iface_out": rng.randrange(1, 9), "ip_src": src_pick[i], "ip_dst": dst_pick[i],
            "port_src": rng.randrange(32768, 61000) if proto != "icmp" else 0,
            "port_dst": dport if proto != "icmp" else 0,
            "tcp_flags": rng.choice(["2", "16", "18", "24", "27"]) if proto == "tcp" else "0",
            "ip_proto": proto, "tos": 0,
            "timestamp_start": stamp(arrival - rng.randrange(60)),
            "timestamp_end": stamp(arrival - rng.randrange(2)),
            "timestamp_arrival": stamp(arrival),
            "packets": packets, "bytes": packets * rng.randrange(40, 1500),
        })  # fmt: skip
    return out


def aggregates(records: list[dict[str, Any]], spec: str) -> tuple[int, int, int]:
    """(records in windows closed by the end, their (key, window) pairs, pairs still open)."""
    from ribflow.aggregate import RowBuilder, TimeBins, parse_aggregate

    bins = TimeBins.from_pmacct(WINDOW_S, None, GRACE_S)
    builder = RowBuilder(parse_aggregate(spec), bins)
    last = 0
    pairs: dict[tuple[str, int], int] = {}
    for rec in records:
        row = builder.row(rec, 0)
        last = max(last, row[1])
        slot = (row[0], bins.window_start(row[1]))
        pairs[slot] = pairs.get(slot, 0) + 1
    closed = [(k, n) for k, n in pairs.items() if k[1] + bins.window_ms + bins.grace_ms <= last]
    return sum(n for _, n in closed), len(closed), len(pairs) - len(closed)
