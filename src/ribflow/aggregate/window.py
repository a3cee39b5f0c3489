"""When a window is written: the watermark of a partition's windows.

A window is written once the watermark passes its end plus the grace period; all windows of
the partition that pass it are written together: a flush (pipeline.py). The aggregator sums
each input partition's records in that partition's windows (no repartition), so a partition's
watermark is its own latest flow time: the aggregator calls :meth:`Watermarks.advance` with
``origin`` = the partition, once per batch, with the batch's latest flow time.

:class:`Watermarks` also serves windows fed by several origins (input partitions whose flow
times do not advance together, e.g. a backlog read at the same byte rate from partitions of
different flow rates): the lowest of the origins' latest flow times, each origin counting
until it has sent nothing for ``idle_s`` seconds (wall clock), and only while it has no unread
input (``behind``, lag.py): an origin with unread input is behind, not idle.

Late: a flow whose window has already been written (its end is not after the end of the last
written window, persisted with the windows) is not aggregated; it is counted and
dead-lettered. (Quix 3.28's own partition closing, with a grace period, accepts a flow for a
flushed window into a copy that is never written: tests/aggregate/test_window_late.py.)

The watermark lives in memory: after a restart it is rebuilt from the flows that follow, which
can only make windows close later, never lose or repeat one.

Idle flush (idle.py): a partition that receives no flow for ``idle_flush_s`` wall seconds has
its watermark moved on at wall-clock speed from its last value, so the last windows of an
exporter that went quiet are written too (pmacct flushes on the wall clock). Same flush, same
late test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

__all__ = ["Watermarks"]


class Watermarks:
    """Per partition: the lowest latest flow time of the origins that are not idle."""

    def __init__(
        self,
        origins: Iterable[int],
        idle_s: float,
        clock: Callable[[], float] = time.monotonic,
        behind: Callable[[int, int], bool] = lambda _partition, _origin: False,
    ) -> None:
        self._expected = tuple(origins)
        self._idle_s = idle_s
        self._clock = clock
        # (partition, origin) -> unread input may still bring rows of origin there (lag.py)
        self._behind = behind
        self._started: float | None = None  # the first flow, not the app's (slow) start-up
        self._waited = not self._expected  # the start-up wait for backlog origins is over
        # partition -> origin -> [latest flow time ms, wall time last seen]
        self._seen: dict[int, dict[int, list[float]]] = {}
        # partition -> (watermark at its last flow, -1 while waiting; wall time of that flow)
        self._last: dict[int, tuple[int, float]] = {}

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def advance(self, partition: int, origin: int, ts_ms: int) -> int:
        """Note a flow of ``origin`` at ``ts_ms``; return the partition's watermark (ms)."""
        now = self._clock()
        if self._started is None:
            self._started = now
        seen = self._seen.get(partition)
        if seen is None:
            seen = self._seen[partition] = {}
        entry = seen.get(origin)
        if entry is None:
            seen[origin] = [ts_ms, now]
        else:
            if ts_ms > entry[0]:
                entry[0] = ts_ms
            entry[1] = now
        if not self._waited:
            behind = self._behind
            waited = now - self._started >= self._idle_s
            if waited and not any(behind(partition, o) for o in self._expected):
                self._waited = True  # the clock is monotonic: never waiting again
            elif any(
                o not in seen and (not waited or behind(partition, o)) for o in self._expected
            ):
                self._last[partition] = (-1, now)
                return -1
        if len(seen) == 1:  # one origin, just seen: it is the only active one
            mark = int(ts_ms if entry is None else entry[0])
        else:
            idle_s = self._idle_s
            behind = self._behind
            active = [
                t for o, (t, last) in seen.items() if now - last < idle_s or behind(partition, o)
            ]
            mark = int(min(active)) if active else int(max(t for t, _ in seen.values()))
        self._last[partition] = (mark, now)
        return mark

    def quiet_for(self, partition: int, now: float) -> float | None:
        """Wall seconds since the partition's last flow; None if none came in this run."""
        last = self._last.get(partition)
        return None if last is None else now - last[1]

    def last_flow_at(self, partition: int) -> float | None:
        """Wall time of the partition's last flow (or of :meth:`assume`)."""
        last = self._last.get(partition)
        return None if last is None else last[1]

    def quiet_mark(self, partition: int, now: float) -> int | None:
        """The partition's watermark moved on at wall-clock speed since its last flow (ms).

        None while it still waits for the input partitions that had a backlog at start (the
        wait that keeps a backlog from making flows late), or before any flow came.
        """
        last = self._last.get(partition)
        if last is None:
            return None
        mark, at = last
        if mark < 0:
            if self._started is not None and now - self._started < self._idle_s:
                return None
            mark = int(min(t for t, _ in self._seen[partition].values()))  # the lowest: safe
        return mark + int((now - at) * 1000)

    def assume(self, partition: int, mark_ms: int, at: float) -> None:
        """Seed a partition no flow has come to in this run (a restart on open windows):
        its watermark was at least ``mark_ms`` at wall time ``at``."""
        self._last.setdefault(partition, (mark_ms, at))

    def forget(self, partition: int) -> None:
        """Drop the idle-flush memory of a partition that was revoked."""
        self._last.pop(partition, None)
