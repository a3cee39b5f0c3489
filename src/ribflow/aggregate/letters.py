"""What the aggregator cannot aggregate: bad records and late flows, counted, logged
(rate-limited) and sent to the dead-letter topics; aggregation carries on."""

from __future__ import annotations

import logging

import orjson
from confluent_kafka import Producer

from ribflow.aggregate.errors import BadRecord
from ribflow.aggregate.keys import Key
from ribflow.aggregate.metrics import LATE
from ribflow.aggregate.settings import AggregatorSettings
from ribflow.aggregate.timebins import TimeBins
from ribflow.dlq import DeadLetters
from ribflow.kafka.client import producer_config
from ribflow.kafka.producer import Producer as ProducerLike
from ribflow.reject import Rejects

__all__ = ["COMPONENT", "Letters"]

COMPONENT = "aggregator"
log = logging.getLogger("ribflow.aggregate.pipeline")


class Letters:
    """Bad records -> ``<flows-enriched>-dlq``; late flows -> ``<flows-aggregated>-dlq``, both
    through the one reject path (:class:`ribflow.reject.Rejects`)."""

    def __init__(
        self, settings: AggregatorSettings, bins: TimeBins, producer: ProducerLike | None = None
    ) -> None:
        s = settings
        self.source = s.flows_enriched_topic
        self.bins = bins
        # dead letters are few: their own non-transactional producer, outside the commits
        if producer is None:
            producer = Producer(producer_config(s, "data", linger_ms=50))
        self.producer = producer
        bad_letters = DeadLetters(self.producer, s.dlq_topic(self.source), COMPONENT)
        self.late_letters = DeadLetters(
            self.producer, s.dlq_topic(s.flows_aggregated_topic), COMPONENT
        )
        self.rejects = Rejects(COMPONENT, log, bad_letters, source_topic=self.source)

    def bad(self, exc: BadRecord, raw: bytes) -> None:
        self.rejects.error(exc, raw, message=f"flows-enriched record rejected: {exc}")
        self.producer.poll(0)

    def late(
        self, key: Key, ts_ms: int, counters: tuple[int, int, int], partition: int, flushed: int
    ) -> None:
        """A flow of input ``partition`` for a window already written (up to ``flushed``)."""
        flows, packets, bytes_ = counters
        LATE.labels(unit="flows").inc(flows)
        LATE.labels(unit="packets").inc(packets)
        LATE.labels(unit="bytes").inc(bytes_)
        start = self.bins.window_start(ts_ms)
        grace = self.bins.grace_ms
        message = (
            f"flows for a window already written not aggregated (window start {start} ms, "
            f"windows written up to {flushed} ms, grace {grace} ms)"
        )
        detail = (
            f"window [{start}, {start + self.bins.window_ms}) already written; windows written "
            f"up to {flushed} ms; grace {grace} ms"
        )
        row = {"key": key, "ts_ms": ts_ms, "flows": flows,
               "packets": packets, "bytes": bytes_, "input_partition": partition}  # fmt: skip
        # counted above in flows/packets/bytes (ribflow_aggregate_late_total), not as bad input
        self.rejects.reject(
            orjson.dumps(row), "late", detail, message=message,
            dead_letters=self.late_letters, count=False,
        )  # fmt: skip
        self.producer.poll(0)

    def flush(self, timeout: float) -> None:
        self.producer.flush(timeout)
