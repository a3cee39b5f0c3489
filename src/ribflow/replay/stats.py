"""Counters of a replay, per router and in total (what the summary reports)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class RouterStats:
    """What happened to one router's flows (record counts unless named otherwise)."""

    partition: int
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
    first_bgp_ms: int = 0  # timestamp of the first BGP message applied in this run (0: none)
    in_checkpoint: bool = False
    history_complete: bool = True


@dataclass(slots=True)
class Totals:
    """Sums over routers plus what belongs to no router."""

    messages: int = 0
    flows: int = 0
    enriched: int = 0
    no_history: int = 0
    empty_rib: int = 0
    unverified: int = 0
    late_flows: int = 0
    late_bgp: int = 0
    forced_bgp: int = 0
    bgp_events: int = 0
    outside_window: int = 0  # flows messages read but stamped outside the window
    unkeyed: int = 0  # messages without a usable router key (sent to the dead-letter topic)

    @classmethod
    def of(cls, routers: dict[str, RouterStats], **extra: int) -> Totals:
        out = cls(**extra)
        names = {f.name for f in fields(cls)} & {f.name for f in fields(RouterStats)}
        for st in routers.values():
            for name in names:
                setattr(out, name, getattr(out, name) + getattr(st, name))
        return out

    @property
    def guarantee_held(self) -> bool:
        return self.unverified == 0 and self.late_bgp == 0
