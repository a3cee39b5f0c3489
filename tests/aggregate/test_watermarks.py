"""The watermark that closes windows: the slowest active input partition's flow time."""

from __future__ import annotations

from ribflow.aggregate.window import Watermarks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lowest_of_the_active_origins() -> None:
    clock = Clock()
    marks = Watermarks([], idle_s=30, clock=clock)
    assert marks.advance(0, origin=0, ts_ms=50_000) == 50_000
    assert marks.advance(0, origin=1, ts_ms=20_000) == 20_000  # origin 1 lags: it rules
    assert marks.advance(0, origin=0, ts_ms=90_000) == 20_000
    assert marks.advance(0, origin=1, ts_ms=70_000) == 70_000
    assert marks.advance(0, origin=1, ts_ms=60_000) == 70_000  # never goes back
    assert marks.advance(1, origin=1, ts_ms=5_000) == 5_000  # partitions are separate


def test_an_idle_origin_stops_holding_windows() -> None:
    clock = Clock()
    marks = Watermarks([], idle_s=30, clock=clock)
    marks.advance(0, origin=1, ts_ms=10_000)
    assert marks.advance(0, origin=0, ts_ms=80_000) == 10_000
    clock.now += 31  # origin 1 sent nothing for 31 s
    assert marks.advance(0, origin=0, ts_ms=81_000) == 81_000
    assert marks.advance(0, origin=1, ts_ms=15_000) == 15_000  # back: it counts again


def test_backlog_origins_are_waited_for_at_start() -> None:
    clock = Clock()
    marks = Watermarks([0, 1], idle_s=30, clock=clock)
    assert marks.advance(0, origin=0, ts_ms=80_000) == -1  # origin 1 not seen yet
    assert marks.advance(0, origin=1, ts_ms=20_000) == 20_000
    other = Watermarks([0, 1], idle_s=30, clock=clock)
    other.advance(0, origin=0, ts_ms=80_000)
    clock.now += 31  # origin 1 never came: stop waiting for it
    assert other.advance(0, origin=0, ts_ms=81_000) == 81_000


def test_the_wait_starts_with_the_first_flow_not_with_start_up() -> None:
    clock = Clock()
    marks = Watermarks([0, 1], idle_s=3, clock=clock)
    clock.now += 100  # topics created, partitions assigned, state recovered...
    assert marks.advance(0, origin=1, ts_ms=80_000) == -1  # still waiting for origin 0
    assert marks.advance(0, origin=0, ts_ms=20_000) == 20_000


def test_an_origin_with_unread_input_is_behind_not_idle() -> None:
    clock = Clock()
    behind = {1}  # input partition 1 has flows queued at the broker
    marks = Watermarks([], idle_s=30, clock=clock, behind=lambda _p, origin: origin in behind)
    marks.advance(0, origin=1, ts_ms=10_000)
    clock.now += 300  # silent for 5 minutes of wall time, but not read to its end
    assert marks.advance(0, origin=0, ts_ms=81_000) == 10_000  # it still holds the windows
    behind.clear()  # read to its end: now its silence means idle
    assert marks.advance(0, origin=0, ts_ms=82_000) == 82_000


def test_a_backlog_origin_is_waited_for_while_it_has_unread_input() -> None:
    clock = Clock()
    behind = {1}
    marks = Watermarks([0, 1], idle_s=30, clock=clock, behind=lambda _p, origin: origin in behind)
    assert marks.advance(0, origin=0, ts_ms=80_000) == -1
    clock.now += 600  # far past IDLE_TIMEOUT: still waiting, its flows are queued
    assert marks.advance(0, origin=0, ts_ms=81_000) == -1
    behind.clear()  # read to its end without a flow for this partition: no more waiting
    assert marks.advance(0, origin=0, ts_ms=82_000) == 82_000
