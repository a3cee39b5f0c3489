"""The aggregation stage as a Quix Streams pipeline.

::

    flows-enriched --rows--> repartition by key --tumbling window (RocksDB + changelog)-->
        pmacct JSON --> flows-aggregated

1. every record of a message becomes a row ``[key, ts, flows, packets, bytes, input
   partition]`` (records.py); ``ts`` is the flow's time (TIME_SOURCE), which picks the window;
2. ``group_by`` re-keys the rows by their aggregation key through a repartition topic, so one
   key's flows from every router meet in one partition (one record per key and window, like
   one nfacctd);
3. :class:`AggregationWindow` sums them in windowed state; a window is written once, when the
   watermark (the slowest input partition's flow time) passes its end + grace; flows for a
   window already written are counted and sent to ``flows-aggregated-dlq``;
4. each closed window is written as pmacct JSON, keyed by the aggregation key.

Exactly-once (the default) makes the consumed offsets, the state changelog and the output one
Kafka transaction: after a crash the state is restored to the last commit and the flows after
it are read again, and what the crashed run wrote after that commit was never committed, so
``read_committed`` readers see every window once with exact sums (tests/aggregate/
test_restart.py). At-least-once commits the same things without a transaction and the state is
not atomic with the offsets: after a crash the flows of the last commit interval are read again
into a state that may already hold them, so they can be counted twice and windows written again
(measured: one window of 3000 flows doubled after two kill -9); no window went missing in the
same test.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.dataframe.dataframe import StreamingDataFrame

from ribflow.aggregate.errors import BadRecord
from ribflow.aggregate.lag import InputLag
from ribflow.aggregate.metrics import LATE, RECORDS_IN, ROWS_OUT
from ribflow.aggregate.output import PurgeWriter
from ribflow.aggregate.records import RowBuilder
from ribflow.aggregate.settings import AggregatorSettings
from ribflow.aggregate.window import BATCH, MARKER, AggregationWindow, Watermarks
from ribflow.dlq import DeadLetters
from ribflow.kafka.client import KafkaTarget, client_config, quix_connection
from ribflow.logs import RateLimitedLog
from ribflow.metrics import BAD_INPUT
from ribflow.topics import ensure_topics, specs

__all__ = ["COMPONENT", "Aggregator"]

COMPONENT = "aggregator"
log = logging.getLogger(__name__)


class Aggregator:
    """Builds and runs the aggregation app for one :class:`AggregatorSettings`."""

    def __init__(self, settings: AggregatorSettings) -> None:
        self.settings = settings
        self.primitives = settings.primitives()
        self.bins = settings.time_bins()
        self.rows = RowBuilder(
            self.primitives, self.bins, settings.time_source, settings.renormalize
        )
        self.writer = PurgeWriter(
            self.primitives,
            self.bins,
            settings.writer_name,
            since_epoch=settings.timestamps_since_epoch,
        )
        self._rlog = RateLimitedLog(log)
        self._dlq_producer = Producer(client_config(settings, {"linger.ms": 50}))
        self.bad_letters = DeadLetters(
            self._dlq_producer, settings.dlq_topic(settings.flows_enriched_topic), COMPONENT
        )
        self.late_letters = DeadLetters(
            self._dlq_producer, settings.dlq_topic(settings.flows_aggregated_topic), COMPONENT
        )
        self.app = Application(
            **quix_connection(settings),
            consumer_group=settings.group(),
            processing_guarantee=settings.processing_guarantee,
            state_dir=settings.state_dir,
            auto_offset_reset=settings.auto_offset_reset,
            commit_interval=settings.commit_interval,
            loglevel=settings.log_level,
            consumer_extra_config={
                # read the partitions of a backlog interleaved (see FETCH_PARTITION_BYTES)
                "max.partition.fetch.bytes": settings.fetch_partition_bytes,
                "queued.min.messages": 1000,
            },
        )

        # every wall-clock rule asks it first: unread input means behind, not idle (lag.py)
        self.lag = InputLag(
            client_config(settings),
            settings.group(),
            settings.flows_enriched_topic,
            lambda: self.app._consumer,
            settings.auto_offset_reset,
        )

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

    def build(self) -> StreamingDataFrame:
        """Register the pipeline on the app and return its last dataframe."""
        s = self.settings
        layout = s.layout_id()
        source = self.app.topic(
            s.flows_enriched_topic, key_deserializer="bytes", value_deserializer="bytes"
        )
        sink = self.app.topic(
            s.flows_aggregated_topic, key_serializer="bytes", value_serializer="bytes"
        )
        sdf = self.app.dataframe(source)
        sdf = sdf.apply(self._rows, expand=True, metadata=True)
        sdf = sdf.group_by(
            lambda row: row[0].encode(),
            name=f"aggkey-{layout}",
            key_serializer="bytes",
            key_deserializer="bytes",
        )
        backlog = backlog_partitions(s, s.group(), s.flows_enriched_topic, s.auto_offset_reset)
        lag = self.lag
        lag.watch_repartition(sdf.topics[0].name)
        sdf._registry.register_periodic_task(lag.look)
        window = AggregationWindow(
            bins=self.bins,
            dataframe=sdf,
            name=f"aggregate-{layout}",
            on_late=self._on_late,
            watermarks=Watermarks(backlog, s.idle_timeout, behind=lag.behind),
            markers=s.markers,
            idle_flush_s=s.idle_flush_s(),
            caught_up=lag.caught_up,
            multi_values=s.multi_values,
        )
        sdf = window.final()
        sdf = sdf.apply(self._format, metadata=True)
        sdf.to_topic(sink)
        return sdf

    def run(self) -> None:
        self.lag.start()
        try:
            self.app.run()
        finally:
            self.lag.stop()
            self._dlq_producer.flush(10)

    # -- steps ---------------------------------------------------------------------------

    def _rows(self, value: bytes, key: Any, timestamp: int, _headers: Any) -> list[list[Any]]:
        rows = self.rows.rows(value, timestamp, self._on_bad)
        origin = message_context().partition
        for row in rows:
            row.append(origin)  # the input partition: its flow time feeds the watermark
        RECORDS_IN.inc(len(rows))
        return rows

    def _format(self, window: dict[str, Any], key: Any, _ts: int, _headers: Any) -> bytes:
        marker = window.get(MARKER)
        if marker == "purge_init":
            return self.writer.purge_init()
        if marker == "purge_close":
            return self.writer.purge_close(int(window["entries"]))
        batch = window.get(BATCH)
        if batch is not None:  # MULTI_VALUES: newline-separated records in one message
            ROWS_OUT.inc(len(batch))
            purge = self.writer.purge
            return b"\n".join(purge(k.decode(), w["start"], w["value"]) for k, w in batch)
        ROWS_OUT.inc()
        return self.writer.purge(key.decode(), window["start"], window["value"])

    # -- what cannot be aggregated ----------------------------------------------------------

    def _on_bad(self, exc: BadRecord, raw: bytes) -> None:
        BAD_INPUT.labels(component=COMPONENT, reason=exc.reason).inc()
        self._rlog.warning(exc.reason, "flows-enriched record rejected: %s", exc)
        self.bad_letters.send(
            raw, exc.reason, source_topic=self.settings.flows_enriched_topic, detail=exc.detail
        )
        self._dlq_producer.poll(0)

    def _on_late(self, row: list[Any], key: Any, ts_ms: int, flushed_ms: int) -> None:
        LATE.labels(unit="flows").inc(row[2])
        LATE.labels(unit="packets").inc(row[3])
        LATE.labels(unit="bytes").inc(row[4])
        start = self.bins.window_start(ts_ms)
        self._rlog.warning(
            "late",
            "flows for a window already written not aggregated (window start %d ms, "
            "windows written up to %d ms, grace %d ms)",
            start,
            flushed_ms,
            self.bins.grace_ms,
        )
        detail = (
            f"window [{start}, {start + self.bins.window_ms}) already written; windows written "
            f"up to {flushed_ms} ms; grace {self.bins.grace_ms} ms"
        )
        self.late_letters.send(
            _row_json(row), "late", source_topic=self.settings.flows_enriched_topic,
            source_key=key, detail=detail,
        )  # fmt: skip
        self._dlq_producer.poll(0)


def backlog_partitions(broker: KafkaTarget, group: str, topic: str, reset: str) -> list[int]:
    """Input partitions with flows not yet read by ``group``: at start the watermark waits for
    each of them (up to IDLE_TIMEOUT), so that catching up on one cannot make another late."""
    consumer = Consumer(client_config(broker, {"group.id": group}))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        done = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
        lagging = []
        for tp in parts:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            position = done[tp.partition] if done[tp.partition] >= 0 else None
            if position is None:
                position = low if reset == "earliest" else high
            if position < high:
                lagging.append(tp.partition)
        return lagging
    finally:
        consumer.close()


def _row_json(row: list[Any]) -> bytes:
    key, ts_ms, flows, packets, bytes_, origin = row
    return orjson.dumps(
        {"key": key, "ts_ms": ts_ms, "flows": flows, "packets": packets, "bytes": bytes_,
         "input_partition": origin}
    )  # fmt: skip
