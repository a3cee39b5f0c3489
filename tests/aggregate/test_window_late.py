"""Late flows: inside the grace period they are aggregated, after it they are counted and
dead-lettered, never silently lost (which plain Quix partition windows do, see below)."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from quixstreams import Application

from tests.aggregate.fixtures import (
    AggregatorFactory,
    TopicReader,
    delete_topics_containing,
    metric,
    produce,
)
from tests.aggregate.flows import (
    closers,
    expected_sums,
    output_sums,
    partial_records,
    stamp,
    totals,
)
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration

METRICS_HOST = "127.0.0.61"


def flow(src: str, t: int) -> tuple[bytes, bytes, int]:
    rec = {"ip_src": src, "packets": 1, "bytes": 100, "timestamp_arrival": t}
    return (b"router", orjson.dumps(rec), t * 1000)


def recent_base() -> int:
    """A multiple of 10 s an hour ago: Kafka timestamps inside the topics' retention (7 days);
    older ones can be deleted by the broker's retention check while the test runs."""
    return int(time.time()) // 60 * 60 - 3600


def test_late_flows_counted_and_dead_lettered(
    kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory
) -> None:
    base = recent_base()
    source, sink = topic_factory("late-in"), topic_factory("late-out")
    port = free_port(METRICS_HOST)
    run = aggregator(
        source, sink, AGGREGATE="src_host", REFRESH_TIME="10", GRACE="5",
        METRICS_PORT=str(port), METRICS_HOST=METRICS_HOST,
    )  # fmt: skip
    produce(kafka_broker, source, [
        flow("a", base + 1), flow("a", base + 5), flow("b", base + 9),  # window 0
        flow("c", base + 17),  # window 1
        flow("d", base + 22),  # window 2: time 22 s closes window 0 (ends 10 s, grace 5 s)
        flow("a", base + 3),  # window 0 again: late -> counted, dead-lettered
        flow("e", base + 14),  # window 1 is still open (closes at 25 s): aggregated
    ])  # fmt: skip
    run.wait_consumed(kafka_broker, source)
    produce(kafka_broker, source, closers(base + 100))

    reader = TopicReader(kafka_broker, sink)
    try:
        got = reader.read_until(lambda r: len(r) >= 5, timeout=60, what="windows")
        got = reader.drain(quiet=2)
    finally:
        reader.close()
    sums, duplicates = output_sums(got, ["ip_src"])
    assert sums == {
        (("a",), stamp(base)): [2, 2, 200],
        (("b",), stamp(base)): [1, 1, 100],
        (("c",), stamp(base + 10)): [1, 1, 100],
        (("e",), stamp(base + 10)): [1, 1, 100],
        (("d",), stamp(base + 20)): [1, 1, 100],
    }
    assert duplicates == 0
    assert metric(METRICS_HOST, port, 'ribflow_aggregate_late_total{unit="flows"}') == 1
    assert metric(METRICS_HOST, port, 'ribflow_aggregate_late_total{unit="bytes"}') == 100

    dlq = TopicReader(kafka_broker, f"{sink}-dlq")
    try:
        letters = dlq.read_until(lambda r: len(r) >= 1, timeout=30, what="late dead letter")
    finally:
        dlq.close()
    assert letters[0]["reason"] == "late" and letters[0]["component"] == "aggregator"
    late_row = orjson.loads(letters[0]["raw"])
    assert late_row["ts_ms"] == (base + 3) * 1000 and late_row["flows"] == 1


