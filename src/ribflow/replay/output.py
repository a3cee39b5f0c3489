"""Where a replay writes: its own topic, partition for partition, in a reproducible order.

Each flow is written to the output partition with the number of the input partition it came
from (the output topic has the same partition count), so every output partition receives one
input partition's flows in the replay's deterministic order: replaying a window twice gives
the same messages at the same offsets. The default topic (named after the window) belongs to
the replay and is recreated by each run; any other topic must be empty unless ``--append``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import NewTopic

from ribflow.kafka.client import KafkaTarget, producer_config
from ribflow.kafka.producer import produce_waiting
from ribflow.replay.errors import OutputTopicError, ReplayError
from ribflow.replay.kafkaio import Reader
from ribflow.topics import admin_client, replay_output_spec

log = logging.getLogger(__name__)


class PinnedOutput:
    """An enricher ``Output`` that writes flows to the partition it is pinned to (waiting while
    the producer's queue is full: a replay has no deadline)."""

    def __init__(self, broker: KafkaTarget, topic: str) -> None:
        self.topic = topic
        self.partition = 0
        self.failed = 0
        self.errors: list[str] = []
        self.written = 0
        self.written_other = 0  # dead letters
        self._producer = Producer(producer_config(broker, "replay"))

    def pin(self, partition: int) -> None:
        self.partition = partition

    def produce_many(
        self, topic: str, values: Sequence[bytes | None], key: bytes | None, timestamp: int | None
    ) -> None:
        self._write(topic, [(key, value) for value in values], timestamp)

    def produce_keyed(
        self, topic: str, records: list[tuple[bytes, bytes | None]], timestamp: int | None
    ) -> None:
        self._write(topic, records, timestamp)

    def _write(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes | None]], ts: int | None
    ) -> None:
        partition = self._count(topic, len(records))
        for key, value in records:
            produce_waiting(
                self._producer, topic, value, key, partition=partition,
                timestamp=ts or 0, on_delivery=self._report, wait_s=0.05,
            )  # fmt: skip
        self._producer.poll(0)

    def _count(self, topic: str, n: int) -> int:
        """Count ``n`` messages to ``topic``; the partition they go to (-1: the producer's
        choice, for dead letters)."""
        if topic == self.topic:
            self.written += n
            return self.partition
        self.written_other += n
        return -1

    def _report(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(str(err))

    def flush(self, timeout: float = 120.0) -> None:
        left = self._producer.flush(timeout)
        if left or self.failed:
            raise ReplayError(
                f"{left} messages not delivered, {self.failed} failed ({'; '.join(self.errors)})"
            )


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ReplayError(f"timed out waiting for {what}")
        time.sleep(0.2)


def prepare_topic(
    broker: KafkaTarget,
    topic: str,
    partitions: int,
    owned: bool,
    append: bool,
    replication: int = 1,
) -> str:
    """Make ``topic`` ready: ``"created"``, ``"recreated"``, ``"empty"`` or ``"appending"``.

    ``owned`` (the window-named default topic): deleted and created again when it exists.
    Otherwise an existing topic must be empty, or ``append`` given, and have the input's
    partition count (else the order guarantee could not hold).
    """
    admin = admin_client(broker)
    existing = admin.list_topics(timeout=15).topics
    if topic in existing:
        count = len(existing[topic].partitions)
        if owned:
            for fut in admin.delete_topics([topic], operation_timeout=30).values():
                fut.result()
            _wait(lambda: topic not in admin.list_topics(timeout=15).topics, 60, f"{topic} gone")
            _create(admin, topic, partitions, replication)
            return "recreated"
        if count != partitions:
            raise OutputTopicError(
                f"output topic {topic} has {count} partitions, the inputs {partitions}"
            )
        with Reader(broker) as reader:
            has_data = any(
                (lambda w: w[1] > w[0])(reader.watermarks(topic, p)) for p in range(count)
            )
        if has_data and not append:
            raise OutputTopicError(
                f"output topic {topic} already holds data: pass --append to add the replayed "
                "flows to it (or leave --output out to get a topic of the replay's own)"
            )
        return "appending" if has_data else "empty"
    _create(admin, topic, partitions, replication)
    return "created"


def _create(admin: Any, topic: str, partitions: int, replication: int) -> None:
    spec = replay_output_spec(topic, partitions, replication)
    new = NewTopic(
        spec.name,
        num_partitions=spec.partitions,
        replication_factor=spec.replication,
        config=dict(spec.config),
    )
    for _ in range(60):
        futures = admin.create_topics([new], operation_timeout=30)
        try:
            futures[topic].result()
            break
        except KafkaException as exc:
            if "MARKED_FOR_DELETION" in str(exc) or "being deleted" in str(exc):
                time.sleep(0.5)  # the old one is still going away
                continue
            if "TOPIC_ALREADY_EXISTS" in str(exc):
                break
            raise
    _wait(lambda: topic in admin.list_topics(timeout=15).topics, 60, f"{topic} created")
