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
from ribflow.kafka.client import client_config
from ribflow.logs import RateLimitedLog
from ribflow.metrics import BAD_INPUT

__all__ = ["COMPONENT", "Letters"]

COMPONENT = "aggregator"
log = logging.getLogger("ribflow.aggregate.pipeline")


class Letters:
    """Bad records -> ``<flows-enriched>-dlq``; late flows -> ``<flows-aggregated>-dlq``."""

    def __init__(self, settings: AggregatorSettings, bins: TimeBins) -> None:
        s = settings
        self.source = s.flows_enriched_topic
        self.bins = bins
        self.producer = Producer(client_config(s, {"linger.ms": 50}))
        self.bad_letters = DeadLetters(self.producer, s.dlq_topic(self.source), COMPONENT)
        self.late_letters = DeadLetters(
            self.producer, s.dlq_topic(s.flows_aggregated_topic), COMPONENT
        )
        self._rlog = RateLimitedLog(log)

    def bad(self, exc: BadRecord, raw: bytes) -> None:
        BAD_INPUT.labels(component=COMPONENT, reason=exc.reason).inc()
        self._rlog.warning(exc.reason, "flows-enriched record rejected: %s", exc)
        self.bad_letters.send(raw, exc.reason, source_topic=self.source, detail=exc.detail)
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
        self._rlog.warning(
            "late",
            "flows for a window already written not aggregated (window start %d ms, "
            "windows written up to %d ms, grace %d ms)",
            start, flushed, grace,
        )  # fmt: skip
        detail = (
            f"window [{start}, {start + self.bins.window_ms}) already written; windows written "
            f"up to {flushed} ms; grace {grace} ms"
        )
        row = {"key": key, "ts_ms": ts_ms, "flows": flows,
               "packets": packets, "bytes": bytes_, "input_partition": partition}  # fmt: skip
        self.late_letters.send(orjson.dumps(row), "late", source_topic=self.source, detail=detail)
        self.producer.poll(0)

    def flush(self, timeout: float) -> None:
        self.producer.flush(timeout)
