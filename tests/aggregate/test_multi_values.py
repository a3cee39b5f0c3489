"""MULTI_VALUES (pmacct's kafka_multi_values) with real Kafka: closed windows are written
several records per message, newline-separated, and sum exactly like one record per message."""

from __future__ import annotations

import random
import time

import pytest

from tests.aggregate.fixtures import AggregatorFactory, TopicReader, produce
from tests.aggregate.flows import (
    closers,
    expected_sums,
    output_sums,
    router_messages,
    window_records,
)
from tests.fixtures.kafka import TopicFactory

pytestmark = pytest.mark.integration

KEYS = [("ip_src", ""), ("ip_proto", "0")]


@pytest.mark.parametrize("markers", [False, True])
def test_several_records_per_message(
    markers: bool, kafka_broker: str, topic_factory: TopicFactory, aggregator: AggregatorFactory
) -> None:
    rng = random.Random(f"multi-{markers}")
    base = int(time.time()) // 60 * 60 - 3600
    records = [r for w in range(3) for r in window_records(base, w, rng, 400, 10)]
    source, sink = topic_factory("multi-in", 2), topic_factory("multi-out", 2)
    aggregator(source, sink, AGGREGATE="src_host, proto", REFRESH_TIME="10", GRACE="1",
               MULTI_VALUES="7", MARKERS=str(markers).lower())  # fmt: skip
    produce(kafka_broker, source, router_messages(records) + closers(base + 3600))
    want = expected_sums(records, KEYS, 10)
    keys = [k for k, _ in KEYS]
    reader = TopicReader(kafka_broker, sink)
    try:
        reader.read_until(lambda recs: set(output_sums(recs, keys)[0]) >= set(want),
                          timeout=120, what="every window")  # fmt: skip
        got = reader.drain(quiet=3)
    finally:
        reader.close()
    assert output_sums(got, keys) == (want, 0)
    assert max(reader.lines_per_message) == 7  # up to 40 hosts x 2 protocols per window
    purges = [k for k, r in zip(reader.keys, got, strict=True) if r["event_type"] == "purge"]
    assert set(purges) == {None}  # a message of several keys has no Kafka key
    events = [r["event_type"] for r in got]
    if markers:  # each flush bracketed; purge_close counts the records, not the messages
        closes = [r for r in got if r["event_type"] == "purge_close"]
        assert events.count("purge_init") == len(closes) > 0
        assert sum(c["purged_entries"] for c in closes) == len(want)
    else:
        assert set(events) == {"purge"}
