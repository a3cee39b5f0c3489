"""Reading a topic as it is now: its watermarks, and every message up to its end.

:func:`watermarks` is the one place that asks for a topic's partitions and their ``(low, high)``
offsets; :func:`read_to_end` the one "read what the topic held at start" loop (a compacted
table's restore). Both take a consumer the caller made (its own ``group.id``, logger, security):
a group-less consumer driven by ``assign``, never committing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from ribflow.errors import EnvironmentProblem

log = logging.getLogger(__name__)


class ReadError(EnvironmentProblem):
    """A topic could not be read to its end (in time, or Kafka refused)."""


def watermarks(consumer: Consumer, topic: str, timeout: float) -> dict[int, tuple[int, int]]:
    """Partition -> ``(low, high)``: the first retained offset and the one the next message
    gets, of every partition of ``topic``; empty when the topic does not exist (or has no
    partitions). Raises ``KafkaException`` when Kafka does not answer."""
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        return {}
    marks: dict[int, tuple[int, int]] = {}
    for p in meta.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
        marks[p] = (int(low), int(high))
    return marks


def _ends(consumer: Consumer, topic: str, deadline: float) -> dict[int, int]:
    """Partition -> high watermark of the non-empty partitions; retried while the cluster
    settles (a topic created a moment ago answers NOT_LEADER_FOR_PARTITION for a while)."""
    while True:
        left = max(1.0, deadline - time.monotonic())
        try:
            marks = watermarks(consumer, topic, left)
            return {p: high for p, (low, high) in marks.items() if high > low}
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise ReadError(f"cannot read the offsets of {topic}: {exc}") from None
            log.info("offsets of %s not available yet (%s): retrying", topic, exc)
            time.sleep(0.5)


def read_to_end(
    consumer: Consumer, topic: str, timeout: float, *, ends: Mapping[int, int] | None = None
) -> Iterator[Message]:
    """Every message ``topic`` held when called, partition by partition in offset order (the
    partitions interleaved), from the beginning to each partition's high watermark at start.

    A missing or empty topic yields nothing. ``consumer`` must have
    ``enable.partition.eof`` on (a partition whose last offsets are transaction markers ends
    there). Raises :class:`ReadError` when the topic is not read to its end within ``timeout``
    seconds, or on a consumer error.

    ``ends`` (partition -> offset) reads just those partitions, each until the consumer's
    position reaches its offset, instead of the consumer's own watermarks: given a
    read_uncommitted consumer's high watermarks, a read_committed ``consumer`` reads past every
    transaction open at start, once it has been committed or aborted.
    """
    deadline = time.monotonic() + timeout
    given = ends is not None
    if ends is None:
        left = _ends(consumer, topic, deadline)
    else:
        left = {p: end for p, end in ends.items() if end > 0}
    if not left:
        return
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in left])
    try:
        while left:
            if time.monotonic() > deadline:
                raise ReadError(f"could not read {topic} to its end in {timeout:.0f} s")
            for msg in consumer.consume(1000, timeout=0.5):
                partition = msg.partition()
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if not given:
                            left.pop(partition, None)  # type: ignore[arg-type]
                        continue
                    raise ReadError(f"reading {topic}: {err}")
                end = left.get(partition)  # type: ignore[arg-type]
                offset = msg.offset()
                if end is None or offset is None or offset >= end:
                    continue  # written after the start
                yield msg
                if offset + 1 >= end:
                    left.pop(partition, None)  # type: ignore[arg-type]
            if given:  # past aborted transactions and markers: the position says
                at = consumer.position([TopicPartition(topic, p) for p in left])
                for tp in at:
                    if tp.offset >= left[tp.partition]:
                        left.pop(tp.partition)
    finally:
        consumer.unassign()
