"""The start-up hold: a freshly assigned partition's flows wait for its bgp-updates backlog.

After a restart (or any assignment) the RIB is rebuilt from state, then the bgp-updates that
arrived since the last checkpoint are applied. Quix's timestamp alignment orders the two inputs
once both are fetched, but a flows message can still come first (the bgp-updates fetch has not
answered yet). So when a partition is assigned, the bgp-updates high watermark is taken as the
partition's target; its flows messages are kept in memory, in order, until the bgp-updates
message just before the target has been applied, or until ``limit_s`` seconds have passed, and
then enriched. Point in time is kept as timestamp alignment keeps it: before a bgp-updates
message stamped T of a held partition is applied, its held flows stamped at or before T are
enriched (a flow stamped t sees the updates stamped strictly before t, as the replay's rule).
Nothing is lost on a crash meanwhile:
the pipeline defers non-forced checkpoints while flows are held, and releases them before a
forced one (revoke, shutdown).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Held = tuple[Any, Any, int | None]  # key, value, timestamp of a flows message


class StartupHold:
    """Per-partition hold of flows messages until a bgp-updates offset is reached."""

    def __init__(self, limit_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit_s, self._clock = limit_s, clock
        self._target: dict[int, int] = {}
        self._deadline: dict[int, float] = {}
        self._held: dict[int, list[Held]] = {}
        self.started: dict[int, float] = {}  # for the log: when each hold began

    def start(self, partition: int, position: int | None, high: int | None) -> bool:
        """Hold ``partition`` if bgp-updates has a backlog (``position`` < ``high``); returns
        whether it is held. ``position`` None: no committed offset (read from the start)."""
        self._forget(partition)
        if self._limit_s <= 0 or high is None or high <= max(position or 0, 0):
            return False
        now = self._clock()
        self._target[partition] = high
        self._deadline[partition] = now + self._limit_s
        self._held[partition] = []
        self.started[partition] = now
        return True

    def holding(self, partition: int) -> bool:
        return partition in self._target

    def active(self) -> bool:
        """Whether any flows are held (checkpoints wait then)."""
        return any(self._held.values())

    def hold(self, partition: int, key: Any, value: Any, timestamp: int | None) -> bool:
        """Keep a flows message if its partition is held; returns whether it was kept."""
        held = self._held.get(partition)
        if held is None:
            return False
        held.append((key, value, timestamp))
        return True

    def due(self, partition: int, timestamp: int | None) -> list[Held]:
        """Take out the held flows of ``partition`` stamped at or before ``timestamp`` (a
        bgp-updates message stamped so is applied next), in arrival order."""
        held = self._held.get(partition)
        if not held or timestamp is None:
            return []
        due = [h for h in held if h[2] is not None and h[2] <= timestamp]
        if due:
            self._held[partition] = [h for h in held if h[2] is None or h[2] > timestamp]
        return due

    def reached(self, partition: int, offset: int) -> bool:
        """Whether applying bgp-updates ``offset`` reached the partition's target."""
        target = self._target.get(partition)
        return target is not None and offset + 1 >= target

    def expired(self) -> list[int]:
        """Held partitions whose time limit has passed."""
        now = self._clock()
        return [p for p, deadline in self._deadline.items() if deadline <= now]

    def release(self, partition: int) -> list[Held]:
        """End the hold of ``partition``; returns its flows in arrival order."""
        held = self._held.get(partition, [])
        self._forget(partition)
        return held

    def partitions(self) -> list[int]:
        return list(self._target)

    def _forget(self, partition: int) -> None:
        self._target.pop(partition, None)
        self._deadline.pop(partition, None)
        self._held.pop(partition, None)
        self.started.pop(partition, None)
