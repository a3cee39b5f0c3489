"""The one read-to-end helper and watermarks, on the real broker.

What the topic held is what this test wrote (the producer's delivery reports say each message's
partition and offset); the helper must return exactly those, and nothing written after it
started.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer

from ribflow.kafka.read import read_to_end, watermarks
from tests.fixtures.kafka import TopicFactory

pytestmark = pytest.mark.integration


def _consumer(broker: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": f"test-read-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )


def _produce(producer: Producer, topic: str, items: list[tuple[int, bytes]]) -> None:
    for partition, value in items:
        producer.produce(topic, value, key=value, partition=partition)
    assert producer.flush(30) == 0


def test_reads_what_each_partition_held_at_start(
    kafka_broker: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("read", partitions=3)  # partition 2 stays empty
    written = [(0, f"a{i}".encode()) for i in range(7)] + [(1, f"b{i}".encode()) for i in range(3)]
    _produce(Producer({"bootstrap.servers": kafka_broker}), topic, written)
    consumer = _consumer(kafka_broker)
    try:
        marks = watermarks(consumer, topic, timeout=10)
        assert marks == {0: (0, 7), 1: (0, 3), 2: (0, 0)}
        got = []
        late = Producer({"bootstrap.servers": kafka_broker})
        for msg in read_to_end(consumer, topic, timeout=30):
            if not got:  # written after the read started: not part of what it held
                _produce(late, topic, [(0, b"late0"), (1, b"late1")])
            got.append((msg.partition(), msg.value()))
    finally:
        consumer.close()
    assert sorted(got) == sorted(written)
    assert [v for p, v in got if p == 0] == [v for p, v in written if p == 0]  # offset order


def test_a_transaction_marker_at_the_end_ends_the_partition(
    kafka_broker: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("read-txn")
    p = Producer({"bootstrap.servers": kafka_broker, "transactional.id": f"t-{uuid.uuid4().hex}"})
    p.init_transactions(30)
    p.begin_transaction()
    _produce(p, topic, [(0, b"x0"), (0, b"x1")])
    p.commit_transaction(30)
    consumer = _consumer(kafka_broker)
    try:
        assert watermarks(consumer, topic, timeout=10) == {0: (0, 3)}  # 2 + the commit marker
        assert [m.value() for m in read_to_end(consumer, topic, timeout=30)] == [b"x0", b"x1"]
    finally:
        consumer.close()


def test_a_missing_topic_holds_nothing(kafka_broker: str) -> None:
    consumer = _consumer(kafka_broker)
    try:
        missing = f"no-such-{uuid.uuid4().hex[:8]}"
        assert watermarks(consumer, missing, timeout=10) == {}
        assert list(read_to_end(consumer, missing, timeout=10)) == []
    finally:
        consumer.close()
