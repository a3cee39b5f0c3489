"""Applying bgp-updates events to a router's RIB, and reporting each change to a sink.

Rules (the table must never keep routes the router no longer has):

* ordering is per router by ``(epoch, seq)``: an older epoch is stale, a repeated or older seq
  in the current epoch is a duplicate (at-least-once delivery); both are skipped and counted;
* a newer epoch means the bridge restarted and the router is re-sending its table: the old
  routes are flushed first (they may have been withdrawn while nobody listened);
* session ``up`` and ``down`` flush the router's routes at once, like pmacct; End-of-RIB marks
  the family as synced (re-learning after a flap is complete);
* a router has one table per route distinguisher: the global one (unicast and labelled unicast)
  and one per RD of its L3VPN routes; epochs, sessions and flushes apply to all of them;
* in an UPDATE, withdrawals apply before announcements (RFC 4271 order); a re-announcement with
  identical attributes changes nothing and is not reported.

The sink sees every route that is set or deleted and every change of the router's metadata:
the enricher mirrors them into Quix state (the durable copy) and the ``bgp-rib`` table topic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ribflow.rib.attrs import AttrPool, RouteAttrs
from ribflow.rib.errors import BadEvent
from ribflow.rib.events import EorEvent, Event, Nlri, RefreshEvent, SessionEvent, UpdateEvent
from ribflow.rib.table import RouterRib


@dataclass(slots=True)
class RouterMeta:
    """What is known about a router besides its routes (persisted next to them)."""

    router: str
    peer: str = ""
    peer_as: int | None = None
    router_id: str | None = None
    epoch: int = -1
    seq: int = -1
    session: str | None = None
    synced: list[str] = field(default_factory=list)
    last_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "router": self.router,
            "peer": self.peer,
            "peer_as": self.peer_as,
            "router_id": self.router_id,
            "epoch": self.epoch,
            "seq": self.seq,
            "session": self.session,
            "synced": list(self.synced),
            "last_ms": self.last_ms,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RouterMeta:
        return cls(
            router=str(obj.get("router", "")),
            peer=str(obj.get("peer") or ""),
            peer_as=obj.get("peer_as"),
            router_id=obj.get("router_id"),
            epoch=int(obj.get("epoch", -1)),
            seq=int(obj.get("seq", -1)),
            session=obj.get("session"),
            synced=list(obj.get("synced") or []),
            last_ms=int(obj.get("last_ms", 0)),
        )


class ChangeSink(Protocol):
    """Receives every change :func:`apply_event` makes."""

    def routes_set(
        self, router: RouterState, rd: str, attrs: RouteAttrs, paths: list[Nlri]
    ) -> None:
        """``paths`` (``(afi, network, length, path_id)``) of the table of ``rd`` ("" the global
        one) now have ``attrs`` (one call per announcement group)."""
        ...

    def route_deleted(
        self, router: RouterState, afi: int, network: int, length: int, path_id: int, rd: str = ""
    ) -> None:
        """A path left the table of ``rd`` ("" the global table; passed only when not "")."""
        ...

    def meta_changed(self, router: RouterState) -> None: ...


@dataclass(slots=True)
class RouterState:
    """A router's RIB and metadata, as one unit."""

    meta: RouterMeta
    rib: RouterRib  # the global table
    vrfs: dict[str, RouterRib] = field(default_factory=dict)  # RD -> table of its VPN routes

    def table(self, rd: str) -> RouterRib | None:
        """The table of a route distinguisher ("": the global one), None if it has none."""
        return self.vrfs.get(rd) if rd else self.rib

    def vrf(self, rd: str, pool: AttrPool) -> RouterRib:
        """The table of ``rd``, created when new."""
        table = self.vrfs.get(rd)
        if table is None:
            table = self.vrfs[rd] = RouterRib(pool, rd)
        return table

    def tables(self) -> list[RouterRib]:
        """The global table, then the VRF tables."""
        return [self.rib, *self.vrfs.values()]

    def paths(self) -> int:
        """Paths in all tables."""
        return len(self.rib) + sum(len(t) for t in self.vrfs.values())


