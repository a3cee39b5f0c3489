"""The idle flush's clock: a quiet partition's watermark moves on at wall-clock speed from its
last value (never from the wall-clock date), and IDLE_FLUSH's values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ribflow.aggregate.settings import AggregatorSettings
from ribflow.aggregate.window import Watermarks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_quiet_partition_watermark_moves_with_the_wall_clock() -> None:
    clock = Clock()
    marks = Watermarks([], idle_s=30, clock=clock)
    assert marks.quiet_for(0, clock.now) is None and marks.quiet_mark(0, clock.now) is None
    marks.advance(0, origin=0, ts_ms=50_000)
    marks.advance(0, origin=1, ts_ms=20_000)  # the lagging origin rules: watermark 20 s
    clock.now += 7.5
    assert marks.quiet_for(0, clock.now) == 7.5
    assert marks.quiet_mark(0, clock.now) == 27_500  # 20 s + 7.5 s, not the wall-clock date
    assert marks.quiet_mark(1, clock.now) is None  # partitions are separate
    marks.advance(0, origin=1, ts_ms=60_000)
    assert marks.quiet_for(0, clock.now) == 0
    assert marks.quiet_mark(0, clock.now) == 50_000  # origin 0 is the lowest now


def test_quiet_mark_waits_for_backlog_origins_like_the_watermark() -> None:
    clock = Clock()
    marks = Watermarks([0, 1], idle_s=30, clock=clock)
    assert marks.advance(0, origin=0, ts_ms=80_000) == -1  # origin 1 had a backlog
    clock.now += 10
    assert marks.quiet_mark(0, clock.now) is None  # still waiting for it: nothing closes
    clock.now += 25  # the wait is over (35 s > 30 s since the first flow)
    assert marks.quiet_mark(0, clock.now) == 80_000 + 35_000


def test_assumed_watermark_after_a_restart_without_flows() -> None:
    clock = Clock()
    marks = Watermarks([], idle_s=30, clock=clock)
    marks.assume(3, mark_ms=40_000, at=clock.now)
    clock.now += 12
    assert marks.quiet_mark(3, clock.now) == 52_000
    marks.assume(3, mark_ms=0, at=clock.now)  # only seeds: never moves a known watermark back
    assert marks.quiet_mark(3, clock.now) == 52_000
    marks.advance(3, origin=0, ts_ms=45_000)  # a real flow replaces the assumption
    assert marks.quiet_mark(3, clock.now) == 45_000
    marks.forget(3)
    assert marks.quiet_mark(3, clock.now) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("auto", 60.0 + 10.0), ("AUTO", 70.0), ("off", None), (" 2.5 ", 2.5), ("30", 30.0)],
)
def test_idle_flush_values(value: str, seconds: float | None) -> None:
    settings = AggregatorSettings(IDLE_FLUSH=value, REFRESH_TIME=60, GRACE=10)
    assert settings.idle_flush_s() == seconds


@pytest.mark.parametrize("value", ["0", "-1", "never", "90000"])
def test_idle_flush_refuses(value: str) -> None:
    with pytest.raises(ValidationError, match="IDLE_FLUSH"):
        AggregatorSettings(IDLE_FLUSH=value)
