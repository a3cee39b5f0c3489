"""Partition bookkeeping: indexes follow Quix's store assignments, rebuilt never trusted."""

from __future__ import annotations

from typing import Any

import orjson

from ribflow.enrich.hold import StartupHold
from ribflow.enrich.pipeline import _Sync
from tests.enrich.fakes import Harness
from tests.rib.builders import Stream, attrs, flow, flows_message


class FakeStore:
    """Stands in for QuixStore: assigned partitions and their stored items."""

    def __init__(self) -> None:
        self.assigned: dict[int, Any] = {}
        self.items: dict[int, list[tuple[bytes, bytes, bytes]]] = {}
        self.recovering_now = False

    def partitions(self) -> dict[int, Any]:
        return dict(self.assigned)

    def partition(self, number: int) -> Any:
        return self.assigned.get(number)

    def recovering(self) -> bool:
        return self.recovering_now


def test_tick_loads_new_assignments_and_drops_revoked_ones(monkeypatch: Any) -> None:
    h = Harness()
    s = Stream("r1")
    h.bgp("r1", s.update(["10.0.0.0/8"], attrs=attrs(1)), partition=0)
    store = FakeStore()
    scans: list[int] = []

    def scan(obj: Any) -> list[tuple[bytes, bytes, bytes]]:
        scans.append(obj["n"])
        return h.scan() if obj["n"] == 0 else []

    monkeypatch.setattr("ribflow.enrich.pipeline.QuixStore.scan", staticmethod(scan))
    sync = _Sync(h.enricher, store, h.send, tick_s=0)  # type: ignore[arg-type]
    first = {"n": 0}
    store.assigned = {0: first, 1: {"n": 1}}
    store.recovering_now = True
    sync.tick()
    assert scans == []  # nothing is read while Quix replays changelogs
    store.recovering_now = False
    sync.tick()
    assert sorted(scans) == [0, 1] and set(h.enricher.routers) == {"r1"}
    sync.tick()
    assert sorted(scans) == [0, 1]  # same store objects: no rebuild
    # a rebalance takes partition 0 away and gives it back: a new object, a new rebuild
    store.assigned = {1: store.assigned[1]}
    sync.tick()
    assert h.enricher.routers == {} and h.enricher.partitions() == [1]
    store.assigned[0] = {"n": 0}
    sync.ensure(0)  # the first message of the partition may come before the next tick
    assert set(h.enricher.routers) == {"r1"} and scans.count(0) == 2
    assert len(h.enricher.routers["r1"].rib) == 1


def test_a_new_partition_holds_its_flows_until_the_backlog_or_the_time_limit(
    monkeypatch: Any,
) -> None:
    h = Harness()
    store = FakeStore()
    backlogs = {0: (5, 9), 1: (9, 9)}  # partition 0: offsets 5..8 to apply; 1: caught up
    store.backlog = lambda topic, partition: backlogs[partition]  # type: ignore[attr-defined]
    monkeypatch.setattr("ribflow.enrich.pipeline.QuixStore.scan", staticmethod(lambda obj: []))
    clock = {"now": 0.0}
    hold = StartupHold(15.0, clock=lambda: clock["now"])
    sync = _Sync(h.enricher, store, h.send, tick_s=0, hold=hold, bgp_topic="bgp-updates")  # type: ignore[arg-type]
    store.assigned = {0: {"n": 0}, 1: {"n": 1}}
    sync.tick()
    assert hold.holding(0) and not hold.holding(1)
    msg = orjson.dumps(flows_message("r1", "r1", [flow("10.0.0.1", "10.0.0.2")]))
    assert hold.hold(0, b"r1", msg, 1)
    assert h.out.sent_to("flows-enriched") == []
    clock["now"] = 16.0
    sync.tick()  # the time limit: the held flows are enriched (unrouted here: no RIB)
    assert len(h.out.sent_to("flows-enriched")) == 1 and not hold.holding(0)
