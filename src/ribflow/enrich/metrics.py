"""The enricher's Prometheus metrics (bad input is counted in ribflow.metrics.BAD_INPUT)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

FLOWS = Counter(
    "ribflow_enricher_flows_total",
    "Flow records written to flows-enriched, by result (enriched, no_rib)",
    ["result"],
)
LOOKUPS = Counter(
    "ribflow_enricher_lookups_total",
    "Longest-prefix lookups, by side (src, dst) and result (hit, miss)",
    ["side", "result"],
)
BGP_EVENTS = Counter(
    "ribflow_enricher_bgp_events_total",
    "bgp-updates messages, by type and outcome (applied, duplicate, stale_epoch)",
    ["type", "outcome"],
)
ROUTE_CHANGES = Counter(
    "ribflow_enricher_route_changes_total",
    "Paths changed in the RIBs, by operation (announce, withdraw, flush)",
    ["op"],
)
SEQ_GAPS = Counter(
    "ribflow_enricher_seq_gap_total", "bgp-updates messages missing between two seq numbers"
)
UNSUPPORTED_FAMILIES = Counter(
    "ribflow_enricher_unsupported_family_total",
    "NLRI groups of families the RIB does not keep (skipped)",
    ["family"],
)
RIB_ROUTES = Gauge("ribflow_enricher_rib_routes", "Paths held in memory, all routers")
RIB_ROUTERS = Gauge("ribflow_enricher_rib_routers", "Routers whose RIB this instance holds")
ATTR_SETS = Gauge("ribflow_enricher_attr_sets", "Distinct interned attribute sets")
REBUILDS = Counter(
    "ribflow_enricher_rib_rebuilds_total", "Partitions whose RIB index was rebuilt from state"
)
REBUILD_SECONDS = Gauge(
    "ribflow_enricher_rib_rebuild_seconds", "Duration of the last RIB rebuild from state"
)
DUMPS = Counter("ribflow_enricher_rib_dumps_total", "RIB dumps written to bgp-rib-dump")


class FlowCounters:
    """The flow path's metric children, resolved once (``labels()`` costs microseconds)."""

    def __init__(self) -> None:
        self.enriched = FLOWS.labels(result="enriched")
        self.no_rib = FLOWS.labels(result="no_rib")
        self.src_hit = LOOKUPS.labels(side="src", result="hit")
        self.src_miss = LOOKUPS.labels(side="src", result="miss")
        self.dst_hit = LOOKUPS.labels(side="dst", result="hit")
        self.dst_miss = LOOKUPS.labels(side="dst", result="miss")


class BgpCounters:
    """The BGP path's metric children, resolved once per label set (a table load is a stream
    of small messages, so ``labels()`` twice per message showed in profiles)."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], Any] = {}
        self.announce = ROUTE_CHANGES.labels(op="announce")
        self.withdraw = ROUTE_CHANGES.labels(op="withdraw")
        self.flush = ROUTE_CHANGES.labels(op="flush")

    def event(self, kind: str, outcome: str) -> Any:
        child = self._events.get((kind, outcome))
        if child is None:
            child = self._events[(kind, outcome)] = BGP_EVENTS.labels(type=kind, outcome=outcome)
        return child
