"""Point-in-time enrichment: each flow sees its router's RIB as it was at the flow's time.

Definitions (times are Kafka timestamps: bgp-updates = event time, flows = export time
bounded by the arrival time, see ``ribflow.flow.record.kafka_time``):

* the RIB of router *R* at time *t* is *R*'s RIB after applying, in order, the longest prefix
  of *R*'s bgp-updates messages (their order in the partition, i.e. ``(epoch, seq)``) that are
  all stamped strictly before *t*: a change stamped *T* applies to flows stamped after *T*;
* a flows message stamped *t* is enriched from that RIB.

How it is done: Quix's timestamp alignment delivers the two topics of a partition merged by
timestamp. BGP messages are not applied when they arrive but queued per router and applied
just before the first of that router's flows stamped after them, so a BGP message stamped
``>= t`` that the merge happened to deliver first (a tie, or a flow that landed late in its
topic) is never seen by the flow at *t*. Flows are held up to ``lateness_ms`` (ordered by
time) so that a router's flows landing slightly out of order are still enriched in order.

What it cannot fix is counted per router, so the summary says whether the guarantee held:
a flow older than one already written (``late_flows``), a BGP message stamped before a flow
already written (``late_bgp``), BGP applied early because too much was queued
(``forced_bgp``), and a RIB not known to derive from complete BGP history.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from ribflow.enrich.engine import Enricher, router_key
from ribflow.enrich.state_sink import Output
from ribflow.replay import metrics as m
from ribflow.replay.ribs import History, apply_bgp
from ribflow.replay.stats import RouterStats
from ribflow.replay.window import Window

Held = tuple[int, int, Any, Any]  # (timestamp, arrival number, key, value)


class _Router:
    __slots__ = ("applied_max", "floor", "held", "max_seen", "name", "pending", "released",
                 "seq", "stats")  # fmt: skip

    def __init__(self, name: str, partition: int, floor: int) -> None:
        self.name = name
        self.stats = RouterStats(partition=partition)
        self.pending: deque[tuple[int, Any, Any]] = deque()
        self.held: list[Held] = []
        self.floor = floor  # time of the newest flow written (window start before any)
        self.max_seen = -1
        self.applied_max = -1  # newest timestamp among the BGP messages applied
        self.released = 0
        self.seq = 0


class PinnedLike(Output, Protocol):
    """An output whose flows go to the partition it is pinned to (replay.output.PinnedOutput)."""

    def pin(self, partition: int) -> None: ...


@dataclass(eq=False)
class PointInTime:
    """Feeds an :class:`Enricher` so that every flow meets the RIB of its own time."""

    enricher: Enricher
    window: Window
    histories: dict[int, History]
    out: PinnedLike  # where the enricher's returned messages go, pinned to their partition
    lateness_ms: int = 2000
    max_pending: int = 500_000

    def __post_init__(self) -> None:
        self._routers: dict[str, _Router] = {}
        self.outside_window = 0
        self.unkeyed = 0
        self.bgp_seen = 0
        self.records = 0
        self._newest: dict[int, int] = {}  # partition -> newest flow timestamp read

    # -- inputs --------------------------------------------------------------------------------
    def on_bgp(self, partition: int, key: Any, raw: Any, ts: int) -> None:
        """Queue one bgp-updates message (applied once its router's flows pass its time)."""
        self.bgp_seen += 1
        name = router_key(key)
        if name is None:
            self.unkeyed += 1
            apply_bgp(self.enricher, self._history(partition), partition, key, raw, ts, self.out)
            return
        r = self._router(name, partition)
        if r.released and ts < r.floor:
            r.stats.late_bgp += 1
            m.ANOMALIES.labels(kind="late_bgp").inc()
        r.pending.append((ts, key, raw))
        self._drain(r, self._limit(r))
        if len(r.pending) > self.max_pending:
            forced = len(r.pending) - self.max_pending
            r.stats.forced_bgp += forced
            m.ANOMALIES.labels(kind="forced_bgp").inc(forced)
            self._apply(r, forced)

    def on_flows(self, partition: int, key: Any, raw: Any, ts: int) -> bool:
        """Take one flows message; returns whether it belongs to the window."""
        if ts not in self.window:
            self.outside_window += 1
            return False
        name = router_key(key)
        if name is None:
            self.unkeyed += 1
            self.out.pin(partition)
            self.enricher.on_flows(partition, key, raw, ts).send(self.out)  # a dead letter
            return True
        if ts > self._newest.get(partition, -1):
            self._newest[partition] = ts
        r = self._router(name, partition)
        r.stats.messages += 1
        if r.released and ts < r.floor:
            r.stats.late_flows += 1
            m.ANOMALIES.labels(kind="late_flows").inc()
            self._emit(r, ts, key, raw)
            return True
        r.seq += 1
        heapq.heappush(r.held, (ts, r.seq, key, raw))
        if ts > r.max_seen:
            r.max_seen = ts
        self._release(r, r.max_seen - self.lateness_ms)
        return True

    def finish(self) -> None:
        """Write every flow still held (end of the window's data)."""
        for r in self._routers.values():
            self._release(r, 2**63)

    # -- results -------------------------------------------------------------------------------
    def stats(self) -> dict[str, RouterStats]:
        out = {}
        for name, r in sorted(self._routers.items()):
            r.stats.history_complete = self._history(r.stats.partition).complete(name)
            out[name] = r.stats
        return out

    def held(self) -> int:
        return sum(len(r.held) for r in self._routers.values())

    # -- internals -----------------------------------------------------------------------------
    def _history(self, partition: int) -> History:
        history = self.histories.get(partition)
        if history is None:
            history = self.histories[partition] = History(True)
        return history

    def _router(self, name: str, partition: int) -> _Router:
        r = self._routers.get(name)
        if r is None:
            r = self._routers[name] = _Router(name, partition, self.window.start_ms)
            r.stats.in_checkpoint = name in self.enricher.routers
        return r

    def _limit(self, r: _Router) -> int:
        """BGP of ``r`` stamped before this can be applied now.

        A router with flows written: the newest of them (no flow of it to come is older, or it
        is late anyway). A router without any yet: the partition's newest flow minus the
        lateness, so a router that exports no flows does not queue its BGP forever; if its
        flows do show up that far behind the partition's, they are counted as unverified.
        """
        if r.released:
            return r.floor
        return max(r.floor, self._newest.get(r.stats.partition, -1) - self.lateness_ms)

    def _apply(self, r: _Router, count: int) -> None:
        history = self._history(r.stats.partition)
        partition = r.stats.partition
        for _ in range(count):
            ts, key, raw = r.pending.popleft()
            apply_bgp(self.enricher, history, partition, key, raw, ts, self.out)
            if ts > r.applied_max:
                r.applied_max = ts
            if not r.stats.first_bgp_ms:
                r.stats.first_bgp_ms = ts
            r.stats.bgp_events += 1

    def _drain(self, r: _Router, before: int) -> None:
        """Apply the queued messages stamped before ``before`` (stopping at the first that is
        not: a router's messages are applied in their order, never skipped)."""
        pending = r.pending
        n = 0
        for ts, _, _ in pending:
            if ts >= before:
                break
            n += 1
        if n:
            self._apply(r, n)

    def _release(self, r: _Router, upto: int) -> None:
        held = r.held
        while held and held[0][0] <= upto:
            ts, _, key, raw = heapq.heappop(held)
            self._emit(r, ts, key, raw)

    def _emit(self, r: _Router, ts: int, key: Any, raw: Any) -> None:
        self._drain(r, ts)
        st = r.stats
        exact = r.applied_max < ts and self._history(st.partition).complete(r.name)
        state = self.enricher.routers.get(r.name)
        self.out.pin(st.partition)
        n = self.enricher.on_flows(st.partition, key, raw, ts).send(self.out)
        st.flows += n
        self.records += n
        if state is None:
            st.no_history += n
            m.FLOWS.labels(result="no_bgp_history").inc(n)
        elif not len(state.rib):
            st.empty_rib += n
            m.FLOWS.labels(result="empty_rib").inc(n)
        else:
            st.enriched += n
            m.FLOWS.labels(result="enriched").inc(n)
        if not exact:
            st.unverified += n
        if ts > r.floor:
            r.floor = ts
        r.released += 1
