"""A backlog is behind, not quiet: with real Kafka, the aggregator is stopped, a backlog of
several windows is sent, and the aggregator is started again with the idle flush on. Every
window's sums equal what was sent (a plain group-by of the input) and nothing is late.

The backlog is built so that a host gets no flow for seconds of wall time while other flows
are read: the flows of one host (LIGHT) frame tens of thousands of flows of other hosts (HEAVY)
inside window 0 (hosts chosen on two different partitions of a by-key repartition, as an
earlier design had it). A wall-clock rule ("no flow for IDLE_FLUSH seconds") would write
LIGHT's window 0 while its last flow is still queued in Kafka, and that flow would come late.
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
import pytest

from tests.aggregate.fixtures import AggregatorFactory, TopicReader, metric, produce
from tests.aggregate.flows import expected_sums, kafka_partition, output_sums, totals
from tests.fixtures.kafka import TopicFactory, free_port

pytestmark = pytest.mark.integration

METRICS_HOST = "127.0.3.14"
WINDOW_S = 5
HEAVY_FLOWS = 60_000  # enough to keep partition 1 without rows for a few wall seconds
KEYS = [("ip_src", "")]


def hosts_on(partition: int, n: int, prefix: str) -> list[str]:
    """``n`` hosts whose aggregation key (the JSON list of src_host) Kafka's partitioner puts
    on ``partition`` of a 2-partition topic (the repartition topic's, the window's partition)."""
    out = []
    for i in range(10_000):
        host = f"{prefix}.{i // 250}.{i % 250}"
        if kafka_partition(orjson.dumps([host]), 2) == partition:
            out.append(host)
            if len(out) == n:
                return out
    raise AssertionError("no hosts for the partition")


def rec(host: str, t: float, rng: random.Random) -> dict[str, Any]:
    return {"ip_src": host, "packets": rng.randint(1, 20), "bytes": rng.randint(40, 9000),
            "timestamp_arrival": round(t, 3)}  # fmt: skip


def test_backlog_after_a_stop_is_aggregated_whole_and_nothing_is_late(
    kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory
) -> None:
    rng = random.Random(14)
    base = int(time.time()) // 60 * 60 - 3600
    heavy = hosts_on(0, 40, "10.14")
    light = hosts_on(1, 1, "10.15")[0]
    source, sink = topic_factory("backlog-in", 2), topic_factory("backlog-out", 2)
    port = free_port(METRICS_HOST)
    run = aggregator(
        source, sink, AGGREGATE="src_host", REFRESH_TIME=str(WINDOW_S), GRACE="0",
        IDLE_FLUSH="1", PROCESSING_GUARANTEE="exactly-once",
        METRICS_PORT=str(port), METRICS_HOST=METRICS_HOST,
    )  # fmt: skip
    # 1. the aggregator runs on a window before the backlog, then is stopped
    before = [rec(rng.choice([*heavy, light]), base - WINDOW_S + i / 100, rng) for i in range(200)]
    produce(kafka_broker, source, messages(before))
    run.wait_consumed(kafka_broker, source)
    run.stop()

    # 2. the backlog, in flow-time order through one input partition: window 0 is LIGHT's
    #    flow, HEAVY_FLOWS of the heavy hosts, LIGHT's next flow (same window); windows 1-3
    #    mix them
    backlog = [rec(light, base + 4.9, rng)]
    step = 0.08 / HEAVY_FLOWS
    backlog += [rec(rng.choice(heavy), base + 4.905 + i * step, rng) for i in range(HEAVY_FLOWS)]
    backlog.append(rec(light, base + 4.99, rng))
    for w in range(1, 4):
        start = base + w * WINDOW_S
        recs = [rec(rng.choice([*heavy, light]), start + rng.random() * WINDOW_S, rng)
                for _ in range(600)]  # fmt: skip
        backlog += sorted(recs, key=lambda r: r["timestamp_arrival"])
    produce(kafka_broker, source, messages(backlog))

    # 3. started again: everything is read, the idle flush writes the last windows once the
    #    input is read to its end
    run.start(METRICS_PORT=str(free_port(METRICS_HOST)))
    everything = before + backlog
    want = expected_sums(everything, KEYS, WINDOW_S)
    reader = TopicReader(kafka_broker, sink)
    dlq = TopicReader(kafka_broker, f"{sink}-dlq")
    try:
        reader.read_until(
            lambda recs: set(output_sums(recs, ["ip_src"])[0]) >= set(want),
            timeout=240, what=f"every window\n{run.log_tail()}",
            diagnose=lambda recs: late_diagnosis(output_sums(recs, ["ip_src"])[0], want),
        )  # fmt: skip
        got = reader.drain(quiet=3)
        letters = dlq.drain(quiet=3)
        late_flows = metric(
            METRICS_HOST, int(run.env["METRICS_PORT"]), 'ribflow_aggregate_late_total{unit="flows"}'
        )
    finally:
        reader.close()
        dlq.close()
    sums, duplicates = output_sums(got, ["ip_src"])
    assert letters == [], f"{len(letters)} dead letters, first {letters[:1]}"
    assert late_flows == 0
    assert duplicates == 0
    assert late_diagnosis(sums, want) == ""
    assert sums == want
    assert totals(sums)[0] == len(everything)


def messages(recs: list[dict[str, Any]]) -> list[tuple[bytes, bytes, int]]:
    return [(b"router", orjson.dumps(r), int(r["timestamp_arrival"] * 1000)) for r in recs]


def late_diagnosis(sums: dict[Any, list[int]], want: dict[Any, list[int]]) -> str:
    """The windows whose sums differ from what was sent (short ones lost flows)."""
    bad = {slot: (sums.get(slot), v) for slot, v in want.items() if sums.get(slot) != v}
    return "" if not bad else f"windows differing (got, sent): {dict(list(bad.items())[:5])}"
