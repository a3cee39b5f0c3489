"""One replay, end to end: plan, output topic, consumer group, checkpoints, run, summary."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ribflow.errors import ConfigError
from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.replay import checkpoint_store as store
from ribflow.replay.errors import OutputTopicError, ReplayError
from ribflow.replay.kafkaio import Reader
from ribflow.replay.output import PinnedOutput, prepare_topic
from ribflow.replay.plan import Plan, make_plan
from ribflow.replay.progress import Progress
from ribflow.replay.quixapp import EndTracker, build_app
from ribflow.replay.ribs import History, make_enricher, replay_config
from ribflow.replay.settings import ReplaySettings
from ribflow.replay.stats import RouterStats, Totals
from ribflow.replay.timeline import PointInTime
from ribflow.replay.window import Window
from ribflow.topics import admin_client, check_copartitioned, dlq_spec, ensure_topics

log = logging.getLogger(__name__)


@dataclass
class Request:
    """What the operator asked for."""

    window: Window
    output: str | None = None  # None: the window's own topic
    append: bool = False
    lateness_ms: int | None = None  # None: from the settings


@dataclass
class Outcome:
    """What a replay did (rendered by :mod:`ribflow.replay.summary`)."""

    plan: Plan
    output: str
    output_status: str
    group: str
    routers: dict[str, RouterStats]
    totals: Totals
    seconds: float
    complete: bool
    flow_messages_read: int
    dead_letters: int
    notes: list[str] = field(default_factory=list)


def _group_busy(broker: KafkaTarget, group: str) -> bool:
    admin = admin_client(broker)  # keep a reference: the futures die with the client
    try:
        futures = admin.describe_consumer_groups([group], request_timeout=15)
        desc = futures[group].result(timeout=30)
    except KafkaException:
        return False
    return bool(desc.members)


def _set_offsets(broker: KafkaTarget, group: str, offsets: list[TopicPartition]) -> None:
    """Commit the replay's start offsets for its (idle) group before Quix joins it."""
    consumer = Consumer(client_config(broker, {"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def run(
    request: Request,
    settings: ReplaySettings,
    stream: TextIO = sys.stderr,
) -> Outcome:
    """Run one replay to the end of its window (raises the errors of :mod:`.errors`)."""
    started = time.monotonic()
    broker = settings
    bgp_topic, flows_topic = settings.bgp_updates_topic, settings.flows_topic
    window = request.window
    lateness = settings.lateness_ms if request.lateness_ms is None else request.lateness_ms
    partitions = check_copartitioned(broker, [bgp_topic, flows_topic])
    existing = admin_client(broker).list_topics(timeout=15).topics
    cp_topic = settings.checkpoint_topic if settings.checkpoint_topic in existing else None
    if cp_topic is not None and len(existing[cp_topic].partitions) != partitions:
        raise ConfigError(f"{cp_topic} is not co-partitioned with {bgp_topic}")
    output = request.output or settings.output_topic(window.label)
    if output in (bgp_topic, flows_topic, cp_topic):
        raise OutputTopicError(f"refusing to write replayed flows into the input topic {output}")
    group = settings.group_id(window.label)
    if _group_busy(broker, group):
        raise ReplayError(
            f"consumer group {group} has members: a replay of this window is running (or one "
            "died less than a session timeout ago)"
        )

    with Reader(broker) as reader:
        plan = make_plan(reader, window, partitions, lateness, bgp_topic, flows_topic, cp_topic)
        status = prepare_topic(
            broker, output, partitions, owned=request.output is None, append=request.append,
            replication=settings.replication_factor,
        )  # fmt: skip
        dlq = settings.dlq_topic(output)
        ensure_topics(broker, [dlq_spec(settings, output)])
        out = PinnedOutput(broker, output)
        writer = settings.writer_id or f"{settings.writer_name}/replay"
        enricher = make_enricher(replay_config(settings, output, dlq, writer))
        histories: dict[int, History] = {}
        for pp in plan.partitions:
            found = pp.checkpoint
            if found is not None:
                loaded = store.Loaded({})
                items = store.load(reader, cp_topic or "", found, loaded)
                enricher.load_partition(pp.partition, found, items)
                histories[pp.partition] = History(found.header.from_start, loaded.complete)
            else:
                histories[pp.partition] = History(pp.history == "topic start")

    pit = PointInTime(enricher, window, histories, out, lateness, settings.max_pending_events)
    tracker = EndTracker(plan)
    progress = Progress(stream, settings.progress, plan.flow_messages)

    def on_progress() -> None:
        progress.update(tracker.read, pit.records, pit.bgp_seen)

    if not tracker.all_done:
        offsets = []
        for pp in plan.partitions:
            offsets.append(TopicPartition(flows_topic, pp.partition, pp.flows_start))
            offsets.append(TopicPartition(bgp_topic, pp.partition, pp.bgp_start))
        _set_offsets(broker, group, offsets)
        app = build_app(
            broker, group, bgp_topic, flows_topic, pit, tracker, on_progress,
            settings.partition_buffer,
        )  # fmt: skip
        log.info("replay %s: group %s, %d flows messages to read", window.describe(), group,
                 plan.flow_messages)  # fmt: skip
        app.run(timeout=settings.idle_timeout)
    pit.finish()
    out.flush()
    progress.close(tracker.read, pit.records, pit.bgp_seen)
    routers = pit.stats()
    totals = Totals.of(routers, outside_window=pit.outside_window, unkeyed=pit.unkeyed)
    notes = [f"partition {p.partition}: {n}" for p in plan.partitions for n in p.notes]
    return Outcome(
        plan=plan,
        output=output,
        output_status=status,
        group=group,
        routers=routers,
        totals=totals,
        seconds=time.monotonic() - started,
        complete=tracker.all_done,
        flow_messages_read=tracker.read,
        dead_letters=out.written_other,
        notes=notes,
    )
