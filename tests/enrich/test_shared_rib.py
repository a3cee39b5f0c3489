"""Routers of different partitions announcing the same prefixes, in one enricher: revoking a
partition forgets its routers only, and assigning it again rebuilds them from state while the
other partition's routers keep enriching. Run with both prefix-table implementations (the
compiled tables share one prefix index per process)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.enrich.fakes import Harness
from tests.rib.builders import Stream, attrs, flow, flows_message
from tests.rib.lpm_impl import use_impl

R1, R2 = "127.0.53.1", "127.0.53.2"  # partition 0 and partition 1


@pytest.fixture(params=["pure", "compiled"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    use_impl(str(request.param), monkeypatch)
    return str(request.param)


def _feed(h: Harness) -> None:
    for router, partition, asn in ((R1, 0, 100), (R2, 1, 200)):
        s = Stream(router)
        h.bgp(router, s.session("up"), partition)
        h.bgp(router, s.update(["10.0.0.0/8", "203.0.113.0/24"], attrs=attrs(asn)), partition)
        h.bgp(router, s.update(["10.1.0.0/16"], attrs=attrs(asn + 1)), partition)
        h.bgp(router, s.update(["2001:db8::/32"], next_hop="2001:db8::1", attrs=attrs(asn + 2)),
              partition)  # fmt: skip


def _enriched(h: Harness, router: str, partition: int) -> list[tuple[Any, ...]]:
    before = len(h.out.values("flows-enriched"))
    records = [flow("10.1.2.3", "203.0.113.9"), flow("2001:db8::5", "2001:db9::1", proto=17)]
    h.flows(router, flows_message(router, "127.0.0.1", records), partition)
    out = h.out.values("flows-enriched")[before:]
    return [(o["as_src"], o["mask_src"], o["as_dst"], o["mask_dst"]) for o in out]


def test_revoke_and_assign_with_shared_prefixes(impl: str) -> None:
    h = Harness()
    _feed(h)
    one = [(101, 16, 100, 24), (102, 32, 0, 0)]
    two = [(201, 16, 200, 24), (202, 32, 0, 0)]
    assert _enriched(h, R1, 0) == one
    assert _enriched(h, R2, 1) == two
    store = dict(h.store)
    h.enricher.drop_partition(0)  # revoked
    assert set(h.enricher.routers) == {R2}
    assert _enriched(h, R2, 1) == two
    assert _enriched(h, R1, 0) == [(0, 0, 0, 0), (0, 0, 0, 0)]  # no RIB: passed unenriched
    # assigned again: rebuilt from the partition's state, the other partition untouched
    items = [(p, k, v) for p, k, v in h.scan() if p == R1.encode()]
    assert items and all(k for _, k, _ in items)
    h.store = store
    loaded = h.enricher.load_partition(0, object(), items)
    assert loaded == 4
    assert _enriched(h, R1, 0) == one
    assert _enriched(h, R2, 1) == two
    # a withdrawal by one router does not touch the other's copy of the prefix
    h.bgp(R1, Stream(R1, seq=4).update(withdraw=["10.1.0.0/16"]), 0)
    assert _enriched(h, R1, 0) == [(100, 8, 100, 24), (102, 32, 0, 0)]
    assert _enriched(h, R2, 1) == two
