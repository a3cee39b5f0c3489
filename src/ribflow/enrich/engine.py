"""The enricher's logic, independent of Quix: apply BGP events, enrich flows, dump RIBs.

The Quix glue (:mod:`ribflow.enrich.pipeline`) hands every input message to
:meth:`Enricher.on_bgp` or :meth:`Enricher.on_flows` together with the message's state (for
BGP) and calls :meth:`Enricher.load_partition` whenever a partition's store is new (after an
assignment, a restart or a rebalance) so the in-memory index is always rebuilt from the durable
state, never trusted from before. Each returns its output messages (:class:`Messages`:
enriched records, bgp-rib table records, dumps, dead letters), which the app produces (the
Quix producer: transactional under exactly-once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from struct import error as struct_error
from typing import Any

import orjson

from ribflow.dlq import DeadLetters
from ribflow.enrich import metrics as m
from ribflow.enrich.codec import META_KEY, parse_route_key, parse_vrf_route_key
from ribflow.enrich.flows import RD, enrich_by_rd, enrich_records
from ribflow.enrich.journal import Journal, parse_journal_key, replay
from ribflow.enrich.pmacct import FlowFormatter, FormatOptions
from ribflow.enrich.pmacct_dump import DumpFormatter
from ribflow.enrich.rdmap import RdMapFollower
from ribflow.enrich.state_sink import Messages, StateLike, StateSink
from ribflow.logs import RateLimitedLog
from ribflow.reject import Rejects
from ribflow.rib.apply import RouterMeta, RouterState, apply_event
from ribflow.rib.attrs import AttrPool
from ribflow.rib.errors import BadEvent
from ribflow.rib.events import parse_event
from ribflow.rib.table import RouterRib

log = logging.getLogger(__name__)
COMPONENT = "enricher"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names the enricher writes to (``rib_table`` None: no bgp-rib table)."""

    enriched: str
    rib_dump: str
    rib_table: str | None
    bgp_dlq: str
    flows_dlq: str
    bgp_in: str = "bgp-updates"
    flows_in: str = "flows"


@dataclass(frozen=True, slots=True)
class EnricherConfig:
    topics: Topics
    formatting: FormatOptions
    batch: bool = False
    dump_interval: int = 60


def router_key(key: Any) -> str | None:
    """The router key of a message, or None when it cannot be one (no key, not UTF-8, '|')."""
    if isinstance(key, bytes):
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif isinstance(key, str):
        text = key
    else:
        return None
    if not text or "|" in text:
        return None
    return text


