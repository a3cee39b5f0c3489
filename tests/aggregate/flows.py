"""The flows the aggregation tests produce and the sums expected of them.

The expected sums are computed here by a plain group-by over the input records that does not
use ribflow's code: :func:`expected_sums` re-states pmacct's rules (missing value -> default,
packets/bytes times sampling_rate above 1, time bin = floor of the flow time).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

Sums = dict[tuple[tuple[Any, ...], str], list[int]]


def stamp(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def expected_sums(
    records: Iterable[dict[str, Any]],
    keys: list[tuple[str, Any]],
    bin_s: int,
    time_key: str = "timestamp_arrival",
) -> Sums:
    """Plain group-by: (values of ``keys`` with defaults, bin stamp) -> [flows, packets, bytes].

    ``keys`` lists (record key, default) in the order of pmacct's output; time values in the
    records are epoch seconds (numbers).
    """
    out: Sums = defaultdict(lambda: [0, 0, 0])
    for rec in records:
        rate = rec.get("sampling_rate") or 1
        scale = rate if rate > 1 else 1
        values = []
        for k, default in keys:
            v = rec.get(k)
            if k == "sampling_rate" and v is not None and v > 1:
                v = 1
            v = default if v is None else v
            values.append(tuple(v) if isinstance(v, list) else v)
        t = int(rec[time_key])
        slot = (tuple(values), stamp(t - t % bin_s))
        acc = out[slot]
        acc[0] += rec.get("flows", 1)
        acc[1] += rec["packets"] * scale
        acc[2] += rec["bytes"] * scale
    return dict(out)


def partial_records(
    per_partition: Iterable[list[dict[str, Any]]],
    keys: list[tuple[str, Any]],
    bin_s: int,
    time_key: str = "timestamp_arrival",
) -> int:
    """How many more records than (key, bin) slots the aggregator writes when each input
    partition sums its own records (no repartition): a slot whose records are in n input
    partitions comes out n times, as partial sums."""
    seen: dict[tuple[tuple[Any, ...], str], int] = defaultdict(int)
    for records in per_partition:
        for slot in expected_sums(records, keys, bin_s, time_key):
            seen[slot] += 1
    return sum(n - 1 for n in seen.values())


def output_sums(records: Iterable[dict[str, Any]], keys: list[str]) -> tuple[Sums, int]:
    """Sum purge records by (their primitive values, stamp_inserted); also count duplicates."""
    out: Sums = defaultdict(lambda: [0, 0, 0])
    seen: dict[tuple[tuple[Any, ...], str], int] = defaultdict(int)
    for rec in records:
        if rec.get("event_type") != "purge":
            continue
        values = tuple(tuple(v) if isinstance(v, list) else v for v in (rec[k] for k in keys))
        slot = (values, rec["stamp_inserted"])
        seen[slot] += 1
        acc = out[slot]
        acc[0] += rec["flows"]
        acc[1] += rec["packets"]
        acc[2] += rec["bytes"]
    return dict(out), sum(n - 1 for n in seen.values())


def totals(sums: Sums) -> list[int]:
    return [sum(v[i] for v in sums.values()) for i in range(3)]


_CLOSER_INT = ("as_src", "as_dst", "peer_as_src", "peer_as_dst", "local_pref", "med",
               "port_src", "port_dst", "iface_in", "iface_out", "tos", "mask_src", "mask_dst",
               "export_proto_version", "tag")  # fmt: skip
_CLOSER_STR = ("ip_src", "ip_dst", "net_src", "net_dst", "peer_ip_src", "peer_ip_dst",
               "as_path", "comms", "lcomms", "ecomms", "ip_proto", "as_path_src",
               "timestamp_start", "timestamp_end")  # fmt: skip


def closers(ts_s: float, n: int = 32) -> list[tuple[bytes, bytes, int]]:
    """Flows far later than the test's flows, each differing in every primitive so that under
    any aggregate list they spread over every partition: they move each partition's clock past
    the last window, which is then written. Their own window is never closed."""
    out = []
    for i in range(n):
        rec: dict[str, Any] = {k: 60000 + i for k in _CLOSER_INT}
        rec.update({k: f"closer{i}" for k in _CLOSER_STR})
        rec.update({"packets": 1, "bytes": 1, "timestamp_arrival": ts_s})
        out.append((f"closer-{i}".encode(), orjson.dumps(rec), int(ts_s * 1000)))
    return out


def window_records(
    base: int, w: int, rng: random.Random, per_window: int, window_s: int
) -> list[dict[str, Any]]:
    """``per_window`` random flows inside window ``w`` (of ``window_s`` seconds from ``base``),
    in time order."""
    recs = [
        {
            "ip_src": f"10.9.{rng.randrange(4)}.{rng.randrange(10)}",
            "ip_proto": rng.choice(["tcp", "udp"]),
            "packets": rng.randint(1, 50),
            "bytes": rng.randint(40, 60000),
            "timestamp_arrival": base + w * window_s + rng.random() * window_s,
        }
        for _ in range(per_window)
    ]
    return sorted(recs, key=lambda r: r["timestamp_arrival"])


def router_messages(recs: list[dict[str, Any]]) -> list[tuple[bytes, bytes, int]]:
    """One message per flow, all with one router key: the flows stay in time order through one
    input partition."""
    return [(b"router", orjson.dumps(r), int(r["timestamp_arrival"] * 1000)) for r in recs]


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's murmur2 partitioner (Java's default, librdkafka's ``murmur2``,
    which Quix's producer uses) gives ``key``: Kafka's Utils.murmur2, restated here."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ len(key)) & mask
    whole = len(key) & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        h = ((h * m) & mask) ^ ((k * m) & mask)
    rest = len(key) - whole
    if rest >= 3:
        h ^= key[whole + 2] << 16
    if rest >= 2:
        h ^= key[whole + 1] << 8
    if rest >= 1:
        h ^= key[whole]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions
