"""Unread input at the broker: the guard of every wall-clock rule of the aggregator.

A partition that has received no flow for a while is either quiet (its exporters stopped) or
behind (its flows are still queued in Kafka: the aggregator was stopped, or is catching up on
a backlog and reads another partition first). The wall clock cannot tell them apart; the
broker can. So the idle flush (idle.py) and the idle origins of the watermark (window.py)
apply only to an input partition without unread messages: the app consumer's position is at
the partition's high watermark (lag 0). A partition that is behind is never idle, however long
it has gone without a flow.

Nothing here blocks the run loop: a thread asks the broker (its own consumer, outside the
group) for the high watermarks and the group's committed offsets every :data:`LOOK_EVERY_S`;
the run loop combines them with the app consumer's positions and librdkafka's cached high
watermarks (local calls). A partition the app has not read from in this run has no position:
the group's committed offset stands for it. The position of a read_committed consumer moves
past transaction markers, so a transactional upstream (the enricher in exactly-once mode)
reads as lag 0 once its transactions are read; an open transaction reads as unread input until
it is committed or aborted. Until the first answer from the broker, everything is behind.

Limit: with several aggregator instances, an instance sees the lag of the partitions assigned
to it only. Input partitions assigned to another instance are not looked at: for those, the
wall-clock rules apply as before (IDLE_TIMEOUT).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaException, TopicPartition

__all__ = ["LOOK_EVERY_S", "InputLag", "LagConsumer"]

log = logging.getLogger(__name__)

#: Wall seconds between two looks at the lags (the run loop asks more often).
LOOK_EVERY_S = 0.5
#: Broker timeout of one request of the lag thread.
QUERY_TIMEOUT_S = 10.0
#: Seconds between two reads of the topics' partition lists.
METADATA_EVERY_S = 10.0

#: (topic, partition) -> (committed offset, low watermark, high watermark)
Offsets = dict[tuple[str, int], tuple[int, int, int]]


class LagConsumer(Protocol):
    """What InputLag needs of the app's consumer (local calls only)."""

    def assignment(self) -> list[TopicPartition]: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | None = ..., cached: bool = ...
    ) -> Any: ...


class InputLag:
    """Which assigned partitions of the input topic have unread messages."""

    def __init__(
        self,
        broker_config: dict[str, Any],
        group: str,
        source_topic: str,
        consumer: Callable[[], LagConsumer | None],
        offset_reset: str = "latest",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = {**broker_config, "group.id": group, "enable.auto.commit": False}
        self._earliest = offset_reset == "earliest"
        self._source = source_topic
        self._consumer = consumer
        self._clock = clock
        self._next_look = 0.0
        self._behind: set[tuple[str, int]] = set()
        self._looked = False
        self._broker: Offsets | None = None  # the thread's last answer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- questions (cheap: answered from the last look) ----------------------------------

    def source_behind(self, origin: int) -> bool:
        """Input partition ``origin`` had unread messages at the last look (or none was made)."""
        return not self._looked or (self._source, origin) in self._behind

    # -- the look (run loop) -------------------------------------------------------------

    def look(self) -> None:
        """Refresh the lags from local calls (run loop; does work every LOOK_EVERY_S)."""
        now = self._clock()
        if now < self._next_look:
            return
        self._next_look = now + LOOK_EVERY_S
        broker = self._broker
        consumer = self._consumer()
        if broker is None or consumer is None:
            return
        try:
            assigned = [tp for tp in consumer.assignment() if tp.topic == self._source]
            positions = consumer.position(assigned) if assigned else []
            behind = {(tp.topic, tp.partition) for tp in positions
                      if not _at_end(consumer, tp, broker, self._earliest)}  # fmt: skip
        except (KafkaException, RuntimeError) as exc:
            log.debug("lag: no assignment or positions: %s", exc)
            return
        self._behind = behind
        self._looked = True

    # -- the broker (thread) -------------------------------------------------------------

    def start(self) -> None:
        """Start asking the broker (a daemon thread; :meth:`stop` ends it)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._ask, name="aggregator-lag", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(QUERY_TIMEOUT_S * 2)
            self._thread = None

    def _ask(self) -> None:
        consumer = Consumer(self._config)
        parts: list[TopicPartition] = []
        parts_at = -METADATA_EVERY_S
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() - parts_at >= METADATA_EVERY_S or not parts:
                        parts, parts_at = self._partitions(consumer), time.monotonic()
                    self._broker = _offsets(consumer, parts)
                except (KafkaException, RuntimeError) as exc:
                    log.debug("lag: broker not answering: %s", exc)
                self._stop.wait(LOOK_EVERY_S)
        finally:
            consumer.close()

    def _partitions(self, consumer: Consumer) -> list[TopicPartition]:
        topic = self._source
        meta = consumer.list_topics(topic, timeout=QUERY_TIMEOUT_S).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        return [TopicPartition(topic, p) for p in meta.partitions]


def _offsets(consumer: Consumer, parts: list[TopicPartition]) -> Offsets:
    if not parts:
        return {}
    committed = consumer.committed(parts, timeout=QUERY_TIMEOUT_S)
    out: Offsets = {}
    for tp in committed:
        low, high = consumer.get_watermark_offsets(tp, timeout=QUERY_TIMEOUT_S)
        out[(tp.topic, tp.partition)] = (tp.offset, low, high)
    return out


def _at_end(consumer: LagConsumer, tp: TopicPartition, broker: Offsets, earliest: bool) -> bool:
    """The app's position is at the highest high watermark known: the broker's last answer
    or librdkafka's cache (updated by every fetch). A partition the app has read nothing from
    in this run is where the group left it (its committed offset), or where
    AUTO_OFFSET_RESET starts a group that left nothing."""
    known = broker.get((tp.topic, tp.partition))
    if known is None:
        return False  # a partition the thread has not seen yet
    committed, low, high = known
    cached = consumer.get_watermark_offsets(tp, cached=True)
    if cached is not None and cached[1] > high:
        high = cached[1]
    position = tp.offset if tp.offset >= 0 else committed
    if position < 0:
        position = low if earliest else high
    return bool(position >= high)
