"""Replay totals: every per-router count is summed, plus what belongs to no router."""

from __future__ import annotations

from dataclasses import fields

from ribflow.replay.stats import Counts, RouterStats, Totals


def test_totals_sum_every_count_of_every_router() -> None:
    a = RouterStats(partition=0, **{f.name: 1 for f in fields(Counts)})
    b = RouterStats(partition=1, **{f.name: 2 for f in fields(Counts)}, first_bgp_ms=5)
    totals = Totals.of({"a": a, "b": b}, outside_window=4, unkeyed=7)
    assert all(getattr(totals, f.name) == 3 for f in fields(Counts))
    assert (totals.outside_window, totals.unkeyed) == (4, 7)
    assert not totals.guarantee_held  # unverified and late_bgp are not 0
    assert Totals.of({}).guarantee_held
