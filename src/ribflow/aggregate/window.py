"""The Quix tumbling window the aggregation runs in: closed per partition, gated for lateness.

Windows close on the partition's event time (``closing_strategy="partition"``): one flow whose
time passes a window's end plus the grace period flushes every key's window of that partition,
the way a pmacct flush writes the whole cache.

Why a subclass: Quix 3.28's partition closing decides lateness from the end of the last expired
window instead of the latest time seen, so with a grace period a flow for a window that has
already been flushed is accepted into a fresh copy of that window, which is never flushed again:
the flow is lost without being counted as late (tests/aggregate/test_window_late.py shows it).
:class:`AggregationWindow` keeps the partition clock in the windowed state (RocksDB +
changelog, so it survives restarts: ``advance_partition_timestamp``) and refuses such flows
before Quix sees them, handing them to ``on_late``. It also wraps each flush in optional
purge_init / purge_close marker rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from quixstreams.dataframe.windows.aggregations import Reduce
from quixstreams.dataframe.windows.time_based import FixedTimeWindowSingleAggregation

from ribflow.aggregate.timebins import TimeBins

if TYPE_CHECKING:
    from quixstreams.dataframe.dataframe import StreamingDataFrame
    from quixstreams.state import WindowedPartitionTransaction

__all__ = ["MARKER", "AggregationWindow", "LateHandler"]

#: Key of a window result that is a flush marker, not an aggregate: "purge_init"/"purge_close".
MARKER = "marker"

#: on_late(row, key, ts_ms, clock_ms): a row refused because its window has closed.
LateHandler = Callable[[list[Any], Any, int, int], None]

WindowKeyResult = tuple[Any, dict[str, Any]]


def _initial(row: list[Any]) -> list[int]:
    return [row[2], row[3], row[4]]


def _add(counters: list[int], row: list[Any]) -> list[int]:
    return [counters[0] + row[2], counters[1] + row[3], counters[2] + row[4]]


class AggregationWindow(FixedTimeWindowSingleAggregation):
    """Sums [flows, packets, bytes] of rows ``[key, ts, flows, packets, bytes]`` per window."""

    def __init__(
        self,
        *,
        bins: TimeBins,
        dataframe: StreamingDataFrame,
        name: str,
        on_late: LateHandler,
        markers: bool = False,
    ) -> None:
        super().__init__(
            duration_ms=bins.window_ms,
            grace_ms=bins.grace_ms,
            name=name,
            dataframe=dataframe,
            aggregators={"value": Reduce(reducer=_add, initializer=_initial)},
            collectors={},
        )
        self._bins = bins
        self._late = on_late
        self._markers = markers

    def process_window(
        self,
        value: Any,
        key: Any,
        timestamp_ms: int,
        headers: Any,
        transaction: WindowedPartitionTransaction[Any, Any],
    ) -> tuple[Iterable[WindowKeyResult], Iterable[WindowKeyResult]]:
        clock = transaction.advance_partition_timestamp(timestamp_ms)
        if self._bins.is_late(timestamp_ms, clock):
            self._late(value, key, timestamp_ms, clock)
            return (), ()
        updated, expired = super().process_window(
            value=value, key=key, timestamp_ms=timestamp_ms, headers=headers,
            transaction=transaction,
        )  # fmt: skip
        if not self._markers:
            return updated, expired
        closed = list(expired)
        if not closed:
            return updated, closed
        first = closed[0][1]
        init = {"start": first["start"], "end": first["end"], "value": None, MARKER: "purge_init"}
        close = {**init, MARKER: "purge_close", "entries": len(closed)}
        return updated, [(None, init), *closed, (None, close)]

    def final_by_partition(self) -> StreamingDataFrame:
        """Emit each window once, when the partition's time passes its end + grace."""
        return self.final(closing_strategy="partition")
