"""The one read-to-end helper and watermarks, on the real broker.

What the topic held is what this test wrote (the producer's delivery reports say each message's
partition and offset); the helper must return exactly those, and nothing written after it
started.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from ribflow.kafka.read import ReadError, read_to_end, watermarks
from tests.fixtures.kafka import TopicFactory


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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
def test_a_missing_topic_holds_nothing(kafka_broker: str) -> None:
    consumer = _consumer(kafka_broker)
    try:
        missing = f"no-such-{uuid.uuid4().hex[:8]}"
        assert watermarks(consumer, missing, timeout=10) == {}
        assert list(read_to_end(consumer, missing, timeout=10)) == []
    finally:
        consumer.close()


class _Meta:
    def __init__(self, partitions: list[int]) -> None:
        self.error = None
        self.partitions = dict.fromkeys(partitions)


class _Topics:
    def __init__(self, topic: str, partitions: list[int]) -> None:
        self.topics = {topic: _Meta(partitions)}


class _Msg:
    def __init__(self, partition: int, offset: int, error: KafkaError | None = None) -> None:
        self._p, self._o, self._e = partition, offset, error

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def error(self) -> KafkaError | None:
        return self._e


class _Stalled:
    """A consumer whose partition 0 holds 2 messages but delivers only the first, then an
    error when ``fail`` (what a broker that stops answering, or refuses, looks like)."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.sent = False

    def list_topics(self, topic: str, timeout: float) -> _Topics:
        return _Topics(topic, [0])

    def get_watermark_offsets(self, tp: object, timeout: float) -> tuple[int, int]:
        return 0, 2

    def assign(self, parts: object) -> None:
        pass

    def unassign(self) -> None:
        pass

    def consume(self, n: int, timeout: float) -> list[_Msg]:
        if self.sent:
            if self.fail:
                return [_Msg(0, 0, KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))]
            time.sleep(timeout)
            return []
        self.sent = True
        return [_Msg(0, 0)]


@pytest.mark.parametrize(("fail", "says"), [(False, "to its end in"), (True, "reading t:")])
def test_not_reaching_the_end_is_an_error(fail: bool, says: str) -> None:
    got = []
    with pytest.raises(ReadError, match=says):
        for msg in read_to_end(_Stalled(fail), "t", timeout=1.0):  # type: ignore[arg-type]
            got.append(msg.offset())
    assert got == [0]


@pytest.mark.integration
@pytest.mark.parametrize("commit", [True, False])
def test_given_ends_wait_for_a_transaction_open_at_start(
    kafka_broker: str, topic_factory: TopicFactory, commit: bool
) -> None:
    """The aggregator's state restore: ends from a read_uncommitted consumer's watermarks make
    a read_committed read go on until the transaction open at start is committed or aborted."""
    topic = topic_factory("read-open-txn")
    _produce(Producer({"bootstrap.servers": kafka_broker}), topic, [(0, b"x0"), (0, b"x1")])
    p = Producer({"bootstrap.servers": kafka_broker, "transactional.id": f"t-{uuid.uuid4().hex}"})
    p.init_transactions(30)
    p.begin_transaction()
    _produce(p, topic, [(0, b"open")])
    probe = Consumer({"bootstrap.servers": kafka_broker, "group.id": "unused",
                      "isolation.level": "read_uncommitted"})  # fmt: skip
    try:
        _low, high = probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        probe.close()
    assert high == 3
    consumer = _consumer(kafka_broker)  # read_committed, librdkafka's default
    got: list[bytes | None] = []
    started = time.monotonic()
    try:
        for msg in read_to_end(consumer, topic, timeout=60, ends={0: high}):
            got.append(msg.value())
            if len(got) == 2:  # the committed part is read; the open transaction ends later
                time.sleep(2)
                if commit:
                    p.commit_transaction(30)
                else:
                    p.abort_transaction(30)
    finally:
        consumer.close()
    assert got == ([b"x0", b"x1", b"open"] if commit else [b"x0", b"x1"])
    assert time.monotonic() - started >= 2
