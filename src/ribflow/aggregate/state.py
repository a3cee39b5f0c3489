"""The aggregator's state topic: snapshots of the open windows, one partition per input partition.

A compacted topic (the catalogue's :func:`ribflow.topics.aggregator_state_spec`), named after
the consumer group and the key layout (a changed aggregate list never reads the old list's
state), with as many partitions as flows-enriched: partition p holds the windows of input
partition p. The aggregator writes to it at each commit, in the commit's Kafka transaction
(windows.py says what), and reads partition p back when it is assigned input partition p.

Reading back, exactly-once: the read is read_committed, and it goes on until the consumer's
position reaches the partition's end (its high watermark, uncommitted data included), so every
transaction written before it has been committed or aborted by then. A transaction left open
by a process killed with kill -9 holds that position until the broker aborts it (the
producer's ``transaction.timeout.ms``, :data:`TRANSACTION_TIMEOUT_MS`), so a restart right after
a crash waits up to that long: the price of not reading state that a later commit has already
built on (the offsets committed with it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ribflow.aggregate.settings import AggregatorSettings
from ribflow.aggregate.windows import PartitionWindows
from ribflow.kafka.read import ReadError, read_to_end

__all__ = ["TRANSACTION_TIMEOUT_MS", "read_partition", "state_topic"]

log = logging.getLogger(__name__)

#: The aggregator's producer's transaction.timeout.ms (at least 3 commit intervals).
TRANSACTION_TIMEOUT_MS = 20_000
#: How long a restore may wait for the end of a state partition before giving up.
RESTORE_TIMEOUT_S = 300.0


def state_topic(settings: AggregatorSettings) -> str:
    """The state topic of these settings' consumer group and key layout."""
    return f"{settings.group()}-state-{settings.layout_id()}"


def transaction_timeout_ms(settings: AggregatorSettings) -> int:
    return max(TRANSACTION_TIMEOUT_MS, int(settings.commit_interval * 3000))


def read_partition(
    config: dict[str, Any], topic: str, partition: int, window_ms: int
) -> PartitionWindows:
    """The windows of ``partition`` as the last committed transaction left them."""
    records = list(_records(config, topic, partition))
    windows = PartitionWindows.restore(partition, iter(records), window_ms)
    log.info(
        "state of partition %d restored from %s: %d records, %d open windows (%d keys), "
        "written up to %d ms",
        partition, topic, len(records), len(windows.open),
        sum(len(w) for w in windows.open.values()), windows.flushed,
    )  # fmt: skip
    return windows


def _records(
    config: dict[str, Any], topic: str, partition: int
) -> Iterator[tuple[bytes, bytes | None]]:
    base = {**config, "enable.auto.commit": False, "enable.partition.eof": False}
    base.pop("group.id", None)
    probe = Consumer({**base, "group.id": "unused", "isolation.level": "read_uncommitted"})
    try:
        low, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
    finally:
        probe.close()
    if high <= low:
        return
    reader = Consumer({**base, "group.id": "unused", "isolation.level": "read_committed"})
    try:
        for msg in read_to_end(reader, topic, RESTORE_TIMEOUT_S, ends={partition: high}):
            key = msg.key()
            if key is not None:
                yield key, msg.value()
    except ReadError as exc:  # a Kafka failure: the aggregator is run again (kafka/rerun.py)
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"state: {exc}")) from exc
    finally:
        reader.close()
