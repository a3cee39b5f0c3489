"""Read flows-enriched from Kafka for `ribflow top`: from the window's start, by message time.

Each partition is positioned with ``offsets_for_times(now - window)``, so the first frame is
already full. ``until_end`` stops at the end offsets seen when reading started (one frame).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.lab.kafkaview import records_of

_quiet = logging.getLogger("ribflow.top.kafka")
Item = tuple[float, dict[str, Any]]


class TopicReader:
    """Assigns every partition of ``topic`` from ``since`` (epoch seconds) and yields records."""

    def __init__(
        self, broker: KafkaTarget, topic: str, since: float, timeout: float = 10.0
    ) -> None:
        self.topic = topic
        self.consumer = Consumer(
            client_config(
                broker,
                {
                    "group.id": f"ribflow-top-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "latest",
                    "enable.partition.eof": True,
                },
            ),
            logger=_quiet,
        )
        md = self.consumer.list_topics(topic, timeout=timeout)
        meta = md.topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            self.consumer.close()
            raise KafkaException(f"topic {topic} does not exist on {broker}")
        since_ms = int(since * 1000)
        wanted = [TopicPartition(topic, p, since_ms) for p in sorted(meta.partitions)]
        starts = self.consumer.offsets_for_times(wanted, timeout=timeout)
        self.ends: dict[int, int] = {}
        for tp in starts:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            self.ends[tp.partition] = high
            if tp.offset < 0:  # nothing at or after `since`: start at the end
                tp.offset = high
        self.consumer.assign(starts)
        self.position = {tp.partition: tp.offset for tp in starts}

    def at_end(self) -> bool:
        return all(self.position.get(p, 0) >= end for p, end in self.ends.items())

    def poll(self, timeout: float) -> Iterator[Item]:
        """Records of the messages available within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            msg = self.consumer.poll(min(left, 0.5))
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self.position[msg.partition()] = max(
                        self.position.get(msg.partition(), 0), msg.offset() or 0
                    )
                    if self.at_end():
                        return
                    continue
                raise KafkaException(err)
            self.position[msg.partition()] = (msg.offset() or 0) + 1
            _, ts_ms = msg.timestamp()
            ts = ts_ms / 1000 if ts_ms > 0 else time.time()
            for record in records_of(msg.value()):
                yield ts, record

    def close(self) -> None:
        self.consumer.close()
