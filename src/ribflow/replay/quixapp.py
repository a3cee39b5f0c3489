"""The replay's Quix Streams application: bgp-updates ``concat`` flows, timestamp-aligned.

``concat`` makes Quix deliver each partition's messages of both topics merged by timestamp;
the one stateless step hands them to :class:`~ribflow.replay.timeline.PointInTime`. The app
has a consumer group of its own whose offsets the runner sets before it starts. Flows are read
up to each partition's end offset; when every partition got there the app stops itself.
Partitions that are done are paused so the live tail behind the window is not read for
nothing (through :func:`ribflow.kafka.quix_adapter.pause`, the adapter to Quix internals).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import TopicPartition
from quixstreams import Application, message_context

from ribflow.kafka import quix_adapter
from ribflow.kafka.client import quix_connection
from ribflow.kafka.settings import KafkaClientSettings
from ribflow.replay.plan import Plan
from ribflow.replay.timeline import PointInTime

log = logging.getLogger(__name__)


class EndTracker:
    """Which partitions have had every flows message of their range processed."""

    def __init__(self, plan: Plan) -> None:
        self.start = {p.partition: p.flows_start for p in plan.partitions}
        self.end = {p.partition: p.flows_end for p in plan.partitions}
        self.last = {p.partition: p.flows_last for p in plan.partitions}
        self.position = dict(self.start)
        self.done = {p.partition for p in plan.partitions if p.flow_messages == 0}
        self.total = plan.flow_messages

    def seen(self, partition: int, offset: int) -> None:
        if offset + 1 > self.position[partition]:
            self.position[partition] = min(offset + 1, self.end[partition])
        if offset >= self.last[partition] or offset + 1 >= self.end[partition]:
            self.done.add(partition)

    @property
    def all_done(self) -> bool:
        return len(self.done) == len(self.end)

    @property
    def read(self) -> int:
        return sum(self.position[p] - self.start[p] for p in self.end)


def build_app(
    broker: KafkaClientSettings,
    group: str,
    bgp_topic: str,
    flows_topic: str,
    pit: PointInTime,
    tracker: EndTracker,
    on_progress: Callable[[], None],
    partition_buffer: int,
) -> Application:
    state_dir = tempfile.mkdtemp(prefix="ribflow-replay-")  # stateless: Quix wants one anyway
    app = Application(
        **quix_connection(broker),
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        commit_interval=5.0,
        state_dir=state_dir,
        use_changelog_topics=False,
        max_partition_buffer_size=partition_buffer,
        consumer_extra_config={"fetch.max.bytes": 32 * 1024 * 1024},
        loglevel=None,
    )
    bgp = app.topic(bgp_topic, key_deserializer="bytes", value_deserializer="bytes")
    flows = app.topic(flows_topic, key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(bgp).concat(app.dataframe(flows))
    paused_at: dict[int, float] = {}

    def pause(partition: int) -> None:
        now = time.monotonic()
        if now - paused_at.get(partition, 0.0) < 1.0:
            return
        paused_at[partition] = now
        quix_adapter.pause(
            app, [TopicPartition(bgp_topic, partition), TopicPartition(flows_topic, partition)]
        )

    def process(value: Any, key: Any, timestamp: int, headers: Any) -> None:
        ctx = message_context()
        partition = ctx.partition
        if partition in tracker.done:
            pause(partition)
            return
        if ctx.topic == bgp_topic:
            pit.on_bgp(partition, key, value, timestamp)
        else:
            offset = ctx.offset
            if offset < tracker.end[partition]:
                pit.on_flows(partition, key, value, timestamp)
            tracker.seen(partition, offset)
            if tracker.all_done:
                app.stop()
        on_progress()

    sdf.apply(process, metadata=True)
    return app
