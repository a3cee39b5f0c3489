"""InputLag's answer from positions and watermarks: lag 0 at the broker, or behind."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from ribflow.aggregate.lag import InputLag, _at_end


class FakeConsumer:
    """The app consumer's local view: assignment, positions, cached high watermarks."""

    def __init__(self, positions: dict[tuple[str, int], int], cached: dict[Any, int]) -> None:
        self.positions = positions
        self.cached = cached

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.positions]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.topic, tp.partition])
                for tp in partitions]  # fmt: skip

    def get_watermark_offsets(self, tp: TopicPartition, timeout: Any = None,
                              cached: bool = False) -> tuple[int, int]:  # fmt: skip
        return (0, self.cached.get((tp.topic, tp.partition), -1))


def test_at_end_uses_the_highest_known_watermark_and_the_committed_offset() -> None:
    c = FakeConsumer({}, {("in", 0): 120})
    tp = TopicPartition("in", 0, 100)
    # the broker said 100, but a fetch since saw 120: behind
    assert not _at_end(c, tp, {("in", 0): (90, 0, 100)}, earliest=True)
    c.cached.clear()
    assert _at_end(c, TopicPartition("in", 0, 100), {("in", 0): (90, 0, 100)}, True)
    assert not _at_end(c, TopicPartition("in", 0, 99), {("in", 0): (90, 0, 100)}, True)
    # nothing read in this run: the group's committed offset stands for the position
    assert _at_end(c, TopicPartition("in", 0, -1001), {("in", 0): (100, 0, 100)}, True)
    assert not _at_end(c, TopicPartition("in", 0, -1001), {("in", 0): (40, 0, 100)}, True)
    # nothing committed either: where AUTO_OFFSET_RESET starts
    assert not _at_end(c, TopicPartition("in", 0, -1001), {("in", 0): (-1001, 0, 100)}, True)
    assert _at_end(c, TopicPartition("in", 0, -1001), {("in", 0): (-1001, 0, 100)}, False)
    assert not _at_end(c, tp, {}, True)  # not answered by the broker yet: behind


def test_each_input_partition_is_behind_until_read_to_its_end() -> None:
    consumer = FakeConsumer({("in", 0): 10, ("in", 1): 5}, {})
    lag = InputLag({}, "g", "in", lambda: consumer, clock=lambda: 0.0)
    assert lag.source_behind(0) and lag.source_behind(1)  # nothing looked at yet: behind
    lag._broker = {("in", 0): (0, 0, 10), ("in", 1): (0, 0, 9)}
    lag.look()
    assert not lag.source_behind(0)
    assert lag.source_behind(1)  # 4 unread messages
    consumer.positions[("in", 1)] = 9
    lag._next_look = 0.0
    lag.look()
    assert not lag.source_behind(0) and not lag.source_behind(1)
    consumer.cached[("in", 0)] = 11  # a message fetched, not read yet
    lag._next_look = 0.0
    lag.look()
    assert lag.source_behind(0) and not lag.source_behind(1)
