"""The Quix Streams application of the enricher.

``bgp-updates`` and ``flows`` (co-partitioned by router key) are concatenated into one
dataframe, which turns on Quix's timestamp alignment: a flow is processed after the BGP
updates that happened before it. One stateful step sees both: BGP messages change the router's
RIB in memory and in RocksDB state (whose compacted changelog makes it survive restarts and
follow its partition), flow messages are enriched from memory. Before a partition's first
message, and on every loop tick after a (re)assignment, the in-memory index is rebuilt from
the partition's store (see :mod:`ribflow.kafka.quix_adapter`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quixstreams import Application, message_context
from quixstreams.state import State
from quixstreams.state.rocksdb import RocksDBOptions

from ribflow.enrich.engine import Enricher, EnricherConfig, Topics
from ribflow.enrich.hold import StartupHold
from ribflow.enrich.pmacct import FormatOptions
from ribflow.enrich.rdmap import RdMapFollower
from ribflow.enrich.settings import EnricherSettings
from ribflow.enrich.state_sink import Messages
from ribflow.kafka.client import producer_tuning, quix_connection
from ribflow.kafka.quix_adapter import ProducerOutput, QuixStore
from ribflow.topics import TopicSpec, specs

log = logging.getLogger(__name__)


def topics_of(settings: EnricherSettings) -> Topics:
    return Topics(
        enriched=settings.flows_enriched_topic,
        rib_dump=settings.bgp_rib_dump_topic,
        rib_table=settings.bgp_rib_topic if settings.rib_table else None,
        bgp_dlq=settings.dlq_topic(settings.bgp_updates_topic),
        flows_dlq=settings.dlq_topic(settings.flows_topic),
        bgp_in=settings.bgp_updates_topic,
        flows_in=settings.flows_topic,
    )


def output_topic_specs(settings: EnricherSettings, partitions: int) -> list[TopicSpec]:
    """The topics the enricher writes, as the catalogue configures them."""
    t = topics_of(settings)
    names = [t.enriched, t.rib_dump, t.bgp_dlq, t.flows_dlq]
    if t.rib_table:
        names.append(t.rib_table)
    return specs(settings, *names, partitions=partitions)


def config_of(settings: EnricherSettings) -> EnricherConfig:
    fields = settings.field_list()
    # every pmacct option is the setting of the same name (EnrichedFormatSettings and
    # timestamps_since_epoch): a new option is one field in each, read here by name
    named = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(FormatOptions)
        if f.name not in ("writer_id", "fields")
    }
    return EnricherConfig(
        topics=topics_of(settings),
        formatting=FormatOptions(
            **named,
            writer_id=f"{settings.writer_name}/{os.getpid()}",
            fields=tuple(fields) if fields else None,
        ),
        batch=settings.enriched_batch,
        dump_interval=settings.rib_dump_interval,
    )


@dataclass
class EnricherApp:
    """The wired application: run it with :meth:`run`."""

    app: Application
    enricher: Enricher
    store: QuixStore

    def run(self, timeout: float = 0.0) -> None:
        self.app.run(timeout=timeout)

    def stop(self) -> None:
        self.app.stop()


class _Sync:
    """Keeps the enricher's partitions in step with Quix's store assignments (and, with a
    ``hold``, holds a new partition's flows until its bgp-updates backlog is applied)."""

    def __init__(
        self,
        enricher: Enricher,
        store: QuixStore,
        send: Callable[[Messages], None],
        tick_s: float = 1.0,
        hold: StartupHold | None = None,
        bgp_topic: str = "",
    ) -> None:
        self._enricher, self._store, self._send, self._tick_s = enricher, store, send, tick_s
        self._hold, self._bgp_topic = hold, bgp_topic
        self._next = 0.0

    def ensure(self, partition: int) -> None:
        """Rebuild ``partition``'s index if its store is not the one it was built from."""
        current = self._store.partition(partition)
        if current is not None and self._enricher.partition_source(partition) is not current:
            self._load(partition, current)

    def _load(self, partition: int, current: Any) -> None:
        self._enricher.load_partition(partition, current, QuixStore.scan(current))
        if self._hold is None:
            return
        position, high = self._store.backlog(self._bgp_topic, partition)
        if self._hold.start(partition, position, high):
            log.info(
                "partition %d: flows held until bgp-updates offset %d is applied (from %s)",
                partition,
                (high or 0) - 1,
                position,
            )

    def release(self, partition: int, why: str) -> None:
        """End a partition's hold and enrich its held flows."""
        assert self._hold is not None
        started = self._hold.started.get(partition, time.monotonic())
        held = self._hold.release(partition)
        log.info(
            "partition %d: %s after %.1fs, %d held flows messages enriched",
            partition,
            why,
            time.monotonic() - started,
            len(held),
        )
        for key, value, timestamp in held:
            self._send(self._enricher.on_flows(partition, key, value, timestamp))

    def release_all(self) -> None:
        """End every hold (a forced checkpoint is next)."""
        if self._hold is not None:
            for partition in self._hold.partitions():
                self.release(partition, "hold ended early")

    def recovered(self) -> None:
        """A changelog recovery returned: rebuild the recovered partitions now."""
        self._next = 0.0
        self.tick()

    def tick(self) -> None:
        """Periodic task: drop revoked partitions, load new ones, write due RIB dumps."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._tick_s
        if self._hold is not None:
            for partition in self._hold.expired():
                self.release(partition, "hold timed out")
        self._enricher.publish_counts()
        if self._store.recovering():
            return
        assigned = self._store.partitions()
        for partition in self._enricher.partitions():
            if partition not in assigned:
                log.info("partition %d revoked: dropping its routers' RIBs", partition)
                self._enricher.drop_partition(partition)
                if self._hold is not None:
                    self._hold.release(partition)
        for partition, current in assigned.items():
            if self._enricher.partition_source(partition) is not current:
                self._load(partition, current)
        self._send(self._enricher.dump_due())


# Quix's main-loop poll (1 s by default) also runs out after an assignment, and before the
# periodic tick: a restart's recovery and rebuild each waited for it
_POLL_S = 0.1


def consumer_config(settings: EnricherSettings) -> dict[str, Any]:
    """librdkafka options of the enricher's consumer that come from its settings."""
    config: dict[str, Any] = {
        "session.timeout.ms": settings.session_timeout_ms,
        "queued.min.messages": settings.consumer_queued_messages,
        "fetch.wait.max.ms": settings.fetch_wait_max_ms,
    }
    if settings.session_timeout_ms < 10000:
        config["heartbeat.interval.ms"] = max(500, settings.session_timeout_ms // 4)
    if (instance := settings.resolved_group_instance_id()) is not None:
        config["group.instance.id"] = instance
    return config


def build(settings: EnricherSettings, clock: Callable[[], float] = time.time) -> EnricherApp:
    """Create the Quix application, its topics and the enricher (does not start it)."""
    consumer_extra = consumer_config(settings)
    producer_extra = producer_tuning(
        "streaming", streaming=settings, transactional_id=settings.resolved_transactional_id()
    )
    app = Application(
        **quix_connection(settings),
        consumer_group=settings.group_id,
        auto_offset_reset=settings.auto_offset_reset,
        commit_interval=settings.commit_interval,
        processing_guarantee=settings.processing_guarantee,
        state_dir=settings.state_dir,
        consumer_extra_config=consumer_extra,
        producer_extra_config=producer_extra,
        max_partition_buffer_size=settings.max_poll_records_buffer,
        rocksdb_options=RocksDBOptions(
            write_buffer_size=settings.rocksdb_write_buffer_mb << 20,
            max_write_buffer_number=2,
            block_cache_size=settings.rocksdb_block_cache_mb << 20,
        ),
        loglevel=None,
        consumer_poll_timeout=_POLL_S,
    )
    bgp_topic = app.topic(
        settings.bgp_updates_topic, key_deserializer="bytes", value_deserializer="bytes"
    )
    flows_topic = app.topic(
        settings.flows_topic, key_deserializer="bytes", value_deserializer="bytes"
    )
    sdf = app.dataframe(bgp_topic).concat(app.dataframe(flows_topic))
    holder: dict[str, Any] = {}
    bgp_name = bgp_topic.name
    hold = StartupHold(settings.startup_hold_s)

    def process(value: Any, key: Any, timestamp: int, headers: Any, state: State[Any, Any]) -> None:
        ctx = message_context()
        partition = ctx.partition
        sync: _Sync = holder["sync"]
        sync.ensure(partition)
        enricher: Enricher = holder["enricher"]
        if ctx.topic == bgp_name:
            for f_key, f_value, f_time in hold.due(partition, timestamp):
                send(enricher.on_flows(partition, f_key, f_value, f_time))  # before what is later
            send(enricher.on_bgp(partition, key, value, state, timestamp))  # type: ignore[arg-type]
            if hold.reached(partition, ctx.offset):
                sync.release(partition, "bgp-updates backlog applied")
        elif not hold.hold(partition, key, value, timestamp):
            send(enricher.on_flows(partition, key, value, timestamp))

    sdf = sdf.apply(process, stateful=True, metadata=True)
    store = QuixStore(app, sdf)
    rd_map = RdMapFollower(settings.flow_to_rd_map) if settings.flow_to_rd_map else None
    out = ProducerOutput(store.producer())
    enricher = Enricher(config_of(settings), clock=clock, rd_map=rd_map)

    def send(messages: Messages) -> None:
        """Produce the messages the enricher returns (each run of records in one call)."""
        messages.send(out)

    sync = _Sync(enricher, store, send, hold=hold, bgp_topic=bgp_name)
    holder.update(enricher=enricher, sync=sync)
    store.register_periodic(sync.tick)
    store.guard_commits(hold.active, sync.release_all)
    store.quick_recovery(sync.recovered)
    return EnricherApp(app=app, enricher=enricher, store=store)
