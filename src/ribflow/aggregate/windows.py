"""The open windows of one input partition, in memory, and what to persist of them.

``open[start][key] = [flows, packets, bytes]``: plain dicts keyed by the window's start (ms)
and the aggregation key (a tuple, keys.py), the sums plain ints. :meth:`PartitionWindows.add`
is the per-record path: a dict lookup per level and three additions, plus one dict store that
remembers the key as changed since the last snapshot (``changed[start][key]`` is the same
list as ``open[start][key]``, so the snapshot takes the sums as they are then).

``flushed`` is the end of the last window written (-1: none): a flow whose window ends at or
before it is late. It is persisted with the windows, so it holds across restarts.

The snapshot (state.py writes it at each commit): for each window changed since the last one,
the changed keys with their current sums, in chunks of at most :data:`CHUNK_ROWS`; each chunk
under a key of its own (``w<start>/<run>/<n>``), remembered in ``chunks[start]`` so that the
chunks are deleted (tombstones) when the window is written. A restore applies a window's
chunks in the order they were written: later sums replace earlier ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from orjson import Fragment

from ribflow.aggregate.keys import Key

__all__ = ["CHUNK_ROWS", "MARK_KEY", "PartitionWindows", "Sums"]

#: [flows, packets, bytes]
Sums = list[int]
#: Keys per snapshot message (a seed-list row is ~300 bytes: well under 1 MB).
CHUNK_ROWS = 1000
#: The state-topic key of a partition's "written up to" mark.
MARK_KEY = b"mark"


class PartitionWindows:
    """Open windows, their changes since the last snapshot, and the written-up-to mark."""

    __slots__ = ("_run", "_seq", "changed", "chunks", "flushed", "mark_dirty", "open", "partition")

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.open: dict[int, dict[Key, Sums]] = {}
        self.changed: dict[int, dict[Key, Sums]] = {}
        self.chunks: dict[int, list[bytes]] = {}
        self.flushed = -1
        self.mark_dirty = False
        self._run = uuid.uuid4().hex[:8]
        self._seq = 0

    def add(self, key: Key, start: int, flows: int, packets: int, bytes_: int) -> None:
        """Add one record to window ``start`` (the caller has checked it is not late)."""
        window = self.open.get(start)
        if window is None:
            window = self.open[start] = {}
        changed = self.changed.get(start)
        if changed is None:
            changed = self.changed[start] = {}
        sums = window.get(key)
        if sums is None:
            window[key] = changed[key] = [flows, packets, bytes_]
        else:
            sums[0] += flows
            sums[1] += packets
            sums[2] += bytes_
            changed[key] = sums

    def first_end(self, window_ms: int) -> int | None:
        """End of the oldest open window (None: none open)."""
        return min(self.open) + window_ms if self.open else None

    def close(self, max_end: int, window_ms: int) -> tuple[list[tuple[int, dict[Key, Sums]]],
                                                            list[bytes]]:  # fmt: skip
        """Remove the windows ending at or before ``max_end``: (their (start, sums by key), in
        time order; the snapshot keys to delete). ``flushed`` moves to the last one's end."""
        starts = sorted(s for s in self.open if s + window_ms <= max_end)
        closed = []
        gone: list[bytes] = []
        for start in starts:
            closed.append((start, self.open.pop(start)))
            self.changed.pop(start, None)
            gone += self.chunks.pop(start, [])
        if starts:
            self.flushed = starts[-1] + window_ms
            self.mark_dirty = True
        return closed, gone

    # -- snapshot ---------------------------------------------------------------------------

    def snapshot(self) -> Iterator[tuple[bytes, bytes]]:
        """(state key, value) of the changes since the last snapshot; clears them."""
        for start, changed in self.changed.items():
            rows = [[Fragment(k), s[0], s[1], s[2]] for k, s in changed.items()]
            for i in range(0, len(rows), CHUNK_ROWS):
                self._seq += 1
                key = f"w{start}/{self._run}/{self._seq}".encode()
                self.chunks.setdefault(start, []).append(key)
                yield key, orjson.dumps({"start": start, "rows": rows[i : i + CHUNK_ROWS]})
        self.changed.clear()
        if self.mark_dirty:
            self.mark_dirty = False
            yield MARK_KEY, orjson.dumps({"flushed": self.flushed})

    @classmethod
    def restore(
        cls, partition: int, records: Iterator[tuple[bytes, bytes | None]], window_ms: int
    ) -> PartitionWindows:
        """The windows of a partition from its state records, in the order written."""
        out = cls(partition)
        live: dict[bytes, Any] = {}  # insertion order = order written (a rewrite moves it)
        for key, value in records:
            if key == MARK_KEY:
                if value is not None:
                    out.flushed = int(orjson.loads(value)["flushed"])
                continue
            live.pop(key, None)
            if value is not None:
                live[key] = orjson.loads(value)
        for key, chunk in live.items():
            start = int(chunk["start"])
            if start + window_ms <= out.flushed:
                continue  # written already (its deletion did not reach the topic): skip
            window = out.open.setdefault(start, {})
            for k, flows, packets, bytes_ in chunk["rows"]:
                window[orjson.dumps(k).decode()] = [flows, packets, bytes_]
            out.chunks.setdefault(start, []).append(key)
        return out