class Enricher:
    """Per-router RIBs in memory (mirroring state), flow enrichment and periodic dumps."""

    def __init__(
        self,
        config: EnricherConfig,
        clock: Callable[[], float] = time.time,
        rd_map: RdMapFollower | None = None,
    ) -> None:
        self.config = config
        self.rd_map = rd_map
        self._clock = clock
        self.pool = AttrPool()
        self.routers: dict[str, RouterState] = {}
        self.journals: dict[str, Journal] = {}  # what each router's state holds
        self._router_partition: dict[str, int] = {}
        self._partition_routers: dict[int, set[str]] = {}
        self._sources: dict[int, object] = {}
        self._next_dump: dict[str, float] = {}
        self._dump_seq: dict[str, int] = {}
        self.flow_fmt = FlowFormatter(config.formatting)
        # the compiled core's renderer of whole flows messages (None: pure Python, as with
        # RIBFLOW_PURE_LPM=1, or a FIELDS selection); output is byte-identical either way
        self.flow_renderer = self.flow_fmt.compiled_renderer()
        self.dump_fmt = DumpFormatter(config.dump_interval, config.formatting)
        self._rlog = RateLimitedLog(log)
        self._rejects = Rejects(COMPONENT, log, log=self._rlog)
        self._counters = m.FlowCounters()
        self._bgp_counters = m.BgpCounters()

    # -- partitions and rebuilds --------------------------------------------------------------
    def partitions(self) -> list[int]:
        """Partitions whose routers this instance holds."""
        return list(self._sources)

    def partition_source(self, partition: int) -> object | None:
        """The store object the partition's index was built from (identity marks freshness)."""
        return self._sources.get(partition)

    def drop_partition(self, partition: int) -> None:
        """Forget the routers of a partition this instance no longer owns."""
        for router in self._partition_routers.pop(partition, set()):
            state = self.routers.pop(router, None)
            if state is not None:
                for table in state.tables():
                    table.clear()
            self.journals.pop(router, None)
            self._router_partition.pop(router, None)
            self._next_dump.pop(router, None)
        self._sources.pop(partition, None)
        self._update_gauges()

    def load_partition(
        self, partition: int, source: object, items: Iterable[tuple[bytes, bytes, bytes]]
    ) -> int:
        """Rebuild the RIBs of ``partition`` from its stored ``(prefix, key, value)`` items."""
        started = time.perf_counter()
        self.drop_partition(partition)
        self._sources[partition] = source
        for prefix, key, value in items:
            router = router_key(prefix)
            if router is None:
                continue
            if key == META_KEY:
                state = self._router(router, partition)
                try:
                    state.meta = RouterMeta.from_json(orjson.loads(value))
                except (orjson.JSONDecodeError, TypeError, ValueError):
                    self._rlog.warning("bad_meta", "unreadable metadata of router %s", router)
                state.meta.router = router
            elif (counter := parse_journal_key(key)) is not None:
                self._replay(router, partition, counter, value)
            else:
                self._load_legacy(router, partition, key, value)
        loaded = sum(self.routers[r].paths() for r in self._partition_routers.get(partition, ()))
        self.pool.sweep()
        m.REBUILDS.inc()
        m.REBUILD_SECONDS.set(time.perf_counter() - started)
        self._update_gauges()
        log.info(
            "partition %d: RIB rebuilt from state, %d routers, %d paths in %.2fs",
            partition,
            len(self._partition_routers.get(partition, ())),
            loaded,
            time.perf_counter() - started,
        )
        return loaded

    def _replay(self, router: str, partition: int, counter: int, value: bytes) -> None:
        """Apply one journal record of ``router`` (rebuild)."""
        state = self._router(router, partition)
        try:
            entries = replay(value, state, self.pool)
        except (ValueError, struct_error, BadEvent):
            self._rlog.warning("bad_stored_route", "unreadable journal record of %s", router)
            entries = 0
        self.journals[router].seen(counter, entries)

    def _load_legacy(self, router: str, partition: int, key: bytes, value: bytes) -> None:
        """One path stored the old way (a key per path); the router's next message compacts
        its journal, which deletes these keys."""
        rd, parsed = "", parse_route_key(key)
        if parsed is None:
            vrf = parse_vrf_route_key(key)
            if vrf is None:
                return
            rd, parsed = vrf
        try:
            attrs = self.pool.intern_key(value)
        except BadEvent:
            self._rlog.warning("bad_stored_route", "unreadable stored route of %s", router)
            return
        state = self._router(router, partition)
        table = state.vrf(rd, self.pool) if rd else state.rib
        table.announce(*parsed, attrs)
        journal = self.journals[router]
        journal.keys.append(key)
        journal.legacy = True

    def _router(self, router: str, partition: int) -> RouterState:
        state = self.routers.get(router)
        if state is None:
            state = RouterState(RouterMeta(router), RouterRib(self.pool))
            self.routers[router] = state
            self.journals[router] = Journal()
            self._router_partition[router] = partition
            self._partition_routers.setdefault(partition, set()).add(router)
            if self.config.dump_interval:
                self._next_dump[router] = self._clock() + self.config.dump_interval
        return state

    def _update_gauges(self) -> None:
        m.RIB_ROUTERS.set(len(self.routers))
        m.RIB_ROUTES.set(sum(s.paths() for s in self.routers.values()))
        m.ATTR_SETS.set(len(self.pool))

    # -- BGP -----------------------------------------------------------------------------------
    def _reject(
        self, out: Messages, bgp: bool, raw: Any, reason: str, key: Any, detail: str
    ) -> None:
        """Count, log and dead-letter (into ``out``) bad input of bgp-updates or flows."""
        data = raw if isinstance(raw, bytes) else orjson.dumps(raw)
        t = self.config.topics
        source, topic = (t.bgp_in, t.bgp_dlq) if bgp else (t.flows_in, t.flows_dlq)
        dlq = DeadLetters(out, topic, COMPONENT)
        self._rejects.reject(
            data, reason, detail[:1000], message=f"{reason} from {dlq.topic}: {detail[:200]}",
            source_key=key, source_topic=source, dead_letters=dlq,
        )  # fmt: skip

    def on_bgp(
        self, partition: int, key: Any, raw: Any, state: StateLike, timestamp: int | None
    ) -> Messages:
        """Apply one bgp-updates message to its router's RIB (and mirror it into state);
        returns its messages (bgp-rib table records, dead letters)."""
        out = Messages()
        router = router_key(key)
        if router is None:
            self._reject(out, True, raw or b"", "bad_key", key, f"key {key!r}")
            return out
        if not isinstance(raw, bytes | bytearray):
            self._reject(out, True, b"", "empty_message", key, "no value")
            return out
        try:
            event = parse_event(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            self._reject(out, True, bytes(raw), "bad_json", key, str(exc))
            return out
        except BadEvent as exc:
            self._reject(out, True, bytes(raw), exc.reason, key, exc.detail)
            return out
        rs = self._router(router, partition)
        table = self.config.topics.rib_table
        sink = StateSink(state, out, table, router, event.header.time_ms)
        result = apply_event(rs, event, self.pool, sink)
        sink.finish(self.journals[router], rs)
        kind = event.header.kind
        counters = self._bgp_counters
        counters.event(kind, result.skipped or "applied").inc()
        if result.announced:
            counters.announce.inc(result.announced)
        if result.withdrawn:
            counters.withdraw.inc(result.withdrawn)
        if result.flushed:
            counters.flush.inc(result.flushed)
            log.info("router %s: %d paths flushed (%s)", router, result.flushed, kind)
        if result.seq_gap:
            m.SEQ_GAPS.inc(result.seq_gap)
            self._rlog.warning("seq_gap", "router %s: %d updates missing", router, result.seq_gap)
        if hasattr(event, "skipped_families"):
            for family in event.skipped_families:
                m.UNSUPPORTED_FAMILIES.labels(family=family[:40]).inc()
        if result.errors:
            reason = result.errors[0].split(":", 1)[0]
            self._reject(out, True, bytes(raw), reason, key, "; ".join(result.errors[:10]))
        return out

    # -- flows ---------------------------------------------------------------------------------
    def on_flows(self, partition: int, key: Any, raw: Any, timestamp: int | None) -> Messages:
        """Enrich one flows message; returns its messages (enriched records, dead letters)."""
        out = Messages()
        router = router_key(key)
        if router is None:
            self._reject(out, False, raw or b"", "bad_key", key, f"key {key!r}")
            return out
        renderer = self.flow_renderer
        if renderer is not None and self.rd_map is None and type(raw) is bytes:
            rs = self.routers.get(router)
            rib = rs.rib if rs is not None and len(rs.rib) else None
            done = (renderer.render(raw, rib.v4, rib.v6) if rib is not None
                    else renderer.render(raw, None, None))  # fmt: skip
            if done is not None:  # else a message the compiled core leaves to Python
                outputs, src_hits, dst_hits = done
                self._write(out, router, outputs, src_hits, dst_hits,
                            len(outputs) if rib is not None else 0, timestamp)  # fmt: skip
                return out
        try:
            message = orjson.loads(raw)
            records = message["records"]
            if not isinstance(records, list):
                raise TypeError("records is not a list")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            reason = "bad_json" if isinstance(exc, orjson.JSONDecodeError) else "bad_message"
            self._reject(out, False, bytes(raw or b""), reason, key, str(exc))
            return out
        rs = self.routers.get(router)

        def bad(rec: Any, exc: Exception) -> None:
            self._reject(out, False, rec, "bad_record", key, f"{type(exc).__name__}: {exc}")

        if self.rd_map is None and not any(type(r) is dict and r.get(RD) for r in records):
            rib = rs.rib if rs is not None and len(rs.rib) else None
            outputs, src_hits, dst_hits = enrich_records(records, rib, self.flow_fmt, bad)
            enriched = len(outputs) if rib is not None else 0
        else:
            outputs, src_hits, dst_hits, enriched = enrich_by_rd(
                records, rs, self.rd_map, self.flow_fmt, bad
            )
        self._write(out, router, outputs, src_hits, dst_hits, enriched, timestamp)
        return out

    def _write(
        self,
        out: Messages,
        router: str,
        outputs: list[bytes],
        src_hits: int,
        dst_hits: int,
        enriched: int,
        timestamp: int | None,
    ) -> None:
        """Add a message's enriched records to ``out`` and count them."""
        if not outputs:
            return
        topic = self.config.topics.enriched
        values = [b"\n".join(outputs)] if self.config.batch else outputs
        out.runs.append((topic, router.encode(), values, timestamp))
        n = out.records = len(outputs)
        self._counters.add(n, enriched, src_hits, dst_hits)

    # -- dumps ---------------------------------------------------------------------------------
    def dump_due(self) -> Messages:
        """The pmacct-style dumps of every router whose period elapsed (``records``: routes)."""
        out = Messages()
        if not self.config.dump_interval:
            return out
        now = self._clock()
        for router, due in list(self._next_dump.items()):
            if due <= now:
                out.records += self._dump(out, router, int(now * 1000))
                self._next_dump[router] = now + self.config.dump_interval
        return out

    def dump_router(self, router: str, now_ms: int) -> Messages:
        """One router's dump: dump_init, one dump per path (prefix order), dump_close."""
        out = Messages()
        out.records = self._dump(out, router, now_ms)
        return out

    def _dump(self, out: Messages, router: str, now_ms: int) -> int:
        """Add one router's dump to ``out``; returns its routes."""
        state = self.routers.get(router)
        if state is None:
            return 0
        fmt, topic = self.dump_fmt, self.config.topics.rib_dump
        peer = state.meta.peer or router
        seq = max(state.meta.seq, 0)
        key = router.encode()
        out.produce(topic, value=orjson.dumps(fmt.init(peer, seq, now_ms)), key=key)
        entries = 0
        for table in state.tables():
            for route in table.routes(ordered=True):
                value = orjson.dumps(fmt.route(peer, seq, now_ms, route))
                out.produce(topic, value=value, key=key)
                entries += 1
        out.produce(topic, value=orjson.dumps(fmt.close(peer, seq, now_ms, entries)), key=key)
        m.DUMPS.inc()
        return entries

    def publish_counts(self) -> None:
        """Add the flow path's counts to their metrics (the app's tick; else every 100)."""
        self._counters.publish()

    def stats(self) -> dict[str, int]:
        """Counts for logs and tests."""
        return {
            "routers": len(self.routers),
            "paths": sum(s.paths() for s in self.routers.values()),
            "attr_sets": len(self.pool),
        }
