"""Prometheus metrics of the flow collector (names ``ribflow_collector_*``).

The hot path counts in plain integers (:class:`Tallies`); :meth:`Tallies.publish` moves them to
Prometheus once per stats interval, so a packet costs no metric-library calls.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge

PACKETS = Counter(
    "ribflow_collector_packets_total", "Export packets received, by detected protocol", ["protocol"]
)
RECORDS = Counter(
    "ribflow_collector_records_total", "Flow records decoded, by protocol", ["protocol"]
)
COUNTER_SAMPLES = Counter(
    "ribflow_collector_sflow_counter_samples_total", "sFlow counter samples decoded"
)
REJECTED = Counter(
    "ribflow_collector_rejected_packets_total",
    "Packets that gave nothing usable (sent to the dead-letter topic), by reason",
    ["reason"],
)
PARTIAL = Counter(
    "ribflow_collector_partial_errors_total",
    "Problems in packets that were partly decoded, by reason",
    ["reason"],
)
DENIED = Counter(
    "ribflow_collector_denied_packets_total",
    "Export packets dropped before decoding because their source is not an allowed exporter "
    "(ALLOWED_EXPORTERS / ALLOWED_EXPORTERS_FILE), by source address (the first "
    "DENIED_SOURCE_LABELS sources; later ones as 'other')",
    ["source"],
)
MESSAGES = Counter("ribflow_collector_messages_total", "Kafka messages produced", ["topic"])
SKEWED = Counter(
    "ribflow_collector_skewed_export_time_total",
    "Flows messages stamped with the arrival time because the export time was more than "
    "MAX_EXPORT_SKEW_MS away from it",
)
DROPPED = Counter(
    "ribflow_collector_dropped_records_total",
    "Flow records dropped by the collector itself (BACKPRESSURE=drop with Kafka's queue full)",
    ["reason"],
)
BLOCKED_SECONDS = Counter(
    "ribflow_collector_backpressure_seconds_total",
    "Time the receive loop waited for room in Kafka's local queue (BACKPRESSURE=block)",
)
DELIVERY_FAILED = Counter(
    "ribflow_collector_delivery_failures_total",
    "Messages Kafka did not take (after librdkafka's retries), by topic",
    ["topic"],
)
DLQ_SUPPRESSED = Counter(
    "ribflow_collector_dead_letters_suppressed_total",
    "Rejected packets counted but not written to the dead-letter topic (DLQ_MAX_PER_SECOND)",
)
UDP_DROPS = Counter(
    "ribflow_collector_udp_receive_drops_total",
    "Datagrams the kernel dropped on a listener (receive buffer full), from /proc/net/udp",
    ["listener"],
)
UDP_QUEUE = Gauge(
    "ribflow_collector_udp_receive_queue_bytes",
    "Bytes waiting in a listener's kernel receive buffer",
    ["listener"],
)
UDP_RCVBUF = Gauge(
    "ribflow_collector_udp_receive_buffer_bytes",
    "Receive buffer the kernel granted a listener",
    ["listener"],
)
KAFKA_QUEUE = Gauge(
    "ribflow_collector_kafka_queue_messages", "Messages waiting in the producer's local queue"
)
TEMPLATE_WRITES = Counter(
    "ribflow_collector_template_writes_total",
    "Template/sampling state changes written to the flow-templates topic",
)
TEMPLATES_RESTORED = Gauge(
    "ribflow_collector_templates_restored", "Template/sampling entries loaded at start"
)


def protocol_of(data: bytes) -> str:
    """Label of the export protocol a packet claims (for metrics only; decoding decides)."""
    if len(data) < 4:
        return "unknown"
    if data[0] == 0:
        v = data[1]
        if v == 9:
            return "netflow9"
        if v == 10:
            return "ipfix"
        if v == 5:
            return "netflow5"
        if v == 0 and data[2] == 0 and data[3] == 5:
            return "sflow"
    return "unknown"


class Tallies:
    """Per-packet counts kept as plain ints between two publishes."""

    def __init__(self) -> None:
        self.packets: Tally[str] = Tally()
        self.records: Tally[str] = Tally()
        self.counter_samples = 0
        self.messages: Tally[str] = Tally()
        self.denied: Tally[str] = Tally()  # by metric label (bounded, see ExporterGate.label)

    def publish(self) -> None:
        for proto, n in self.packets.items():
            PACKETS.labels(proto).inc(n)
        for proto, n in self.records.items():
            RECORDS.labels(proto).inc(n)
        for topic, n in self.messages.items():
            MESSAGES.labels(topic).inc(n)
        for source, n in self.denied.items():
            DENIED.labels(source).inc(n)
        if self.counter_samples:
            COUNTER_SAMPLES.inc(self.counter_samples)
        self.packets.clear()
        self.records.clear()
        self.messages.clear()
        self.denied.clear()
        self.counter_samples = 0
