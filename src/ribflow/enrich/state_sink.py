"""Where the enricher's outputs go: the messages it returns, the durable copy of its RIB changes
in Quix state and the bgp-rib table.

:class:`Messages` is what :meth:`ribflow.enrich.engine.Enricher.on_flows` returns for the app to
produce (enriched records and dead letters).

:class:`StateSink` receives the changes :func:`ribflow.rib.apply.apply_event` makes to one
router's RIB. It collects them into one journal record per message (:mod:`ribflow.enrich.journal`,
the copy the RIB is rebuilt from) written by :meth:`StateSink.finish`, and mirrors each path
into the compacted bgp-rib table topic when configured, in order, a few thousand records per
run of the returned :class:`Messages` (written by the app in one ``produce_keyed`` call: no
Python work per record beyond librdkafka's call).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final, NamedTuple, Protocol

import orjson

from ribflow.enrich.codec import META_KEY, table_key, table_records
from ribflow.enrich.journal import Journal, RecordWriter, journal_key, snapshot
from ribflow.rib.apply import RouterState
from ribflow.rib.attrs import RouteAttrs
from ribflow.rib.events import Nlri

_RECORDS_PER_CALL: Final = 4096  # bgp-rib records held at most (a flush deletes a whole table)


class Output(Protocol):
    """Where the app writes the returned :class:`Messages` (a Kafka producer's adapter): one
    call a run."""

    def produce_many(
        self, topic: str, values: Sequence[bytes | None], key: bytes | None, timestamp: int | None
    ) -> None: ...

    def produce_keyed(
        self, topic: str, records: list[tuple[bytes, bytes | None]], timestamp: int | None
    ) -> None: ...


class KeyedRun(NamedTuple):
    """``(key, value)`` records of one topic and time, in order (a bgp-updates message's
    ``bgp-rib`` records)."""

    topic: str
    records: list[tuple[bytes, bytes | None]]
    timestamp: int | None


class Messages:
    """(topic, key, value) messages a service returns for its app to produce, in order.

    Kept as runs of values sharing topic, key and timestamp: one flows message's enriched
    records are one run (a list the compiled renderer returns as is), so returning messages
    costs no per-record object; ``bgp-rib`` records are :class:`KeyedRun` s. It takes
    :meth:`produce` calls like a producer (dead letters are written into it);
    :attr:`records` counts the enriched flow records.
    """

    __slots__ = ("records", "runs")

    def __init__(self) -> None:
        self.runs: list[tuple[str, bytes | None, Sequence[bytes | None], int | None] | KeyedRun]
        self.runs = []
        self.records = 0

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        """One message (a dead letter, a dump record), as a producer takes it."""
        self.runs.append((topic, key, [value], None))

    def produce_keyed(
        self, topic: str, records: list[tuple[bytes, bytes | None]], timestamp: int | None
    ) -> None:
        self.runs.append(KeyedRun(topic, records, timestamp))

    def __iter__(self) -> Iterator[tuple[str, bytes | None, bytes | None]]:
        for run in self.runs:
            if isinstance(run, KeyedRun):
                for record_key, value in run.records:
                    yield run.topic, record_key, value
            else:
                topic, key, values, _ = run
                for value in values:
                    yield topic, key, value

    def __len__(self) -> int:
        return sum(
            len(run.records) if isinstance(run, KeyedRun) else len(run[2]) for run in self.runs
        )

    def send(self, out: Output) -> int:
        """Produce every message through ``out``, a run a call; returns :attr:`records`."""
        for run in self.runs:
            if isinstance(run, KeyedRun):
                out.produce_keyed(*run)
            else:
                topic, key, values, timestamp = run
                out.produce_many(topic, values, key, timestamp)
        return self.records


class StateLike(Protocol):
    """The part of Quix's ``State`` the enricher writes through."""

    def set_bytes(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class StateSink:
    """Mirrors one message's RIB changes into Quix state (one journal record) and the bgp-rib
    table topic (one record per path)."""

    __slots__ = (
        "_json", "_out", "_records", "_router", "_state", "_table", "_time_ms", "_writer",
    )  # fmt: skip

    def __init__(
        self, state: StateLike, out: Messages, table: str | None, router: str, time_ms: int
    ) -> None:
        self._state, self._out, self._table = state, out, table
        self._router, self._time_ms = router, time_ms
        self._json: tuple[bytes, bytes] | None = None  # router and peer, encoded once
        self._writer = RecordWriter()
        self._records: list[tuple[bytes, bytes | None]] = []  # bgp-rib records not yet written

    def routes_set(
        self, router: RouterState, rd: str, attrs: RouteAttrs, paths: list[Nlri]
    ) -> None:
        self._writer.add_many(rd, attrs.key, paths)
        if self._table:
            if self._json is None:
                self._json = (orjson.dumps(self._router), orjson.dumps(router.meta.peer))
            self._records += table_records(
                *self._json, self._router, rd, attrs.key, paths, self._time_ms
            )
            if len(self._records) >= _RECORDS_PER_CALL:
                self._write_table()

    def route_deleted(
        self, router: RouterState, afi: int, network: int, length: int, path_id: int, rd: str = ""
    ) -> None:
        self._writer.add(rd, b"", afi, network, length, path_id)
        if self._table:
            key = table_key(self._router, (afi, network, length, path_id), rd)
            self._records.append((key, None))
            if len(self._records) >= _RECORDS_PER_CALL:
                self._write_table()

    def meta_changed(self, router: RouterState) -> None:
        self._state.set_bytes(META_KEY, orjson.dumps(router.meta.to_json()))

    def finish(self, journal: Journal, router: RouterState) -> None:
        """Write the message's journal record, or compact the router's journal instead (and
        the bgp-rib records not written yet)."""
        if self._records:
            self._write_table()
        pending = self._writer.entries
        if journal.due(router.paths(), pending):
            for key in journal.keys:
                self._state.delete(key)
            journal.keys, journal.entries, journal.legacy = [], 0, False
            for writer in snapshot(router.tables()):
                self._write(journal, writer)
        elif pending:
            self._write(journal, self._writer)

    def _write_table(self) -> None:
        records, self._records = self._records, []
        self._out.produce_keyed(self._table or "", records, self._time_ms or None)

    def _write(self, journal: Journal, writer: RecordWriter) -> None:
        value = writer.value()
        if value is None:
            return
        key = journal_key(journal.next)
        journal.next += 1
        self._state.set_bytes(key, value)
        journal.keys.append(key)
        journal.entries += writer.entries
