"""With real Kafka: known flows aggregated by several primitive lists give exactly the sums of
a plain group-by computed here."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from ribflow.aggregate.settings import SEED_AGGREGATE
from ribflow.schemas import validate
from tests.aggregate.fixtures import AggregatorFactory, TopicReader, produce, records_by_partition
from tests.aggregate.flows import closers, expected_sums, output_sums, partial_records, totals
from tests.fixtures.kafka import TopicFactory

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "aggregate"

# (record key, pmacct's default) per list, in pmacct's output order, written out by hand
SEED_KEYS = [("tag", 0), ("as_src", 0), ("as_dst", 0), ("as_path", ""), ("local_pref", 0),
             ("peer_as_src", 0), ("peer_as_dst", 0), ("peer_ip_src", ""), ("peer_ip_dst", ""),
             ("iface_in", 0), ("iface_out", 0), ("ip_src", ""), ("ip_dst", ""), ("port_src", 0),
             ("port_dst", 0), ("tcp_flags", "0"), ("ip_proto", "0"), ("tos", 0),
             ("timestamp_start", ""), ("timestamp_end", "")]  # fmt: skip
BGP_LIST = "src_as, dst_as, peer_dst_as, as_path, std_comm, lrg_comm"
BGP_KEYS = [("as_src", 0), ("as_dst", 0), ("comms", ""), ("lcomms", ""), ("as_path", ""),
            ("peer_as_dst", 0)]  # fmt: skip
NET_LIST = "proto, dst_port, src_net, dst_net, src_mask, dst_mask, sampling_rate"
NET_KEYS = [("net_src", ""), ("net_dst", ""), ("mask_src", 0), ("mask_dst", 0),
            ("port_dst", 0), ("ip_proto", "0"), ("sampling_rate", 0)]  # fmt: skip

CASES: list[tuple[str, str, list[tuple[str, Any]], str, int]] = [
    # name, AGGREGATE, keys, HISTORY, bin seconds
    ("seed", SEED_AGGREGATE, SEED_KEYS, "", 10),
    ("bgp", BGP_LIST, BGP_KEYS, "30s", 30),
    ("none", "none", [], "1m", 60),  # with MARKERS
    ("net", NET_LIST, NET_KEYS, "", 10),
]


def lab_records(base_s: int, copies: int, rng: random.Random) -> list[dict[str, Any]]:
    """flows-enriched-shaped records from nfacctd's lines: arrival over 40 s, varied counters
    and sampling."""
    lines = [json.loads(x) for x in (DATA / "pmacct-enriched-full.json").read_text().splitlines()]
    out = []
    for _ in range(copies):
        for line in lines:
            rec = {k: v for k, v in line.items() if k != "event_type"}
            rec["timestamp_arrival"] = base_s + rng.randrange(40)
            mult = rng.randint(1, 4)
            rec["packets"], rec["bytes"] = line["packets"] * mult, line["bytes"] * mult
            rate = rng.choice([None, 1, 1, 10, 100])
            if rate is not None:
                rec["sampling_rate"] = rate
            out.append(rec)
    return out


def hand_records(base_s: int) -> list[dict[str, Any]]:
    """Edge cases: arrays for communities, absent keys, flows > 1, window edges."""
    return [
        {"ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "ip_proto": "udp", "port_dst": 53,
         "packets": 1, "bytes": 70, "timestamp_arrival": base_s},
        {"ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "ip_proto": "udp", "port_dst": 53,
         "packets": 1, "bytes": 90, "timestamp_arrival": base_s + 9},
        {"ip_src": "10.0.0.1", "ip_dst": "10.0.0.2", "ip_proto": "udp", "port_dst": 53,
         "packets": 2, "bytes": 140, "timestamp_arrival": base_s + 10},
        {"comms": ["65001:1", "65001:2"], "as_path": ["65010", "65020"], "as_src": 65010,
         "packets": 5, "bytes": 500, "flows": 3, "timestamp_arrival": base_s + 21},
        {"comms": ["65001:1", "65001:2"], "as_path": ["65010", "65020"], "as_src": 65010,
         "packets": 5, "bytes": 500, "timestamp_arrival": base_s + 22, "sampling_rate": 2},
        {"ip_src": "2001:db8::1", "net_src": "2001:db8::", "mask_src": 32, "packets": 7,
         "bytes": 7000, "timestamp_arrival": base_s + 39},
        {"packets": 0, "bytes": 0, "timestamp_arrival": base_s + 30},
    ]  # fmt: skip


def test_sums_by_several_primitive_lists(
    kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory
) -> None:
    rng = random.Random(8)
    base = int(time.time()) // 60 * 60 - 3600
    records = lab_records(base, 25, rng) + hand_records(base)
    rng.shuffle(records)
    records.sort(key=lambda r: r["timestamp_arrival"])
    source = topic_factory("agg-in", partitions=2)

    routers = [b"r1", b"r2", b"r3", b"r4"]
    messages = []
    singles, batch = records[: len(records) // 2], records[len(records) // 2 :]
    for rec in singles:  # one record per message (the default of flows-enriched)
        messages.append((rng.choice(routers), orjson.dumps(rec), rec["timestamp_arrival"] * 1000))
    for i in range(0, len(batch), 7):  # batched NDJSON (the enricher's option)
        chunk = batch[i : i + 7]
        body = b"\n".join(orjson.dumps(r) for r in chunk)
        messages.append((rng.choice(routers), body, chunk[-1]["timestamp_arrival"] * 1000))
    messages.append((b"r1", b'{"ip_src": "1.2.3.4", "packets": 1}\nnot json at all', base * 1000))
    produce(kafka_broker, source, messages)

    runs = []
    for name, spec, _keys, history, _bin in CASES:
        sink = topic_factory(f"agg-out-{name}", partitions=2)
        # the grace covers the 40 s span of the flows (they are not in time order across the
        # routers of one input partition)
        env = {"AGGREGATE": spec, "REFRESH_TIME": "10", "HISTORY": history, "GRACE": "60",
               "MARKERS": "true" if name == "none" else "false"}  # fmt: skip
        runs.append((sink, aggregator(source, sink, **env)))
    for _sink, run in runs:
        run.wait_consumed(kafka_broker, source)
    # later flows close the last windows; sent once everything before them has been read
    produce(kafka_broker, source, closers(base + 4000))

    want_flows = sum(r.get("flows", 1) for r in records)
    # no repartition: each input partition writes its own (partial) sums of a key and bin
    by_partition = records_by_partition(kafka_broker, source)
    assert sum(len(v) for v in by_partition.values()) == len(records) + len(closers(0))
    for (name, _spec, keys, _history, bin_s), (sink, run) in zip(CASES, runs, strict=True):
        expected = expected_sums(records, keys, bin_s)
        names = [k for k, _ in keys]
        reader = TopicReader(kafka_broker, sink)

        def complete(recs: list[dict[str, Any]], names: list[str] = names) -> bool:
            return bool(totals(output_sums(recs, names)[0])[0] >= want_flows)

        try:
            got = reader.read_until(
                complete,
                timeout=120,
                what=f"aggregates of {name!r}\n{run.log_tail()}",
            )
            got = reader.drain(quiet=2)
        finally:
            reader.close()
        sums, duplicates = output_sums(got, names)
        assert sums == expected, name
        if not _history:  # refresh == bin: one record per key and bin and input partition
            assert duplicates == partial_records(by_partition.values(), keys, bin_s), name
        for rec in got:
            validate("flows-aggregated.v1", rec)
        assert next(iter(got[0])) == "event_type"
        kinds = [r["event_type"] for r in got]
        if name == "none":  # markers around each flush, counting its purge records
            assert kinds.count("purge_init") == kinds.count("purge_close") > 0
            closes = [r["purged_entries"] for r in got if r["event_type"] == "purge_close"]
            assert sum(closes) == kinds.count("purge")
        else:
            assert set(kinds) == {"purge"}

    # every aggregator dead-letters the two broken parts of the same message
    dlq = TopicReader(kafka_broker, f"{source}-dlq")
    try:
        want_letters = 2 * len(CASES)
        letters = dlq.read_until(lambda r: len(r) >= want_letters, 30, what="dead letters")
        letters = dlq.drain(quiet=1)
    finally:
        dlq.close()
    reasons = Counter(x["reason"] for x in letters)
    assert reasons == {"bad_json": len(CASES), "missing_counter": len(CASES)}
    assert {x["component"] for x in letters} == {"aggregator"}
    assert {x["raw"] for x in letters if x["reason"] == "bad_json"} == {"not json at all"}
