"""Looking at the lab's Kafka: topic sizes, consumer lag, and tailing a topic's records."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError
from confluent_kafka.admin import AdminClient

from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.kafka.read import watermarks

_quiet = logging.getLogger("ribflow.lab.kafka")


@dataclass(frozen=True)
class TopicSize:
    name: str
    partitions: int
    messages: int  # sum over partitions of (high watermark - low watermark)
    end_offsets: dict[int, int]


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    lag: int  # messages not yet consumed (committed offsets vs end offsets)
    topics: tuple[str, ...]


def _consumer(broker: KafkaTarget, group: str | None = None, **extra: Any) -> Consumer:
    conf: dict[str, Any] = client_config(
        broker,
        {
            "group.id": group or f"ribflow-lab-probe-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "socket.connection.setup.timeout.ms": 5000,
            **extra,
        },
    )
    return Consumer(conf, logger=_quiet)


def topic_sizes(
    broker: KafkaTarget, names: Iterable[str], timeout: float = 10.0
) -> dict[str, TopicSize]:
    """Size of each named topic that exists (missing topics are left out)."""
    consumer = _consumer(broker)
    try:
        out = {}
        for name in names:
            marks = watermarks(consumer, name, timeout)
            if marks:
                total = sum(max(0, high - low) for low, high in marks.values())
                ends = {p: high for p, (_, high) in marks.items()}
                out[name] = TopicSize(name, len(marks), total, ends)
        return out
    finally:
        consumer.close()


def group_lags(broker: KafkaTarget, prefix: str, timeout: float = 10.0) -> list[GroupLag]:
    """Lag of every consumer group whose id starts with ``prefix``."""
    admin = AdminClient(client_config(broker), logger=_quiet)
    listing = admin.list_consumer_groups(request_timeout=timeout).result()
    groups = sorted(g.group_id for g in listing.valid if g.group_id.startswith(prefix))
    if not groups:
        return []
    described = admin.describe_consumer_groups(groups, request_timeout=timeout)
    out = []
    for group in groups:
        try:
            state = str(described[group].result().state).rsplit(".", 1)[-1]
        except Exception:  # a group that vanished meanwhile
            state = "UNKNOWN"
        fut = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
        )[group]
        committed = [tp for tp in fut.result().topic_partitions if tp.offset >= 0]
        topics = tuple(sorted({tp.topic for tp in committed}))
        ends = topic_sizes(broker, topics, timeout)
        lag = 0
        for tp in committed:
            end = ends.get(tp.topic)
            if end is not None:
                lag += max(0, end.end_offsets.get(tp.partition, tp.offset) - tp.offset)
        out.append(GroupLag(group, state, lag, topics))
    return out


def records_of(value: bytes | None) -> Iterator[dict[str, Any]]:
    """The records of one message: a JSON object, a JSON array, or NDJSON lines."""
    if not value:
        return
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        for line in value.splitlines():
            line = line.strip()
            if line:
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(item, dict):
                    yield item
        return
    if isinstance(data, dict):
        yield data
    elif isinstance(data, list):
        yield from (d for d in data if isinstance(d, dict))


def tail(
    broker: KafkaTarget,
    topic: str,
    *,
    count: int,
    timeout: float,
    from_beginning: bool = False,
    emit: Callable[[dict[str, Any]], None],
) -> int:
    """Consume ``topic`` and call ``emit`` per record until ``count`` records (0: no limit) or
    ``timeout`` seconds; returns how many were emitted."""
    consumer = _consumer(
        broker,
        group=f"ribflow-lab-tail-{uuid.uuid4().hex[:8]}",
        **{"auto.offset.reset": "earliest" if from_beginning else "latest"},
    )
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        consumer.subscribe([topic])
        while time.monotonic() < deadline and (count == 0 or seen < count):
            msg = consumer.poll(min(1.0, max(0.05, deadline - time.monotonic())))
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                raise RuntimeError(f"consuming {topic}: {err}")
            for record in records_of(msg.value()):
                emit(record)
                seen += 1
                if count and seen >= count:
                    break
    finally:
        consumer.close()
    return seen
