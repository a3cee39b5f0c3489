"""Idle flush: windows of a partition that stopped receiving flows close on the wall clock.

Only a partition without unread input is quiet: while the broker holds flows the aggregator
has not read yet (lag > 0 on an input partition or on the partition's repartition topic
partition, lag.py), nothing is flushed on the wall clock, however long the partition has gone
without a flow. A backlog is read and aggregated by the flows' own time, never cut short.

Windows close when the watermark (window.py) passes their end + grace, and the watermark only
moves when flows come. When an exporter goes quiet, its last windows would wait forever; pmacct
flushes every ``kafka_refresh_time`` whatever the traffic. So, from the app's run loop (a Quix
periodic task, called after every poll, also when nothing was read), a partition that has
received no flow for ``quiet_s`` wall seconds has its watermark moved on at wall-clock speed
from its last value: ``watermark at the last flow + wall time since``. The windows it passes
(end + grace) are written exactly as a flow-driven flush writes them.

Why from the last watermark and not from the wall-clock date: it keeps the flows' own time
(``TIME_SOURCE``), so flows whose time lags the wall clock (start times, a replay of old
data) do not have their windows closed early; and it needs no clock agreement between the
exporters and this host.

The flush runs on the partition's windowed-state transaction of the current checkpoint: the
window deletions, the "written up to" mark (Quix's latest expired window, persisted) and the
output are committed together, in one Kafka transaction in exactly-once mode, exactly like a
flush triggered by a flow. A flow that comes afterwards for a window already written is late
(counted, dead-lettered), never added to it. After a restart with no traffic, a partition's
watermark is taken as the start of its newest open window (a lower bound of the real one) at
the time the partition was seen, so open windows still close, just not earlier.

Only windows that exist are written: the "written up to" mark moves to the end of the last
window flushed, not to the extrapolated watermark, so a gap in the traffic does not make the
flows after it late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from quixstreams.context import copy_context, set_message_context
from quixstreams.core.stream import TransformFunction, VoidExecutor
from quixstreams.models.messagecontext import MessageContext
from quixstreams.state.rocksdb.windowed.serialization import parse_window_key

if TYPE_CHECKING:
    from quixstreams.core.stream import TransformExpandedCallback
    from quixstreams.dataframe.dataframe import StreamingDataFrame
    from quixstreams.state.rocksdb.windowed.transaction import (
        WindowedRocksDBPartitionTransaction,
    )

    from ribflow.aggregate.window import Watermarks

__all__ = ["CHECK_EVERY_S", "FlushNode", "IdleFlusher", "open_window_ends"]

log = logging.getLogger(__name__)

#: Wall seconds between two looks at the partitions (the run loop calls more often).
CHECK_EVERY_S = 0.5

#: flush(transaction, max_end_ms) -> the (key, window result) pairs it wrote downstream.
Flush = Callable[["WindowedRocksDBPartitionTransaction", int], list[tuple[Any, dict[str, Any]]]]


def open_window_ends(tx: WindowedRocksDBPartitionTransaction) -> list[int]:
    """Distinct end times (ms) of the windows in a partition's state, ascending."""
    return sorted({parse_window_key(key)[2] for key in tx.keys()})  # noqa: SIM118 (not a dict)


class FlushNode(TransformFunction):
    """The window's stream node; also hands the flusher the executor after the window."""

    def __init__(self, func: TransformExpandedCallback, flusher: IdleFlusher) -> None:
        super().__init__(func, expand=True)
        self._flusher = flusher

    def get_executor(self, *child_executors: VoidExecutor) -> VoidExecutor:
        self._flusher.bind_downstream(self._resolve_branching(*child_executors))
        return super().get_executor(*child_executors)