def test_backlog_of_uneven_input_partitions_is_not_late(
    kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory
) -> None:
    """A backlog where one input partition holds 20x the flows of the other over the same
    minute: read at the same byte rate, the sparse partition's flow time runs far ahead. The
    watermark (slowest input partition) keeps every flow in its window: exact sums, 0 late."""
    base = recent_base()
    rng = random.Random(3)
    source, sink = topic_factory("uneven-in", 2), topic_factory("uneven-out", 2)
    records: list[tuple[int, dict[str, Any]]] = []
    for partition, count in ((0, 6000), (1, 300)):
        for i in range(count):
            rec: dict[str, Any] = {
                "ip_src": f"10.0.0.{rng.randrange(20)}",
                "packets": 1,
                "bytes": rng.randrange(40, 1500),
                "timestamp_arrival": base + 60 * i / count,
            }
            records.append((partition, rec))
    producer = Producer({"bootstrap.servers": kafka_broker, "linger.ms": 5})
    for partition, flow in records:
        ts = int(flow["timestamp_arrival"] * 1000)
        producer.produce(source, orjson.dumps(flow), partition=partition, timestamp=ts)
    assert producer.flush(30) == 0
    port = free_port(METRICS_HOST)
    run = aggregator(source, sink, AGGREGATE="src_host", REFRESH_TIME="10", GRACE="2",
                     METRICS_PORT=str(port), METRICS_HOST=METRICS_HOST)  # fmt: skip
    run.wait_consumed(kafka_broker, source)
    late = metric(METRICS_HOST, port, 'ribflow_aggregate_late_total{unit="flows"}')
    produce(kafka_broker, source, closers(base + 1000))
    want = expected_sums([r for _, r in records], [("ip_src", "")], 10)
    reader = TopicReader(kafka_broker, sink)
    try:

        def missing(recs: list[dict[str, Any]]) -> str:
            absent = sorted(set(want) - set(output_sums(recs, ["ip_src"])[0]))
            return f"missing {len(absent)}: {absent[:5]}\n{run.log_tail()}"

        got = reader.read_until(
            lambda r: totals(output_sums(r, ["ip_src"])[0])[0] >= len(records) - late,
            timeout=90, what="windows", diagnose=missing,
        )  # fmt: skip
        got = reader.drain(quiet=2)
    finally:
        reader.close()
    assert late == 0
    # each input partition writes its own sums of a key and window: partial records
    per_partition = [[r for p, r in records if p == part] for part in (0, 1)]
    partial = partial_records(per_partition, [("ip_src", "")], 10)
    assert partial > 0
    assert output_sums(got, ["ip_src"]) == (want, partial)


def test_plain_quix_partition_window_loses_a_flow_for_a_flushed_window(
    kafka_broker: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    """Why the aggregator keeps its own windows and late gate: with a grace period, Quix
    3.28's partition closing accepts a flow for a window it already flushed and never writes
    it (nor calls on_late). If this test fails, Quix has fixed it."""
    topic = topic_factory("quix-late")
    t0 = recent_base() * 1000  # times below are ms after t0 (a window boundary)
    produce(kafka_broker, topic, [
        (b"k", orjson.dumps({"t": t}), t0 + t) for t in (1_000, 23_000, 8_000, 12_000, 50_000)
    ])  # fmt: skip
    group = f"quix-late-{uuid.uuid4().hex[:8]}"
    app = Application(
        broker_address=kafka_broker,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=str(tmp_path / "state"),
        loglevel="WARNING",
    )
    late: list[int] = []
    out: list[dict[str, Any]] = []

    def on_late(
        value: Any, key: Any, timestamp_ms: int, late_by_ms: int, start: int, end: int,
        store_name: str, topic: str, partition: int, offset: int,
    ) -> bool:  # fmt: skip
        late.append(timestamp_ms - t0)
        return False

    sdf = app.dataframe(app.topic(topic))
    sdf = (
        sdf.tumbling_window(10_000, grace_ms=5_000, on_late=on_late)
        .reduce(lambda acc, v: [*acc, v["t"]], lambda v: [v["t"]])
        .final(closing_strategy="partition")
    )
    sdf.update(out.append)
    try:
        app.run(timeout=8)
    finally:
        delete_topics_containing(kafka_broker, [group])
    flushed = [t for w in out for t in w["value"]]
    assert 8_000 not in flushed and 8_000 not in late  # lost without a trace
    assert sorted(flushed) == [1_000, 12_000, 23_000]
