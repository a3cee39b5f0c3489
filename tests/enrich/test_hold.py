"""The start-up hold: flows of a new partition wait for its bgp-updates backlog."""

from __future__ import annotations

from ribflow.enrich.hold import StartupHold


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_flows_wait_until_the_backlog_offset_is_applied() -> None:
    hold = StartupHold(15.0, Clock())
    assert hold.start(0, position=40, high=50)
    assert not hold.active()  # nothing held yet: checkpoints go on
    assert hold.hold(0, b"r1", b"f1", 1) and hold.hold(0, b"r1", b"f2", 2)
    assert hold.active()
    assert not hold.hold(1, b"r2", b"f3", 3)  # partition 1 is not held
    assert not hold.reached(0, 48)
    assert hold.reached(0, 49)
    assert hold.release(0) == [(b"r1", b"f1", 1), (b"r1", b"f2", 2)]
    assert not hold.holding(0) and not hold.active()
    assert not hold.hold(0, b"r1", b"f4", 4)  # released: flows pass


def test_no_backlog_or_no_limit_means_no_hold() -> None:
    hold = StartupHold(15.0, Clock())
    assert not hold.start(0, position=50, high=50)  # caught up
    assert not hold.start(1, position=None, high=0)  # empty topic
    assert not hold.start(2, position=None, high=None)  # watermarks unknown
    assert hold.start(3, position=None, high=7)  # no committed offset: read from the start
    assert not StartupHold(0.0, Clock()).start(0, position=0, high=10)


def test_the_hold_times_out() -> None:
    clock = Clock()
    hold = StartupHold(15.0, clock)
    hold.start(0, position=0, high=10)
    clock.now += 14.9
    assert hold.expired() == []
    clock.now += 0.2
    assert hold.expired() == [0]
    hold.release(0)
    assert hold.expired() == [] and hold.partitions() == []


def test_a_new_assignment_restarts_the_hold() -> None:
    hold = StartupHold(15.0, Clock())
    hold.start(0, position=0, high=10)
    hold.hold(0, b"r1", b"f1", 1)
    assert hold.start(0, position=10, high=20)
    assert hold.release(0) == []


def test_held_flows_stamped_up_to_a_bgp_update_go_before_it() -> None:
    """Point in time: a bgp-updates message stamped T is applied after the held flows stamped at
    or before T (they must not see it), the later ones stay held, in arrival order."""
    hold = StartupHold(15.0, Clock())
    assert hold.start(0, position=0, high=10)
    for value, stamp in ((b"f30", 30), (b"f10", 10), (b"fnone", None), (b"f20", 20), (b"f40", 40)):
        hold.hold(0, b"r", value, stamp)
    assert hold.due(0, 5) == []
    assert hold.due(0, 20) == [(b"r", b"f10", 10), (b"r", b"f20", 20)]
    assert hold.due(1, 100) == []  # another partition holds nothing
    assert hold.due(0, None) == []
    assert hold.release(0) == [(b"r", b"f30", 30), (b"r", b"fnone", None), (b"r", b"f40", 40)]
