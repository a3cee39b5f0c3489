"""Count locally, publish now and then (ribflow.metrics.LocalCounts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from ribflow.metrics import LocalCounts


def test_tallies_reach_their_counters_only_on_publish() -> None:
    registry = CollectorRegistry()
    plain = Counter("t_plain_total", "no label", registry=registry)
    by_kind = Counter("t_kind_total", "one label", ["kind"], registry=registry)
    counts = LocalCounts()
    p, k = counts.tally(plain), counts.tally(by_kind)
    p[""] += 3
    k["a"] += 2
    k["b"] += 1
    assert registry.get_sample_value("t_plain_total") == 0
    assert registry.get_sample_value("t_kind_total", {"kind": "a"}) is None
    counts.publish()
    assert registry.get_sample_value("t_plain_total") == 3
    assert registry.get_sample_value("t_kind_total", {"kind": "a"}) == 2
    assert registry.get_sample_value("t_kind_total", {"kind": "b"}) == 1
    assert not p and not k  # cleared: the next publish adds only what came since
    k["a"] += 1
    counts.publish()
    counts.publish()
    assert registry.get_sample_value("t_kind_total", {"kind": "a"}) == 3