@dataclass(slots=True)
class ApplyResult:
    """What applying one event did (counters for metrics, errors for the dead-letter topic)."""

    announced: int = 0
    withdrawn: int = 0
    flushed: int = 0
    skipped: str | None = None  # "duplicate" | "stale_epoch"
    seq_gap: int = 0
    new_epoch: bool = False
    errors: list[str] = field(default_factory=list)


def _deleted(
    sink: ChangeSink, state: RouterState, afi: int, network: int, length: int, pid: int, rd: str
) -> None:
    if rd:
        sink.route_deleted(state, afi, network, length, pid, rd)
    else:
        sink.route_deleted(state, afi, network, length, pid)


def flush(state: RouterState, sink: ChangeSink) -> int:
    """Remove every route of the router, in every table (reported to the sink); returns how
    many."""
    count = 0
    for table in state.tables():
        for r in table.clear():
            _deleted(sink, state, r.afi, r.network, r.length, r.path_id, r.rd)
            count += 1
    state.vrfs.clear()
    state.meta.synced = []
    return count


def _sequence(state: RouterState, event: Event, result: ApplyResult, sink: ChangeSink) -> bool:
    """Check ``(epoch, seq)`` order; returns False when the event must be skipped."""
    meta, header = state.meta, event.header
    if header.epoch < meta.epoch:
        result.skipped = "stale_epoch"
        return False
    if header.epoch == meta.epoch:
        if header.seq <= meta.seq:
            result.skipped = "duplicate"
            return False
        result.seq_gap = header.seq - meta.seq - 1
    elif meta.epoch >= 0:
        result.new_epoch = True
        result.flushed += flush(state, sink)
    meta.epoch, meta.seq = header.epoch, header.seq
    meta.last_ms = header.time_ms
    if header.peer:
        meta.peer = header.peer
    if header.peer_as is not None:
        meta.peer_as = header.peer_as
    if header.router_id:
        meta.router_id = header.router_id
    return True


def _apply_update(
    state: RouterState, event: UpdateEvent, pool: AttrPool, sink: ChangeSink, result: ApplyResult
) -> None:
    rib = state.rib
    for afi, network, length, path_id in event.withdraw:
        if rib.withdraw(afi, network, length, path_id) is not None:
            sink.route_deleted(state, afi, network, length, path_id)
            result.withdrawn += 1
    for rd, (afi, network, length, path_id) in event.vpn_withdraw:
        vrf = state.vrfs.get(rd)
        if vrf is not None and vrf.withdraw(afi, network, length, path_id) is not None:
            sink.route_deleted(state, afi, network, length, path_id, rd)
            result.withdrawn += 1
    groups = [(rib, next_hop, nlris) for next_hop, nlris in event.announce]
    groups += [(state.vrf(rd, pool), nh, nlris) for rd, nh, nlris in event.vpn_announce if nlris]
    for table, next_hop, nlris in groups:
        if not nlris:
            continue
        try:
            attrs: RouteAttrs = pool.intern(event.attrs, next_hop)
        except BadEvent as exc:
            result.errors.append(f"{exc.reason}:{exc.detail}"[:200])
            continue
        get, announce = table.get, table.announce
        changed: list[Nlri] = []
        for nlri in nlris:
            if get(*nlri) is not attrs:
                announce(*nlri, attrs)
                changed.append(nlri)
        if changed:
            sink.routes_set(state, table.rd, attrs, changed)
            result.announced += len(changed)
        pool.drop_if_unused(attrs)
    for rd in [rd for rd, vrf in state.vrfs.items() if not len(vrf)]:
        del state.vrfs[rd]  # a VRF whose last route left
    result.errors.extend(event.errors)


def apply_event(state: RouterState, event: Event, pool: AttrPool, sink: ChangeSink) -> ApplyResult:
    """Apply one event to ``state``; every change is reported to ``sink``."""
    result = ApplyResult()
    if not _sequence(state, event, result, sink):
        return result
    if isinstance(event, UpdateEvent):
        _apply_update(state, event, pool, sink, result)
    elif isinstance(event, SessionEvent):
        if event.state in ("up", "down"):
            result.flushed += flush(state, sink)
        state.meta.session = event.state
    elif isinstance(event, EorEvent):
        if event.family not in state.meta.synced:
            state.meta.synced.append(event.family)
    elif isinstance(event, RefreshEvent):
        pass
    sink.meta_changed(state)
    return result
