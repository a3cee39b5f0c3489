"""A sliding window of enriched flows: bytes, packets and flows per key of a few dimensions.

Time is cut in buckets (``window / buckets`` seconds each); a record lands in the bucket of its
timestamp and leaves when that bucket falls out of the window. Each dimension keeps per-key
counters per bucket, so the top-N and the per-key sparkline come from the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Record = Mapping[str, Any]
KeyFn = Callable[[Record], str | None]


def _text(value: Any, sep: str = " ") -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return sep.join(str(v) for v in value) or None
    return str(value)


def as_path_key(record: Record) -> str | None:
    """AS path as people read it: "65010 3356 64512" (pmacct joins with "_" in JSON)."""
    path = record.get("as_path")
    if isinstance(path, str):
        return path.replace("_", " ") or None
    return _text(path)


def asn_key(name: str) -> KeyFn:
    """An AS number field; 0 (pmacct's "no route") reads as "0 (unrouted)"."""

    def key(record: Record) -> str | None:
        text = _text(record.get(name))
        return "0 (unrouted)" if text == "0" else text

    return key


def next_hop_key(record: Record) -> str | None:
    text = _text(record.get("peer_ip_dst"))
    return "(none)" if text in ("0.0.0.0", "::") else text


@dataclass(frozen=True)
class Dimension:
    """One ranked panel: its title, the column header of its keys, and how to get the key."""

    title: str
    column: str
    key: KeyFn


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("Top destination ASes", "dst AS", asn_key("as_dst")),
    Dimension("Top AS paths", "AS path", as_path_key),
    Dimension("Top BGP next hops", "next hop", next_hop_key),
    Dimension("Top peer ASes (next AS towards the destination)", "peer AS",
              asn_key("peer_as_dst")),
)


@dataclass
class Counters:
    bytes: int = 0
    packets: int = 0
    flows: int = 0

    def add(self, b: int, p: int, f: int) -> None:
        self.bytes += b
        self.packets += p
        self.flows += f


@dataclass(frozen=True)
class Row:
    """One line of a panel."""

    key: str
    bytes: int
    packets: int
    flows: int
    share: float  # of the window's bytes
    series: tuple[int, ...]  # bytes per bucket, oldest first


@dataclass(frozen=True)
class Snapshot:
    """What a frame shows: totals of the window and the top rows of each dimension."""

    now: float
    window: float
    totals: Counters
    unrouted_bytes: int
    routers: int
    panels: list[tuple[Dimension, list[Row]]]
    series: tuple[int, ...]


@dataclass
class _Bucket:
    totals: Counters = field(default_factory=Counters)
    unrouted: int = 0
    routers: set[str] = field(default_factory=set)
    per_dim: list[dict[str, Counters]] = field(default_factory=list)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class SlidingWindow:
    """Counts records over the last ``window`` seconds in ``buckets`` buckets."""

    def __init__(
        self,
        window: float = 60.0,
        buckets: int = 20,
        dimensions: tuple[Dimension, ...] = DIMENSIONS,
    ) -> None:
        if window <= 0 or buckets < 1:
            raise ValueError("window and bucket count must be positive")
        self.window = window
        self.buckets = buckets
        self.step = window / buckets
        self.dimensions = dimensions
        self._data: dict[int, _Bucket] = {}
        self.ignored = 0  # records outside the window when they arrived

    def _index(self, ts: float) -> int:
        return int(ts // self.step)

    def add(self, record: Record, ts: float, now: float) -> bool:
        """Count ``record`` (time ``ts``, epoch seconds); False when it is outside the window
        (the ``buckets`` buckets ending with the one ``now`` falls in)."""
        idx = self._index(ts)
        if idx < self._index(now) - self.buckets + 1 or ts > now + self.step:
            self.ignored += 1
            return False
        bucket = self._data.get(idx)
        if bucket is None:
            bucket = _Bucket(per_dim=[defaultdict(Counters) for _ in self.dimensions])
            self._data[idx] = bucket
        b, p = _int(record.get("bytes")), _int(record.get("packets"))
        f = _int(record.get("flows")) or 1
        bucket.totals.add(b, p, f)
        if _int(record.get("as_dst")) == 0:
            bucket.unrouted += b
        router = record.get("peer_ip_src") or record.get("router")
        if router:
            bucket.routers.add(str(router))
        for dim, counters in zip(self.dimensions, bucket.per_dim, strict=True):
            key = dim.key(record)
            if key is not None:
                counters[key].add(b, p, f)
        return True

    def evict(self, now: float) -> None:
        oldest = self._index(now - self.window) + 1
        for idx in [i for i in self._data if i < oldest]:
            del self._data[idx]

    def snapshot(self, now: float, top: int = 10) -> Snapshot:
        self.evict(now)
        first = self._index(now) - self.buckets + 1
        order = list(range(first, first + self.buckets))
        totals = Counters()
        unrouted = 0
        routers: set[str] = set()
        series = []
        for idx in order:
            bucket = self._data.get(idx)
            if bucket is None:
                series.append(0)
                continue
            totals.add(bucket.totals.bytes, bucket.totals.packets, bucket.totals.flows)
            unrouted += bucket.unrouted
            routers |= bucket.routers
            series.append(bucket.totals.bytes)
        panels = []
        for d, dim in enumerate(self.dimensions):
            sums: dict[str, Counters] = defaultdict(Counters)
            for idx in order:
                bucket = self._data.get(idx)
                if bucket is not None:
                    for key, c in bucket.per_dim[d].items():
                        sums[key].add(c.bytes, c.packets, c.flows)
            ranked = sorted(sums.items(), key=lambda kv: (-kv[1].bytes, kv[0]))[:top]
            rows = []
            for key, c in ranked:
                per = tuple(
                    self._data[i].per_dim[d][key].bytes
                    if i in self._data and key in self._data[i].per_dim[d]
                    else 0
                    for i in order
                )
                share = c.bytes / totals.bytes if totals.bytes else 0.0
                rows.append(Row(key, c.bytes, c.packets, c.flows, share, per))
            panels.append((dim, rows))
        return Snapshot(now, self.window, totals, unrouted, len(routers), panels, tuple(series))
