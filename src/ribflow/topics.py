"""Topic administration: create ribflow's topics with the right configs, check co-partitioning."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

from ribflow.errors import ConfigError
from ribflow.kafka.client import KafkaTarget, client_config

log = logging.getLogger(__name__)

COMPACTED: Mapping[str, str] = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


class CoPartitionError(ConfigError):
    """Topics joined by router key do not have the same partition count."""


def admin_client(broker: KafkaTarget) -> AdminClient:
    quiet = logging.getLogger("ribflow.kafka.admin")
    return AdminClient(client_config(broker), logger=quiet)


def partition_counts(
    broker: KafkaTarget, names: Iterable[str], timeout: float = 10.0
) -> dict[str, int]:
    """Partition count of each named topic that exists (missing topics are left out)."""
    md = admin_client(broker).list_topics(timeout=timeout)
    wanted = set(names)
    return {n: len(t.partitions) for n, t in md.topics.items() if n in wanted and not t.error}


def ensure_topics(
    broker: KafkaTarget, specs: Iterable[TopicSpec], timeout: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    An existing topic keeps its configuration; a partition count that differs from the spec is
    reported by :func:`check_copartitioned`, not silently changed.
    """
    specs = list(specs)
    admin = admin_client(broker)
    existing = admin.list_topics(timeout=timeout).topics
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=dict(s.config))
        for s in specs
        if s.name not in existing
    ]
    if not new:
        return []
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    created = []
    for name, fut in futures.items():
        try:
            fut.result()
            created.append(name)
        except Exception as exc:  # a concurrent creator is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    log.info("created topics %s", created)
    return created


def check_copartitioned(broker: KafkaTarget, names: Iterable[str], timeout: float = 10.0) -> int:
    """Raise :class:`CoPartitionError` unless every named topic exists with one partition count."""
    names = list(names)
    counts = partition_counts(broker, names, timeout)
    missing = [n for n in names if n not in counts]
    if missing:
        raise CoPartitionError(f"topics missing: {', '.join(missing)} (run `ribflow topics`)")
    if len(set(counts.values())) != 1:
        detail = ", ".join(f"{n}={c}" for n, c in sorted(counts.items()))
        raise CoPartitionError(
            "topics joined by router key must have the same partition count, but: " + detail
        )
    return next(iter(counts.values()))
