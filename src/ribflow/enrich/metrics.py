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
    """The flow path's counts, kept as plain integers per message and added to their metric
    children (resolved once) every :data:`PUBLISH_EVERY` messages and on :meth:`publish`
    (the app's periodic tick): a Prometheus ``inc`` costs about a microsecond, five per
    flows message showed in profiles."""

    __slots__ = ("_children", "_pending", "counts")

    def __init__(self) -> None:
        self._children = (
            FLOWS.labels(result="enriched"),
            FLOWS.labels(result="no_rib"),
            LOOKUPS.labels(side="src", result="hit"),
            LOOKUPS.labels(side="src", result="miss"),
            LOOKUPS.labels(side="dst", result="hit"),
            LOOKUPS.labels(side="dst", result="miss"),
        )
        self.counts = [0, 0, 0, 0, 0, 0]  # in the order of the children
        self._pending = 0

    def add(self, written: int, enriched: int, src_hits: int, dst_hits: int) -> None:
        """One flows message's records: ``written`` out, ``enriched`` of them with a RIB."""
        c = self.counts
        c[0] += enriched
        c[1] += written - enriched
        c[2] += src_hits
        c[3] += enriched - src_hits
        c[4] += dst_hits
        c[5] += enriched - dst_hits
        self._pending += 1
        if self._pending >= PUBLISH_EVERY:
            self.publish()

    def publish(self) -> None:
        """Add the counts to their metrics."""
        self._pending = 0
        c = self.counts
        for i, child in enumerate(self._children):
            if c[i] > 0:
                child.inc(c[i])
                c[i] = 0


PUBLISH_EVERY = 100  # flows messages between publications of the flow counts


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
