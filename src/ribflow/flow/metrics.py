"""Prometheus metrics of the flow collector (names ``ribflow_collector_*``).

The hot path counts in plain integers (:class:`Tallies`); :meth:`Tallies.publish` moves them to
Prometheus once per stats interval, so a packet costs no metric-library calls.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from ribflow.metrics import LocalCounts

PACKETS = Counter(
    "ribflow_collector_packets_total", "Export packets received, by detected protocol", ["protocol"]
)
RECORDS = Counter(
    "ribflow_collector_records_total", "Flow records decoded, by protocol", ["protocol"]
)
RECORD_PATHS = Counter(
    "ribflow_collector_record_paths_total",
    "Flow records by the code that wrote their JSON: the compiled codecs (ribflow_lpm) or Python",
    ["path"],
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
DECODE_ERRORS = Counter(
    "ribflow_flow_decode_errors_total",
    "Flow export packets or parts of them that could not be decoded, by reason",
    ["reason"],
)
SFLOW_SKIPPED = Counter(
    "ribflow_sflow_samples_skipped_total",
    "sFlow samples that gave no flow record although well-formed (non-IP packets, ...)",
    ["reason"],
)
TEMPLATES_EXPIRED = Counter(
    "ribflow_collector_templates_expired_total",
    "NetFlow v9/IPFIX templates dropped because their exporter did not send them again within "
    "TEMPLATE_TIMEOUT_S",
)
TEMPLATES_RESTORED = Gauge(
    "ribflow_collector_templates_restored", "Template/sampling entries loaded at start"
)


class Tallies:
    """Per-packet counts kept as plain ints between two publishes (ribflow.metrics.LocalCounts)."""

    def __init__(self) -> None:
        self._counts = LocalCounts()
        self.packets = self._counts.tally(PACKETS)
        self.records = self._counts.tally(RECORDS)
        self.record_paths = self._counts.tally(RECORD_PATHS)  # "compiled" / "python"
        self.counter_samples = self._counts.tally(COUNTER_SAMPLES)  # under the key ""
        self.messages = self._counts.tally(MESSAGES)
        self.denied = self._counts.tally(DENIED)  # by label (bounded: ExporterGate.label)
        self.decode_errors = self._counts.tally(DECODE_ERRORS)
        self.sflow_skipped = self._counts.tally(SFLOW_SKIPPED)
        self.templates_expired = self._counts.tally(TEMPLATES_EXPIRED)  # under the key ""

    def publish(self) -> None:
        self._counts.publish()
