"""pmacct's JSON for aggregated records: ``purge`` records and the purge_init/close markers.

An aggregated record has pmacct's keys in pmacct's order: ``event_type`` ("purge"), the chosen
primitives under their output keys, ``stamp_inserted`` (start of the time bin) and
``stamp_updated`` (when the record was written, like pmacct's flush time), ``flows``,
``packets``, ``bytes`` and ``writer_id`` ("name/pid"). Unlike pmacct, ``flows`` is always
written (pmacct writes it only when ``flows`` is in the aggregate list).

Markers follow pmacct's ``print_markers``/``kafka_markers``: ``purge_init`` {event_type,
writer_id} before a flush and ``purge_close`` {event_type, writer_id, purged_entries,
total_entries, duration} after it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from ribflow.aggregate.keys import Key
from ribflow.aggregate.primitives import Primitive
from ribflow.aggregate.timebins import TimeBins, format_stamp

__all__ = ["PurgeWriter"]


class PurgeWriter:
    """Serialises closed windows as pmacct JSON (bytes, ready for Kafka)."""

    def __init__(
        self,
        primitives: tuple[Primitive, ...],
        bins: TimeBins,
        writer_name: str,
        *,
        since_epoch: bool = False,
        clock: Callable[[], float] = time.time,
        pid: int | None = None,
    ) -> None:
        self.output_keys = tuple(p.output_key for p in primitives)
        self.bins = bins
        self.writer_id = f"{writer_name}/{os.getpid() if pid is None else pid}"
        self.since_epoch = since_epoch
        self._clock = clock

    def record(self, key: str, window_start_ms: int, counters: list[int]) -> dict[str, Any]:
        """The purge record of one closed window (``key`` as built by RowBuilder)."""
        values = orjson.loads(key)
        out: dict[str, Any] = {"event_type": "purge"}
        out.update(zip(self.output_keys, values, strict=True))
        out["stamp_inserted"] = format_stamp(
            self.bins.bin_start(window_start_ms) // 1000, self.since_epoch
        )
        out["stamp_updated"] = format_stamp(int(self._clock()), self.since_epoch)
        out["flows"], out["packets"], out["bytes"] = counters
        out["writer_id"] = self.writer_id
        return out

    def purge(self, key: str, window_start_ms: int, counters: list[int]) -> bytes:
        return orjson.dumps(self.record(key, window_start_ms, counters))

    def flush(
        self,
        closed: Iterable[tuple[int, dict[Key, list[int]]]],
        markers: bool = False,
        per_message: int = 0,
    ) -> Iterator[tuple[bytes | None, bytes, int]]:
        """The messages of one flush (windows closed together) as (key, value, records in
        it), one at a time (orjson's output keeps a 4 KB buffer until it is produced). One
        record per message keyed by the aggregation key (JSON array), or, when
        ``per_message`` > 1, up to that many newline-separated records per message without a
        key (kafka_multi_values); between purge_init and purge_close if ``markers``."""
        purge = self.purge
        entries = 0
        if markers:
            yield None, self.purge_init(), 0
        if per_message > 1:
            lines: list[bytes] = []
            for start, sums_by_key in closed:
                for key, sums in sums_by_key.items():
                    lines.append(purge(key, start, sums))
                    if len(lines) == per_message:
                        yield None, b"\n".join(lines), len(lines)
                        entries += len(lines)
                        lines = []
            if lines:
                yield None, b"\n".join(lines), len(lines)
                entries += len(lines)
        else:
            for start, sums_by_key in closed:
                for key, sums in sums_by_key.items():
                    yield key.encode(), purge(key, start, sums), 1
                entries += len(sums_by_key)
        if markers:
            yield None, self.purge_close(entries), 0

    def purge_init(self) -> bytes:
        return orjson.dumps({"event_type": "purge_init", "writer_id": self.writer_id})

    def purge_close(self, entries: int, duration_s: int = 0) -> bytes:
        return orjson.dumps(
            {
                "event_type": "purge_close",
                "writer_id": self.writer_id,
                "purged_entries": entries,
                "total_entries": entries,
                "duration": duration_s,
            }
        )
