"""What a replay will read, decided before it starts: offsets by time, checkpoints, history.

For every partition *p* (bgp-updates, flows and the checkpoint topic are co-partitioned):

* flows: from the first message stamped ``>= from - lateness`` up to (excluding) the first
  stamped ``>= to + lateness`` (or the end of the partition); flows stamped outside
  ``[from, to)`` within that range are read and skipped;
* bgp-updates: from the ``bgp_offset`` of the latest complete checkpoint whose cut is
  ``<= from``, else from the first retained message. Without a checkpoint, history is complete
  only if nothing was ever deleted (the partition still starts at offset 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ribflow.replay import checkpoint_store as store
from ribflow.replay.kafkaio import Reader, timestamp_of
from ribflow.replay.window import Window, format_time


@dataclass
class PartitionPlan:
    partition: int
    flows_start: int
    flows_end: int  # exclusive
    flows_last: int  # offset of the last message in range (-1: none)
    bgp_start: int
    history: str  # "checkpoint" | "topic start" | "truncated"
    checkpoint: store.Located | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flow_messages(self) -> int:
        return max(0, self.flows_end - self.flows_start)

    @property
    def history_from_start(self) -> bool:
        if self.checkpoint is not None and self.history == "checkpoint":
            return self.checkpoint.header.from_start
        return self.history == "topic start"

    def describe(self) -> str:
        if self.history == "checkpoint" and self.checkpoint is not None:
            h = self.checkpoint.header
            src = f"checkpoint {format_time(h.cut_ms)} ({self.checkpoint.routes} routes)"
        else:
            src = self.history
        return (
            f"partition {self.partition}: flows offsets [{self.flows_start}, {self.flows_end}), "
            f"bgp-updates from offset {self.bgp_start} ({src})"
        )


@dataclass
class Plan:
    window: Window
    lateness_ms: int
    partitions: list[PartitionPlan]

    @property
    def flow_messages(self) -> int:
        return sum(p.flow_messages for p in self.partitions)


def _last_offset(reader: Reader, topic: str, partition: int, start: int, end: int) -> int:
    """Offset of the last real message in ``[start, end)`` (transaction markers have none)."""
    last = -1
    for msg in reader.read(topic, partition, max(start, end - 64), end):
        last = msg.offset() or 0
    return last if last >= 0 else end - 1


def plan_partition(
    reader: Reader,
    partition: int,
    window: Window,
    lateness_ms: int,
    bgp_topic: str,
    flows_topic: str,
    checkpoint_topic: str | None,
) -> PartitionPlan:
    p = partition
    f_low, f_high = reader.watermarks(flows_topic, p)
    start = reader.offset_for_time(flows_topic, p, window.start_ms - lateness_ms)
    end = reader.offset_for_time(flows_topic, p, window.end_ms + lateness_ms)
    f_start = f_high if start is None else start
    f_end = f_high if end is None else max(end, f_start)
    last = _last_offset(reader, flows_topic, p, f_start, f_end) if f_end > f_start else -1
    notes: list[str] = []
    if f_low > 0 and f_start == f_low and f_end > f_start:
        first = reader.read_one(flows_topic, p, f_low)
        if first is not None and timestamp_of(first) > window.start_ms:
            notes.append(
                f"flows before {format_time(timestamp_of(first))} were deleted (retention): the "
                "window's start is not covered"
            )
    b_low, _ = reader.watermarks(bgp_topic, p)
    found = store.find(reader, checkpoint_topic, p, window.start_ms) if checkpoint_topic else None
    if found is not None and found.header.bgp_offset >= b_low:
        history, b_start = "checkpoint", found.header.bgp_offset
    else:
        if found is not None:
            notes.append(
                f"checkpoint {format_time(found.header.cut_ms)} unusable: bgp-updates after it "
                "were deleted (retention shorter than the checkpoint interval?)"
            )
            found = None
        history = "topic start" if b_low == 0 else "truncated"
        b_start = b_low
        if b_low > 0:
            notes.append(
                f"no checkpoint at or before the window and bgp-updates before offset {b_low} "
                "were deleted: RIBs are incomplete until each router's session resets"
            )
    return PartitionPlan(p, f_start, f_end, last, b_start, history, found, notes)


def make_plan(
    reader: Reader,
    window: Window,
    partitions: int,
    lateness_ms: int,
    bgp_topic: str,
    flows_topic: str,
    checkpoint_topic: str | None,
) -> Plan:
    return Plan(
        window,
        lateness_ms,
        [
            plan_partition(reader, p, window, lateness_ms, bgp_topic, flows_topic, checkpoint_topic)
            for p in range(partitions)
        ],
    )
