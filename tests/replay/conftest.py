"""Fixtures of the replay tests: input topics plus unique names for everything a replay makes
(output and dead-letter topics, checkpoint topic, consumer groups), all deleted afterwards."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka.admin import AdminClient

from ribflow.replay.settings import ReplaySettings

TopicFactory = Callable[..., str]


@dataclass
class ReplayTopics:
    broker: str
    bgp: str
    flows: str
    tag: str  # prefix of every name a replay derives (output, checkpoints, groups)
    partitions: int

    @property
    def checkpoints(self) -> str:
        return f"{self.tag}-checkpoints"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of `ribflow replay` (and of its enricher formatting settings)."""
        env = {
            "Quix__Broker__Address": self.broker,
            "Quix__Consumer__Group": self.tag,
            "BGP_UPDATES_TOPIC": self.bgp,
            "FLOWS_TOPIC": self.flows,
            "REPLAY_TOPIC_PREFIX": f"{self.tag}-out",
            "CHECKPOINT_TOPIC": self.checkpoints,
            "REPLAY_IDLE_TIMEOUT": "20",
            "LOG_LEVEL": "WARNING",
        }
        env.update(extra)
        return env

    def settings(self, **extra: str) -> ReplaySettings:
        return ReplaySettings(**self.env(**extra))  # type: ignore[arg-type]


@pytest.fixture
def replay_topics(
    kafka_broker: str, topic_factory: TopicFactory
) -> Iterator[Callable[[int], ReplayTopics]]:
    made: list[ReplayTopics] = []

    def make(partitions: int = 3) -> ReplayTopics:
        t = ReplayTopics(
            kafka_broker,
            topic_factory("bgp-updates", partitions),
            topic_factory("flows", partitions),
            f"test-replay-{uuid.uuid4().hex[:8]}",
            partitions,
        )
        made.append(t)
        return t

    yield make
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    tags = [t.tag for t in made]
    inputs = [n for t in made for n in (t.bgp, t.flows)]
    topics = [
        n
        for n in admin.list_topics(timeout=10).topics
        if any(tag in n for tag in tags) or any(n.startswith(i + "-dlq") for i in inputs)
    ]
    if topics:
        for fut in admin.delete_topics(topics, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                fut.result(timeout=30)
    groups = [
        g.group_id
        for g in admin.list_consumer_groups().result(timeout=30).valid
        if any(g.group_id.startswith(tag) for tag in tags)
    ]
    time.sleep(0.1)
    if groups:
        for fut in admin.delete_consumer_groups(groups).values():
            with contextlib.suppress(Exception):
                fut.result(timeout=30)
