"""Data sets that arrived before their template, held briefly (Juniper MX sends data first).

A held set keeps the context of the packet it came in (export time, uptime, arrival), so once
the template arrives — later in the same packet or in a later one — its records come out exactly
as if the template had been known. Holding is bounded by number of sets, bytes and age (by
packet arrival time, so an offline capture behaves like live traffic); whatever is dropped is
reported as ``missing-template``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ribflow.flow.templates import TemplateKey


@dataclass(frozen=True, slots=True)
class PacketContext:
    """What a data set's records need from their packet header."""

    exporter: str
    version: int
    domain: int
    received_ms: int
    export_ms: int | None  # the header's export time (time_export_ms)
    anchor_ms: int  # wall clock that uptime-relative times count back from
    uptime_ms: int  # NetFlow v9 sysUpTime (0 for IPFIX)


@dataclass(frozen=True, slots=True)
class HeldSet:
    key: TemplateKey
    body: bytes
    ctx: PacketContext


@dataclass(frozen=True, slots=True)
class PendingLimits:
    max_sets: int = 2048
    max_bytes: int = 8 << 20
    max_age_ms: int = 60_000


class PendingData:
    """FIFO of held data sets with per-template counts, bounded by count, bytes and age."""

    def __init__(self, limits: PendingLimits | None = None) -> None:
        self.limits = limits or PendingLimits()
        self._queue: deque[HeldSet] = deque()
        self._per_key: dict[TemplateKey, int] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    def hold(self, key: TemplateKey, body: bytes, ctx: PacketContext) -> int:
        """Hold a set; returns how many older sets had to be dropped to make room."""
        dropped = 0
        if len(body) > self.limits.max_bytes:
            return 1
        while self._queue and (
            len(self._queue) >= self.limits.max_sets
            or self._bytes + len(body) > self.limits.max_bytes
        ):
            self._pop_oldest()
            dropped += 1
        self._queue.append(HeldSet(key, body, ctx))
        self._per_key[key] = self._per_key.get(key, 0) + 1
        self._bytes += len(body)
        return dropped

    def has(self, key: TemplateKey) -> bool:
        return key in self._per_key

    def take(self, keys: set[TemplateKey]) -> list[HeldSet]:
        """Remove and return the sets waiting for any of ``keys``, in arrival order."""
        keys = {k for k in keys if k in self._per_key}
        if not keys:
            return []
        taken = [h for h in self._queue if h.key in keys]
        self._queue = deque(h for h in self._queue if h.key not in keys)
        for k in keys:
            del self._per_key[k]
        self._bytes -= sum(len(h.body) for h in taken)
        return taken

    def expire(self, now_ms: int) -> int:
        """Drop sets older than the age limit; returns how many."""
        dropped = 0
        horizon = now_ms - self.limits.max_age_ms
        while self._queue and self._queue[0].ctx.received_ms < horizon:
            self._pop_oldest()
            dropped += 1
        return dropped

    def drop_all(self) -> int:
        n = len(self._queue)
        self._queue.clear()
        self._per_key.clear()
        self._bytes = 0
        return n

    def _pop_oldest(self) -> None:
        h = self._queue.popleft()
        self._bytes -= len(h.body)
        left = self._per_key[h.key] - 1
        if left:
            self._per_key[h.key] = left
        else:
            del self._per_key[h.key]
