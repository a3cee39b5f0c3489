"""Counters of a replay, per router and in total (what the summary reports)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class Counts:
    """What happened to flows and BGP events (record counts unless named otherwise)."""

    messages: int = 0  # flows messages of the window
    flows: int = 0  # flow records written
    enriched: int = 0  # records looked up in a non-empty RIB
    no_history: int = 0  # records written unenriched: no BGP history at all at their time
    empty_rib: int = 0  # records written unenriched: the RIB was empty (session down)
    unverified: int = 0  # records whose point-in-time result cannot be vouched for
    late_flows: int = 0  # messages stamped before one already written (beyond the lateness)
    late_bgp: int = 0  # BGP events that arrived after a flow stamped later was written
    forced_bgp: int = 0  # BGP events applied before their time (pending limit reached)
    bgp_events: int = 0  # BGP messages applied


@dataclass(slots=True, kw_only=True)
class RouterStats(Counts):
    """The counts of one router's flows and BGP events."""

    partition: int
    first_bgp_ms: int = 0  # timestamp of the first BGP message applied in this run (0: none)
    in_checkpoint: bool = False
    history_complete: bool = True


@dataclass(slots=True)
class Totals(Counts):
    """Sums over routers plus what belongs to no router."""

    outside_window: int = 0  # flows messages read but stamped outside the window
    unkeyed: int = 0  # messages without a usable router key (sent to the dead-letter topic)

    @classmethod
    def of(cls, routers: dict[str, RouterStats], **extra: int) -> Totals:
        out = cls(**extra)
        for st in routers.values():
            for f in fields(Counts):
                setattr(out, f.name, getattr(out, f.name) + getattr(st, f.name))
        return out

    @property
    def guarantee_held(self) -> bool:
        return self.unverified == 0 and self.late_bgp == 0
