"""The aggregation stage: a transactional consumer loop that sums in memory.

::

    flows-enriched --batches--> open windows of each input partition (dicts in memory)
        --closed windows--> pmacct JSON --> flows-aggregated
        --at each commit: changed windows--> <group>-aggregator-state-<layout> (compacted)

Why not Quix Streams: its per-message cost (a pass-through app is ~25 us per record here) is
above the whole budget of an aggregation that should cost about what it saves, and keeping
windows in its state means a state read and write per record; holding them in memory and
persisting at checkpoint time would need hooks into Quix's private checkpoint code. A plain
confluent-kafka loop does what the issue asks with public API only: read batches
(``consume``), sum in dicts, and at each commit write, in one Kafka transaction, the windows
closed since the last commit (output), a snapshot of the open windows changed since then
(state topic, windows.py / state.py) and the consumed offsets (``send_offsets_to_transaction``
with the group's metadata, so that a member fenced by a rebalance cannot commit).

No repartition: input partition p's records are summed in p's windows, as several nfacctd
instances would each sum the flows they receive. When the aggregate list has no router in it,
the same key and window can come out once per input partition that saw it: partial sums that
Druid's rollup (or any sum by key and time) adds up. A window closes when the partition's own
watermark (its latest flow time) passes its end + grace; a flow for a window already written
is late: counted (ribflow_aggregate_late_total) and dead-lettered, never added.

Exactly-once (the default): after a crash, the restarted process reads each assigned
partition's state back (state.py: up to the end of the topic, so a transaction left open by
the dead process is resolved first) and the input from the offsets committed with that state,
so the windows have exact sums and each is written once for read_committed readers
(tests/aggregate/test_restart.py, with and without the state directory: nothing is kept on
disk, QUIX__STATE__DIR is not used). At-least-once: the same writes without a transaction,
offsets committed after the output and the state were delivered; after a crash the flows of
the last commit interval can be counted twice.

Wall-clock rules (idle.py, and IDLE_TIMEOUT through the watermark) apply only to a partition
with no unread input at the broker (lag.py).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ribflow.aggregate.errors import BadRecord
from ribflow.aggregate.idle import IdleFlusher
from ribflow.aggregate.lag import InputLag
from ribflow.aggregate.letters import COMPONENT, Letters
from ribflow.aggregate.metrics import RECORDS_IN, ROWS_OUT
from ribflow.aggregate.output import PurgeWriter
from ribflow.aggregate.records import RowBuilder, split_message
from ribflow.aggregate.settings import AggregatorSettings
from ribflow.aggregate.state import read_partition, state_topic, transaction_timeout_ms
from ribflow.aggregate.window import Watermarks
from ribflow.aggregate.windows import PartitionWindows
from ribflow.kafka.client import client_config, producer_config
from ribflow.kafka.producer import produce_waiting
from ribflow.logs import RateLimitedLog
from ribflow.topics import aggregator_state_spec, ensure_topics, partition_counts, specs

__all__ = ["COMPONENT", "Aggregator"]

log = logging.getLogger(__name__)

#: Messages per consume() call, and how long it waits for the first one.
BATCH = 2000
POLL_S = 0.2
#: Broker timeout of a commit (send offsets, commit transaction, flush).
COMMIT_TIMEOUT_S = 30.0
NEVER = 2**63


class Aggregator:
    """Builds and runs the aggregation loop for one :class:`AggregatorSettings`."""

    def __init__(self, settings: AggregatorSettings) -> None:
        s = self.settings = settings
        self.primitives = s.primitives()
        self.bins = s.time_bins()
        self.rows = RowBuilder(self.primitives, self.bins, s.time_source, s.renormalize)
        self.writer = PurgeWriter(
            self.primitives, self.bins, s.writer_name, since_epoch=s.timestamps_since_epoch
        )
        self.exactly_once = s.processing_guarantee == "exactly-once"
        self.state_topic = state_topic(s)
        self._rlog = RateLimitedLog(log)
        self.letters = Letters(s, self.bins)
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self.windows: dict[int, PartitionWindows] = {}
        # every wall-clock rule asks it first: unread input means behind, not idle (lag.py)
        self.lag = InputLag(
            client_config(s), s.group(), s.flows_enriched_topic, lambda: self.consumer,
            s.auto_offset_reset,
        )  # fmt: skip
        self.marks = Watermarks(
            [], s.idle_timeout, behind=lambda _p, origin: self.lag.source_behind(origin)
        )
        idle_s = s.idle_flush_s()
        self.flusher = None if idle_s is None else IdleFlusher(
            watermarks=self.marks, window_ms=self.bins.window_ms, grace_ms=self.bins.grace_ms,
            quiet_s=idle_s, caught_up=lambda p: not self.lag.source_behind(p), write=self._write,
        )  # fmt: skip
        self._in_txn = False
        self._pending = False  # consumed or written something since the last commit
        self._failed = False
        self._stop = threading.Event()
        self._undelivered: list[str] = []

    def ensure_topics(self) -> list[str]:
        """Create flows-enriched (if absent), flows-aggregated and both dead-letter topics."""
        s = self.settings
        names = [
            s.flows_enriched_topic,
            s.flows_aggregated_topic,
            s.dlq_topic(s.flows_enriched_topic),
            s.dlq_topic(s.flows_aggregated_topic),
        ]
        return ensure_topics(s, specs(s, *names))

    def build(self) -> None:
        """Create the state topic (as many partitions as the input), the consumer and the
        producer (transactional in exactly-once mode)."""
        s = self.settings
        count = partition_counts(s, [s.flows_enriched_topic]).get(s.flows_enriched_topic)
        if count is None:
            missing = f"{s.flows_enriched_topic} does not exist"
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, missing))
        ensure_topics(s, [aggregator_state_spec(s, self.state_topic, count)])
        self.consumer = Consumer(client_config(s, {
            "group.id": s.group(), "enable.auto.commit": False,
            "auto.offset.reset": s.auto_offset_reset, "isolation.level": "read_committed",
            # read the partitions of a backlog interleaved (see FETCH_PARTITION_BYTES)
            "max.partition.fetch.bytes": s.fetch_partition_bytes,
            # prefetch: enough to keep the loop busy, bounded in memory; fetch again soon
            # after a full queue (librdkafka's default waits 1 s: ~1,000 messages/s/partition)
            "queued.min.messages": 10_000, "queued.max.messages.kbytes": 16_384,
            "fetch.queue.backoff.ms": 50,
        }))  # fmt: skip
        extra: dict[str, Any] = {"on_delivery": self._delivered}
        if self.exactly_once:  # its own transaction timeout: a restart waits up to it (state.py)
            extra["transactional.id"] = f"{s.group()}-{uuid.uuid4().hex}"
            extra["transaction.timeout.ms"] = transaction_timeout_ms(s)
        else:
            extra["enable.idempotence"] = True
        # uncompressed, as measured in the README's figures (the windows are small JSON rows)
        self.producer = Producer(producer_config(s, "streaming", extra, compression="none"))

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        """Consume, sum and commit until SIGTERM/SIGINT; Kafka errors end it (the caller,
        ribflow.kafka.rerun, builds a fresh one, which restores from the committed state)."""
        consumer, producer = self.consumer, self.producer
        if consumer is None or producer is None:
            self.build()
            consumer, producer = self.consumer, self.producer
        assert consumer is not None and producer is not None
        self._on_signals()
        if self.exactly_once:
            producer.init_transactions(COMMIT_TIMEOUT_S)
        consumer.subscribe([self.settings.flows_enriched_topic], on_assign=self._assigned,
                           on_revoke=self._revoked, on_lost=self._lost)  # fmt: skip
        self.lag.start()
        interval = self.settings.commit_interval
        next_commit = time.monotonic() + interval
        try:
            while not self._stop.is_set():
                batch = consumer.consume(BATCH, POLL_S)
                if batch:
                    self._process(batch)
                producer.poll(0)
                self.lag.look()
                if self.flusher is not None:
                    self.flusher.tick(self.windows)
                if time.monotonic() >= next_commit:
                    self._commit()
                    next_commit = time.monotonic() + interval
            self._commit()
        except BaseException:
            self._failed = True
            raise
        finally:
            self._close()

    def _on_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _s, _f: self._stop.set())

    def _close(self) -> None:
        self.lag.stop()
        if self._failed and self._in_txn and self.producer is not None:
            try:
                self.producer.abort_transaction(10)
            except KafkaException as exc:
                log.warning("aborting the transaction: %s", exc)
            self._in_txn = False
        if self.consumer is not None:
            self.consumer.close()  # leaves the group (revoke: commits unless failed)
        if self.producer is not None:
            self.producer.flush(10)
        self.letters.flush(10)

    # -- records -> windows --------------------------------------------------------------

    def _process(self, batch: list[Message]) -> None:
        self._pending = True
        parts: dict[int, list[Message]] = {}
        for msg in batch:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                self._rlog.warning("consume", "consumer: %s", err)
                continue
            part = msg.partition()
            have = parts.get(part)
            if have is None:
                parts[part] = [msg]
            else:
                have.append(msg)
        for part, msgs in parts.items():
            windows = self.windows.get(part)
            if windows is not None:  # else no longer assigned: read again by its owner
                self._add(windows, msgs)

    def _add(self, windows: PartitionWindows, msgs: list[Message]) -> None:
        """Sum the messages' records into the partition's windows, in order; a window is
        written as soon as the partition's watermark (its latest flow time) passes its end
        plus grace, so a later record for it is late whatever the batch boundaries."""
        entry, add, loads, late = self.rows.entry, windows.add, orjson.loads, self.letters.late
        window_ms, grace, part = self.bins.window_ms, self.bins.grace_ms, windows.partition
        flushed = windows.flushed
        first = windows.first_end(window_ms)
        close_at = NEVER if first is None else first + grace  # flow time closing the oldest
        latest = -1
        count = 0
        for msg in msgs:
            value = msg.value() or b""
            kafka_ts = msg.timestamp()[1]
            try:
                record = loads(value)
            except orjson.JSONDecodeError:
                record = None
            records: Iterable[Any] = (record,) if type(record) is dict else self._split(value)
            for rec in records:
                try:
                    key, ts, flows, packets, bytes_ = entry(rec, kafka_ts)
                except BadRecord as exc:
                    self.letters.bad(exc, orjson.dumps(rec))
                    continue
                count += 1
                start = ts - ts % window_ms
                if start + window_ms <= flushed:
                    late(key, ts, (flows, packets, bytes_), part, flushed)
                    continue
                add(key, start, flows, packets, bytes_)
                if ts > latest:
                    latest = ts
                if start + window_ms + grace < close_at:
                    close_at = start + window_ms + grace
                if latest >= close_at:
                    self._write(windows, self.marks.advance(part, part, latest) - grace)
                    flushed = windows.flushed
                    first = windows.first_end(window_ms)
                    close_at = NEVER if first is None else first + grace
        if latest >= 0:
            self.marks.advance(part, part, latest)
        RECORDS_IN.inc(count)

    def _split(self, value: bytes) -> Iterator[dict[str, Any]]:
        for item in split_message(value):
            if isinstance(item, BadRecord):
                self.letters.bad(item, item.raw if item.raw is not None else item.detail.encode())
            else:
                yield item

    # -- windows -> flows-aggregated -----------------------------------------------------

    def _write(self, windows: PartitionWindows, max_end: int) -> int:
        """Write the partition's windows ending at or before ``max_end`` (one flush, between
        markers when MARKERS is on); returns how many records."""
        closed, gone = windows.close(max_end, self.bins.window_ms)
        if not closed:
            return 0
        self._pending = True
        self._begin()
        for state_key in gone:
            self._produce(self.state_topic, None, state_key, windows.partition)
        out = self.settings.flows_aggregated_topic
        entries = 0
        for key, value, records in self.writer.flush(
            closed, self.settings.markers, self.settings.multi_values
        ):
            self._produce(out, value, key)
            entries += records
        ROWS_OUT.inc(entries)
        return entries

    def _produce(
        self, topic: str, value: bytes | None, key: bytes | None = None, partition: int = -1
    ) -> None:
        assert self.producer is not None
        produce_waiting(self.producer, topic, value, key, partition=partition)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._undelivered.append(f"{msg.topic()}: {err}")

    # -- commit --------------------------------------------------------------------------

    def _begin(self) -> None:
        if self.exactly_once and not self._in_txn:
            assert self.producer is not None
            self.producer.begin_transaction()
            self._in_txn = True

    def _commit(self) -> None:
        """Snapshot the changed windows and commit them with the output and the offsets."""
        if not self._pending:
            return
        consumer, producer = self.consumer, self.producer
        assert consumer is not None and producer is not None
        self._begin()
        for windows in self.windows.values():
            for key, value in windows.snapshot():
                self._produce(self.state_topic, value, key, windows.partition)
        offsets = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
        if self.exactly_once:
            if offsets:
                producer.send_offsets_to_transaction(
                    offsets, consumer.consumer_group_metadata(), COMMIT_TIMEOUT_S
                )
            producer.commit_transaction(COMMIT_TIMEOUT_S)
            self._in_txn = False
        else:
            left = producer.flush(COMMIT_TIMEOUT_S)
            if left or self._undelivered:
                raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT,
                                                f"not delivered: {left} queued, "
                                                f"{self._undelivered[:3]}"))  # fmt: skip
            if offsets:
                consumer.commit(offsets=offsets, asynchronous=False)
        self._pending = False

    # -- partitions ----------------------------------------------------------------------

    def _assigned(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        config = client_config(self.settings)
        for tp in parts:
            self.windows[tp.partition] = read_partition(
                config, self.state_topic, tp.partition, self.bins.window_ms
            )

    def _revoked(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        if not self._failed:
            self._commit()  # the new owner starts from this state and these offsets
        for tp in parts:
            self.windows.pop(tp.partition, None)
            self.marks.forget(tp.partition)

    def _lost(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        # what was read since the last commit may be another member's now: start afresh
        self._failed = True
        raise KafkaException(KafkaError(KafkaError._STATE, f"partitions lost: {parts}"))
