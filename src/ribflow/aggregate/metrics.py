"""Prometheus metrics of the aggregation stage (bad input uses ribflow.metrics.BAD_INPUT)."""

from __future__ import annotations

from prometheus_client import Counter

RECORDS_IN = Counter(
    "ribflow_aggregate_records_total", "flows-enriched records read by the aggregator"
)
ROWS_OUT = Counter(
    "ribflow_aggregate_purged_total", "Aggregated (purge) records written to flows-aggregated"
)
LATE = Counter(
    "ribflow_aggregate_late_total",
    "Flows that arrived after their window closed (end + grace): not aggregated, sent to the "
    "DLQ; by unit (flows, packets, bytes)",
    ["unit"],
)
