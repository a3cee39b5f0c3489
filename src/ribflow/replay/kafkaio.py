"""Small Kafka reads the replay plans with: watermarks, offsets by time, reading offset ranges.

One :class:`Reader` (a group-less confluent-kafka consumer driven by ``assign``) serves every
lookup; it never commits. Offsets by time use Kafka's ListOffsets by timestamp
(``offsets_for_times``): the earliest offset whose timestamp is at or after the given time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.replay.errors import ReplayError

log = logging.getLogger(__name__)
T = TypeVar("T")
# a topic created a moment ago has no leader yet: these pass within seconds
_TRANSIENT = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
}


def _retrying(call: Callable[[], T], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            code = err.code() if isinstance(err, KafkaError) else None
            if code not in _TRANSIENT or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Reader:
    """Watermarks, offsets by time and offset-range reads for any topic partition."""

    def __init__(self, broker: KafkaTarget, timeout: float = 15.0) -> None:
        self._timeout = timeout
        self._consumer = Consumer(
            client_config(
                broker,
                {
                    "group.id": "ribflow-replay-reader",  # never joined: assign() only, no commits
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                    "fetch.max.bytes": 16 * 1024 * 1024,
                    "fetch.wait.max.ms": 20,  # single-message reads: do not wait for more data
                },
            ),
        )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """``(low, high)``: the first retained offset and the offset the next message gets."""
        tp = TopicPartition(topic, partition)
        found = _retrying(
            lambda: self._consumer.get_watermark_offsets(tp, timeout=self._timeout),
            self._timeout,
        )
        if found is None:
            raise ReplayError(f"no watermarks for {topic}[{partition}]")
        return int(found[0]), int(found[1])

    def offset_for_time(self, topic: str, partition: int, ts_ms: int) -> int | None:
        """Earliest offset stamped ``>= ts_ms``, or ``None`` when every message is older."""
        tp = TopicPartition(topic, partition, max(ts_ms, 0))
        found = _retrying(
            lambda: self._consumer.offsets_for_times([tp], timeout=self._timeout),
            self._timeout,
        )
        if not found or found[0].error is not None:
            raise ReplayError(f"offsets_for_times failed on {topic}[{partition}]")
        offset = found[0].offset
        return None if offset < 0 else int(offset)

    def read(self, topic: str, partition: int, start: int, stop: int) -> Iterator[Message]:
        """Every message of ``[start, stop)`` in offset order (gaps, e.g. markers, skipped)."""
        if start >= stop:
            return
        self._consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + self._timeout
        try:
            while True:
                msg = self._consumer.poll(0.5)
                if msg is None:
                    if time.monotonic() > deadline:
                        raise ReplayError(f"{topic}[{partition}]: no data at offset {start}+")
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        return  # nothing more exists before stop
                    raise ReplayError(f"reading {topic}[{partition}]: {err}")
                offset = msg.offset() or 0
                if offset >= stop:
                    return
                deadline = time.monotonic() + self._timeout
                yield msg
                if offset + 1 >= stop:
                    return
        finally:
            self._consumer.unassign()

    def read_one(self, topic: str, partition: int, offset: int) -> Message | None:
        """The message at exactly ``offset``, or ``None`` (deleted, or a transaction marker)."""
        for msg in self.read(topic, partition, offset, offset + 1):
            return msg if msg.offset() == offset else None
        return None


def timestamp_of(msg: Any) -> int:
    """Kafka timestamp (ms) of a message; 0 when it has none."""
    _, ts = msg.timestamp()
    return int(ts) if ts and ts > 0 else 0
