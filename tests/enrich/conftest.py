"""Fixtures of the enricher tests: a set of unique topics and a unique consumer group."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient

TopicFactory = Callable[..., str]


@pytest.fixture
def enricher_topics(
    kafka_broker: str, topic_factory: TopicFactory
) -> Iterator[Callable[..., dict[str, str]]]:
    """``make(partitions=4)`` -> names of bgp, flows, enriched, dump, rib (+ group).

    The enricher creates the dead-letter topics and Quix its changelog topic; both are deleted
    here after the test along with the factory's own topics.
    """
    groups: list[str] = []
    dlqs: list[str] = []

    def make(partitions: int = 4, flows_partitions: int | None = None) -> dict[str, str]:
        names = {
            "bgp": topic_factory("bgp-updates", partitions),
            "flows": topic_factory("flows", flows_partitions or partitions),
            "enriched": topic_factory("flows-enriched", partitions),
            "dump": topic_factory("bgp-rib-dump", partitions),
            "rib": topic_factory("bgp-rib", partitions, {"cleanup.policy": "compact"}),
            "group": f"test-enricher-{uuid.uuid4().hex[:8]}",
        }
        groups.append(names["group"])
        dlqs.extend([names["bgp"] + "-dlq", names["flows"] + "-dlq"])
        return names

    yield make
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    existing = admin.list_topics(timeout=10).topics
    doomed = [t for t in existing if t in dlqs or any(f"changelog__{g}" in t for g in groups)]
    if doomed:
        for fut in admin.delete_topics(doomed, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                fut.result(timeout=30)
