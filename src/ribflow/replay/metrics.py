"""Prometheus metrics of the replay (bad input is counted in ribflow.metrics.BAD_INPUT)."""

from __future__ import annotations

from prometheus_client import Counter

FLOWS = Counter(
    "ribflow_replay_flows_total",
    "Replayed flow records written, by result (enriched, empty_rib, no_bgp_history)",
    ["result"],
)
ANOMALIES = Counter(
    "ribflow_replay_anomalies_total",
    "What weakens the point-in-time guarantee, by kind (late_flows, late_bgp, forced_bgp)",
    ["kind"],
)
