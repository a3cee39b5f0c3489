"""The topic catalogue, and topic administration: create topics from it, check co-partitioning.

Every topic ribflow creates is described here, once: its name (from the settings), partition count,
compaction and retention. Every app, ``ribflow topics``, the lab and quix.yaml's test take their
:class:`TopicSpec` from :func:`catalogue` (or :func:`checkpoint_spec` / :func:`replay_output_spec`),
so whichever process creates a topic first, it gets the same configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

from ribflow.errors import ConfigError
from ribflow.kafka.client import KafkaTarget, client_config
from ribflow.settings import AppSettings

log = logging.getLogger(__name__)

COMPACTED: Mapping[str, str] = {"cleanup.policy": "compact"}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# retention of each kind of topic: a day of flows is plenty for a lab or a replay window (a RIB
# dump topic holds a full table per router per RIB_DUMP_INTERVAL); BGP updates are kept a week,
# since the enricher rebuilds its RIBs and replay its timeline from them
FLOWS_RETENTION_MS = DAY_MS
BGP_RETENTION_MS = 7 * DAY_MS
AGGREGATED_RETENTION_MS = 7 * DAY_MS
DLQ_RETENTION_MS = 7 * DAY_MS
# dead letters are rare and read by people: one partition keeps them in order
DLQ_PARTITIONS = 1
CHECKPOINT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)
    replication: int = 1


def _retained(ms: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(ms)}


def catalogue(
    settings: AppSettings, prefix: str = "", partitions: int | None = None
) -> dict[str, TopicSpec]:
    """Every topic of the apps, by name (``prefix`` in front of each name; ``partitions`` for
    the router-keyed topics, default ``settings.partitions``): data topics with their retention,
    the compacted tables, and a ``<topic>-dlq`` dead-letter topic for each data topic."""
    p = settings.partitions if partitions is None else partitions
    r = settings.replication_factor

    def spec(name: str, config: Mapping[str, str], count: int = p) -> TopicSpec:
        return TopicSpec(prefix + name, count, dict(config), r)

    data = [
        spec(settings.bgp_updates_topic, _retained(BGP_RETENTION_MS)),
        spec(settings.flows_topic, _retained(FLOWS_RETENTION_MS)),
        spec(settings.flows_enriched_topic, _retained(FLOWS_RETENTION_MS)),
        spec(settings.bgp_rib_dump_topic, _retained(FLOWS_RETENTION_MS)),
        spec(settings.sflow_counters_topic, _retained(FLOWS_RETENTION_MS)),
        spec(settings.flows_aggregated_topic, _retained(AGGREGATED_RETENTION_MS)),
    ]
    tables = [
        spec(settings.bgp_rib_topic, COMPACTED),
        spec(settings.flow_templates_topic, COMPACTED),
    ]
    dlqs = [dlq_spec(settings, d.name) for d in data]
    return {s.name: s for s in data + tables + dlqs}


def dlq_spec(settings: AppSettings, topic: str) -> TopicSpec:
    """The dead-letter topic of ``topic`` (a full name, prefix included)."""
    return TopicSpec(
        settings.dlq_topic(topic),
        DLQ_PARTITIONS,
        _retained(DLQ_RETENTION_MS),
        settings.replication_factor,
    )


def specs(settings: AppSettings, *names: str, partitions: int | None = None) -> list[TopicSpec]:
    """The catalogue's specs of the named topics (a KeyError names a topic it lacks)."""
    cat = catalogue(settings, partitions=partitions)
    return [cat[n] for n in names]


def checkpoint_spec(
    settings: AppSettings, name: str, partitions: int, retention_hours: int
) -> TopicSpec:
    """The RIB checkpoint topic of replay (co-partitioned with bgp-updates)."""
    config = _retained(retention_hours * HOUR_MS)
    config["max.message.bytes"] = str(CHECKPOINT_MAX_MESSAGE_BYTES)
    return TopicSpec(name, partitions, config, settings.replication_factor)


def aggregator_state_spec(settings: AppSettings, name: str, partitions: int) -> TopicSpec:
    """The aggregator's state topic (ribflow.aggregate.state): compacted, co-partitioned with
    flows-enriched; a snapshot message holds up to a thousand windows' sums."""
    config = dict(COMPACTED)
    config["max.message.bytes"] = str(CHECKPOINT_MAX_MESSAGE_BYTES)
    return TopicSpec(name, partitions, config, settings.replication_factor)


def replay_output_spec(name: str, partitions: int, replication: int) -> TopicSpec:
    """A replay's output topic, co-partitioned with the inputs; no retention of its own: the
    replayed flows carry old timestamps, which flows-enriched's day would delete at once."""
    return TopicSpec(name, partitions, {"cleanup.policy": "delete"}, replication)


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
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=s.replication,
            config=dict(s.config),
        )
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
