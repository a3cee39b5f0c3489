"""Template and sampling state in the compacted ``flow-templates`` topic.

The decoder's state (templates, options-derived sampling rates, exporter boot times) is a small
key/value table: key = the state's own key text (``tpl|exporter|version|domain|id``, ...), value =
its encoded bytes, a tombstone (null value) when withdrawn. Changes are written as they happen
(drained after each batch of packets); at start the topic is read to its end and the latest value
of each key restored, so a restarted collector decodes the first data packet of an exporter whose
template it learnt before, instead of waiting minutes for a template refresh.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from ribflow.errors import EnvironmentProblem
from ribflow.kafka.client import KafkaTarget, client_config

log = logging.getLogger(__name__)


class StatefulDecoder(Protocol):
    """A decoder whose state can be saved and loaded (the Dispatcher is one)."""

    def snapshot(self) -> dict[str, bytes]: ...

    def restore(self, items: dict[str, bytes]) -> None: ...

    def drain_changes(self) -> dict[str, bytes | None]: ...


def read_table(broker: KafkaTarget, topic: str, timeout: float = 30.0) -> dict[str, bytes]:
    """The latest value of every key of a (compacted) topic; tombstones remove keys.

    A missing topic is an empty table. Raises :class:`EnvironmentProblem` when the topic cannot
    be read to its end within ``timeout`` seconds (decoding with half the templates would be
    worse than failing loudly at start).
    """
    consumer = Consumer(
        client_config(
            broker,
            {
                "group.id": f"ribflow-templates-{uuid.uuid4().hex[:8]}",  # never joined/committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        ),
        logger=logging.getLogger("ribflow.kafka.templates"),
    )
    deadline = time.monotonic() + timeout
    try:
        ends = _end_offsets(consumer, topic, deadline)
        if not ends:
            return {}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        table: dict[str, bytes] = {}
        while ends:
            if time.monotonic() > deadline:
                raise EnvironmentProblem(f"could not read {topic} to its end in {timeout:.0f} s")
            for msg in consumer.consume(1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ends.pop(msg.partition(), None)
                        continue
                    raise EnvironmentProblem(f"reading {topic}: {err}")
                key = msg.key()
                if key is not None:
                    value = msg.value()
                    text = key.decode("utf-8", "replace")
                    if value is None:
                        table.pop(text, None)
                    else:
                        table[text] = value
                offset = msg.offset()
                if offset is not None and offset + 1 >= ends.get(msg.partition(), 1 << 62):
                    ends.pop(msg.partition(), None)
        return table
    finally:
        consumer.close()


def _end_offsets(consumer: Consumer, topic: str, deadline: float) -> dict[int, int]:
    """Partition -> end offset of the non-empty partitions; retried while the cluster settles
    (a topic created a moment ago answers NOT_LEADER_FOR_PARTITION for a while)."""
    while True:
        left = max(1.0, deadline - time.monotonic())
        try:
            meta = consumer.list_topics(topic, timeout=left).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                return {}
            ends: dict[int, int] = {}
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=left)
                if high > low:
                    ends[p] = high
            return ends
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise EnvironmentProblem(f"cannot read the offsets of {topic}: {exc}") from None
            log.info("offsets of %s not available yet (%s): retrying", topic, exc)
            time.sleep(0.5)


class TemplateSync:
    """Restores a decoder's templates and sampling state from the compacted topic."""

    def __init__(self, decoder: StatefulDecoder, topic: str) -> None:
        self.decoder = decoder
        self.topic = topic

    def restore(self, broker: KafkaTarget, timeout: float) -> int:
        """Load the topic's latest state into the decoder; returns how many entries."""
        table = read_table(broker, self.topic, timeout)
        if table:
            self.decoder.restore(table)
        log.info("restored %d template/sampling entries from %s", len(table), self.topic)
        return len(table)
