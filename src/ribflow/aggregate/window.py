"""The tumbling window the aggregation runs in: Quix windowed state, closed by a watermark.

State: one entry per (key, window) in the Quix windowed store of the partition (RocksDB +
changelog), written through the windowed transaction, so Quix restores it after a crash and,
in exactly-once mode, commits it with the offsets and the output.

When a window is written: after the repartition, one partition receives the rows of every input
partition ("origin"). Their flow times do not advance together: a reader catching up on a
backlog reads partitions at the same byte rate, not the same flow-time rate, so one origin can
run minutes ahead of another. Closing on the latest time seen (Quix's partition closing) would
then turn the lagging origin's flows into late ones (measured: half of a 1M-flow backlog). So
this window closes on a watermark: the lowest of the origins' latest flow times, each origin
counting until it has sent nothing for ``idle_s`` seconds (wall clock; an origin that had a
backlog at start but has not been seen yet counts too, for ``idle_s`` after the first flow).
Both wall-clock rules apply only to an origin without unread input (lag.py): while its input
partition, or the repartition partition its rows travel through, has messages not yet read, an
origin holds the windows however long it has been silent: it is behind, not idle.
A window is written once the watermark passes its end plus the grace period; all windows of
the partition that pass it are written together: a flush.

Late: a flow whose window has already been written (its end is not after the end of the last
flushed window, which Quix keeps in the state) is not aggregated; it goes to ``on_late``. That
test reads persisted state only, so it holds across restarts. (Quix 3.28's own partition
closing decides lateness from a different clock and, with a grace period, accepts a flow for a
flushed window into a copy that is never written: tests/aggregate/test_window_late.py.)

The watermark lives in memory: after a restart it is rebuilt from the flows that follow, which
can only make windows close later, never lose or repeat one.

Idle flush (idle.py): a partition that receives no flow for ``idle_flush_s`` wall seconds has
its watermark moved on at wall-clock speed from its last value, so the last windows of an
exporter that went quiet are written too (pmacct flushes on the wall clock). Same flush, same
state, same late test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from quixstreams.context import message_context
from quixstreams.dataframe.windows.base import Window, _as_windowed
from quixstreams.state.serialization import encode_integer_pair

from ribflow.aggregate.idle import FlushNode, IdleFlusher
from ribflow.aggregate.timebins import TimeBins

if TYPE_CHECKING:
    from quixstreams.dataframe.dataframe import StreamingDataFrame
    from quixstreams.state import WindowedPartitionTransaction
    from quixstreams.state.rocksdb.windowed.transaction import (
        WindowedRocksDBPartitionTransaction,
    )

__all__ = ["BATCH", "MARKER", "AggregationWindow", "LateHandler", "Watermarks"]

#: Key of a window result that is a flush marker, not an aggregate: "purge_init"/"purge_close".
MARKER = "marker"
#: Key of a window result that holds several closed windows for one Kafka message
#: (MULTI_VALUES): a list of (aggregation key, window result) pairs.
BATCH = "batch"

#: on_late(row, key, ts_ms, flushed_end_ms): a row refused because its window was written.
LateHandler = Callable[[list[Any], Any, int, int], None]

WindowKeyResult = tuple[Any, dict[str, Any]]


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


class AggregationWindow(Window):
    """Sums [flows, packets, bytes] of rows ``[key, ts, flows, packets, bytes, origin]``;
    the window is chosen by the row's ``ts`` (the flow's time).

    Message keys are bytes (the aggregation key): they are the store prefix verbatim.
    """

    def __init__(
        self,
        *,
        bins: TimeBins,
        dataframe: StreamingDataFrame,
        name: str,
        on_late: LateHandler,
        watermarks: Watermarks,
        markers: bool = False,
        idle_flush_s: float | None = None,
        caught_up: Callable[[int], bool] = lambda _partition: False,
        multi_values: int = 0,
    ) -> None:
        super().__init__(name=name, dataframe=dataframe)
        self._bins = bins
        self._late = on_late
        self._watermarks = watermarks
        self._markers = markers
        self._idle_flush_s = idle_flush_s
        self._caught_up = caught_up
        self._multi_values = multi_values

    def process_window(
        self,
        value: Any,
        key: Any,
        timestamp_ms: int,
        headers: Any,
        transaction: WindowedPartitionTransaction[Any, Any],
    ) -> tuple[Iterable[WindowKeyResult], Iterable[WindowKeyResult]]:
        bins = self._bins
        tx = cast("WindowedRocksDBPartitionTransaction", transaction)
        timestamp_ms = value[1]  # the flow's time (the Kafka timestamp is the message's)
        start = bins.window_start(timestamp_ms)
        end = start + bins.window_ms
        flushed = tx.get_latest_expired(prefix=b"")
        if end <= flushed:
            self._late(value, key, timestamp_ms, flushed)
            return (), ()
        window_key = encode_integer_pair(start, end)
        counters = tx.get(window_key, prefix=key)
        tx.set(window_key, self._aggregate_value(counters, value, timestamp_ms), prefix=key)

        partition = message_context().partition
        mark = self._watermarks.advance(partition, int(value[5]), timestamp_ms) - bins.grace_ms
        if mark < max(flushed, 0) + bins.window_ms:
            return (), ()
        return (), self.flush(tx, mark)

    def flush(
        self, tx: WindowedRocksDBPartitionTransaction, max_end_ms: int
    ) -> list[WindowKeyResult]:
        """Remove the partition's windows ending at or before ``max_end_ms`` from the state
        and return them (between markers when MARKERS is on); Quix persists the end of the
        last one as "written up to", which makes any later flow for them late."""
        closed: list[WindowKeyResult] = [
            (prefix, self._results(agg, [], w_start, w_end))
            for (w_start, w_end), agg, _, prefix in tx.expire_all_windows(
                max_end_time=max_end_ms, step_ms=self._bins.window_ms, delete=True, collect=False
            )
        ]
        if not closed:
            return closed
        first = closed[0][1]
        if self._multi_values > 1:  # several records per message, like kafka_multi_values
            n = self._multi_values
            closed = [
                (None, {"start": first["start"], "end": first["end"], BATCH: closed[i : i + n]})
                for i in range(0, len(closed), n)
            ]
        if not self._markers:
            return closed
        init = {"start": first["start"], "end": first["end"], "value": None, MARKER: "purge_init"}
        entries = sum(len(w[BATCH]) if BATCH in w else 1 for _, w in closed)
        close = {**init, MARKER: "purge_close", "entries": entries}
        return [(None, init), *closed, (None, close)]

    def final(self) -> StreamingDataFrame:
        """Closed windows only, like Quix's ``final()``; with ``idle_flush_s`` also the windows
        of partitions without flows for that long, on the wall clock (idle.py)."""

        def on_row(
            value: Any, key: Any, timestamp_ms: int, headers: Any, tx: Any
        ) -> Iterable[tuple[Any, Any, int, Any]]:
            _, closed = self.process_window(value, key, timestamp_ms, headers, tx)
            return [(window, k, window["start"], None) for k, window in closed]

        self.register_store()
        sdf = self._dataframe
        func = _as_windowed(
            func=on_row,
            processing_context=sdf.processing_context,
            store_name=self.name,
            stream_id=sdf.stream_id,
        )
        if self._idle_flush_s is None:
            stream = sdf.stream.add_transform(func=func, expand=True)
        else:
            flusher = IdleFlusher(
                dataframe=sdf,
                store_name=self.name,
                watermarks=self._watermarks,
                window_ms=self._bins.window_ms,
                grace_ms=self._bins.grace_ms,
                quiet_s=self._idle_flush_s,
                flush=self.flush,
                caught_up=self._caught_up,
            )
            stream = sdf.stream.add_function(FlushNode(func, flusher))
            # the run loop calls it after every poll, also when a poll returned nothing
            sdf._registry.register_periodic_task(flusher.tick)
        return sdf.__dataframe_clone__(stream=stream)

    # -- Quix's window contract (the aggregation this window does) --------------------------

    @property
    def collect(self) -> bool:
        return False

    @property
    def aggregate(self) -> bool:
        return True

    def _initialize_value(self) -> Any:
        return None

    def _aggregate_value(self, state_value: Any, value: Any, timestamp: Any) -> Any:
        if state_value is None:
            return [value[2], value[3], value[4]]
        return [state_value[0] + value[2], state_value[1] + value[3], state_value[2] + value[4]]

    def _merge_values(self, a: Any, b: Any) -> Any:
        return [a[0] + b[0], a[1] + b[1], a[2] + b[2]]

    def _collect_value(self, value: Any) -> Any:
        return value

    def _results(
        self, aggregated: Any, collected: list[Any], start: int, end: int
    ) -> dict[str, Any]:
        return {"start": start, "end": end, "value": aggregated}