class IdleFlusher:
    """Periodic task: writes the windows of quiet partitions that the wall clock closed."""

    def __init__(
        self,
        *,
        dataframe: StreamingDataFrame,
        store_name: str,
        watermarks: Watermarks,
        window_ms: int,
        grace_ms: int,
        quiet_s: float,
        flush: Flush,
        caught_up: Callable[[int], bool],
    ) -> None:
        self._dataframe = dataframe
        self._store_name = store_name
        self._watermarks = watermarks
        self._clock = watermarks.clock
        self._window_ms = window_ms
        self._grace_ms = grace_ms
        self._quiet_s = quiet_s
        self._flush = flush
        self._caught_up = caught_up
        self._downstream: VoidExecutor | None = None
        self._next_check = 0.0
        self._known: dict[int, float] = {}  # assigned partition -> wall time first seen
        # partition -> (wall time of its last flow when scanned, open window ends then)
        self._ends: dict[int, tuple[float | None, list[int]]] = {}

    def bind_downstream(self, downstream: VoidExecutor) -> None:
        self._downstream = downstream

    def tick(self) -> None:
        """Called by the run loop after every poll; cheap unless a partition is quiet."""
        now = self._clock()
        if now < self._next_check or self._downstream is None:
            return
        self._next_check = now + CHECK_EVERY_S
        state = self._dataframe.processing_context.state_manager
        if state.recovery_required:  # the store is not whole until its changelog is read
            return
        partitions = state.get_store(self._dataframe.stream_id, self._store_name).partitions
        for gone in [p for p in self._known if p not in partitions]:
            del self._known[gone]
            self._ends.pop(gone, None)
            self._watermarks.forget(gone)
        for partition in partitions:
            first_seen = self._known.setdefault(partition, now)
            if now - first_seen < self._quiet_s:
                continue
            if not self._caught_up(partition):  # unread input: behind, not quiet
                continue
            quiet = self._watermarks.quiet_for(partition, now)
            if quiet is not None and quiet < self._quiet_s:
                continue
            copy_context().run(self._check, partition, now, quiet)

    def _check(self, partition: int, now: float, quiet: float | None) -> None:
        tx = self._transaction(partition)
        ends = self._open_ends(tx, partition, quiet)
        if not ends:
            return
        if quiet is None:  # no flow in this run: the newest open window's start, from now on
            self._watermarks.assume(partition, ends[-1] - self._window_ms, self._known[partition])
        mark = self._watermarks.quiet_mark(partition, now)
        if mark is None:
            return
        closing = [end for end in ends if end <= mark - self._grace_ms]
        if not closing:
            return
        set_message_context(
            MessageContext(topic=self._dataframe.topics[0].name, partition=partition,
                           offset=-1, size=0)
        )  # fmt: skip
        written = self._flush(tx, closing[-1])
        downstream = cast(VoidExecutor, self._downstream)
        for key, window in written:
            downstream(window, key, window["start"], None)
        del ends[: len(closing)]
        log.info(
            "idle flush: partition %d quiet for %.1fs, %d windows written up to %d ms",
            partition,
            now - self._known[partition] if quiet is None else quiet,
            sum(1 for key, _ in written if key is not None),  # not the markers
            closing[-1],
        )

    def _open_ends(
        self, tx: WindowedRocksDBPartitionTransaction, partition: int, quiet: float | None
    ) -> list[int]:
        """The partition's open window ends, scanned again only after new flows came."""
        last_flow = self._watermarks.last_flow_at(partition) if quiet is not None else None
        cached = self._ends.get(partition)
        if cached is not None and cached[0] == last_flow:
            return cached[1]
        ends = open_window_ends(tx)
        self._ends[partition] = (last_flow, ends)
        return ends

    def _transaction(self, partition: int) -> WindowedRocksDBPartitionTransaction:
        tx = self._dataframe.processing_context.checkpoint.get_store_transaction(
            stream_id=self._dataframe.stream_id,
            partition=partition,
            store_name=self._store_name,
        )
        return cast("WindowedRocksDBPartitionTransaction", tx)
