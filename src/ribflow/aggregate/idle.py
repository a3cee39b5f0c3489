"""Idle flush: windows of a partition that stopped receiving flows close on the wall clock.

Only a partition without unread input is quiet: while the broker holds flows the aggregator
has not read yet (lag > 0 on the input partition, lag.py), nothing is flushed on the wall
clock, however long the partition has gone without a flow. A backlog is read and aggregated
by the flows' own time, never cut short.

Windows close when the watermark (window.py) passes their end + grace, and the watermark only
moves when flows come. When an exporter goes quiet, its last windows would wait forever; pmacct
flushes every ``kafka_refresh_time`` whatever the traffic. So, from the aggregator's loop
(after every poll, also when nothing was read), a partition that has received no flow for
``quiet_s`` wall seconds has its watermark moved on at wall-clock speed from its last value:
``watermark at the last flow + wall time since``. The windows it passes (end + grace) are
written exactly as a flow-driven flush writes them, in the same commit as everything else.

Why from the last watermark and not from the wall-clock date: it keeps the flows' own time
(``TIME_SOURCE``), so flows whose time lags the wall clock (start times, a replay of old
data) do not have their windows closed early; and it needs no clock agreement between the
exporters and this host.

A flow that comes afterwards for a window already written is late (counted, dead-lettered),
never added to it. After a restart with no traffic, a partition's watermark is taken as the
start of its newest open window (a lower bound of the real one) at the time the partition was
assigned, so restored windows still close, just not earlier.

Only windows that exist are written: the "written up to" mark moves to the end of the last
window flushed, not to the extrapolated watermark, so a gap in the traffic does not make the
flows after it late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ribflow.aggregate.window import Watermarks
from ribflow.aggregate.windows import PartitionWindows

__all__ = ["CHECK_EVERY_S", "IdleFlusher"]

log = logging.getLogger(__name__)

#: Wall seconds between two looks at the partitions (the loop calls more often).
CHECK_EVERY_S = 0.5

#: write(windows, max_end_ms) -> how many records it wrote.
Write = Callable[[PartitionWindows, int], int]


@dataclass(eq=False, kw_only=True)
class IdleFlusher:
    """Writes the windows of quiet partitions that the wall clock closed."""

    watermarks: Watermarks
    window_ms: int
    grace_ms: int
    quiet_s: float
    caught_up: Callable[[int], bool]
    write: Write
    _next_check: float = field(default=0.0, init=False)
    _known: dict[int, float] = field(default_factory=dict, init=False)  # partition -> first seen

    def __post_init__(self) -> None:
        self._clock = self.watermarks.clock

    def tick(self, partitions: dict[int, PartitionWindows]) -> None:
        """Called by the loop after every poll; cheap unless a partition is quiet."""
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_EVERY_S
        for gone in [p for p in self._known if p not in partitions]:
            del self._known[gone]
            self.watermarks.forget(gone)
        for partition, windows in partitions.items():
            first_seen = self._known.setdefault(partition, now)
            if not windows.open or now - first_seen < self.quiet_s:
                continue
            if not self.caught_up(partition):  # unread input: behind, not quiet
                continue
            quiet = self.watermarks.quiet_for(partition, now)
            if quiet is not None and quiet < self.quiet_s:
                continue
            self._check(partition, windows, now, quiet)

    def _check(
        self, partition: int, windows: PartitionWindows, now: float, quiet: float | None
    ) -> None:
        if quiet is None:  # no flow in this run: the newest open window's start, from then on
            self.watermarks.assume(partition, max(windows.open), self._known[partition])
        mark = self.watermarks.quiet_mark(partition, now)
        if mark is None:
            return
        limit = mark - self.grace_ms
        first = windows.first_end(self.window_ms)
        if first is None or first > limit:
            return
        written = self.write(windows, limit)
        log.info(
            "idle flush: partition %d quiet for %.1fs, %d records written up to %d ms",
            partition,
            now - self._known[partition] if quiet is None else quiet,
            written,
            windows.flushed,
        )
