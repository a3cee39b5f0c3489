"""Every topic any app can create has exactly the catalogue's configuration, on a real broker.

Each creator runs first on topics of its own (a fresh name tag each), so the configuration the
broker reports is the one that creator chose: partition count (list_topics) and cleanup.policy,
retention.ms and max.message.bytes (describe_configs) must be the catalogue's.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from ribflow.aggregate.pipeline import Aggregator
from ribflow.aggregate.settings import AggregatorSettings
from ribflow.bgp import app as bridge_app
from ribflow.bgp.settings import BridgeSettings
from ribflow.enrich import app as enricher_app
from ribflow.enrich.settings import EnricherSettings
from ribflow.flow import app as collector_app
from ribflow.flow.settings import CollectorSettings
from ribflow.replay.checkpointer import ensure_checkpoint_topic
from ribflow.replay.output import prepare_topic
from ribflow.replay.settings import ReplaySettings
from ribflow.settings import AppSettings
from ribflow.topics import TopicSpec, catalogue, checkpoint_spec, replay_output_spec
from ribflow.topics_cli import create_all
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

PARTITIONS = 3
CHECKED = ("cleanup.policy", "retention.ms", "max.message.bytes")


def topic_env(tag: str) -> dict[str, Any]:
    """Settings overrides naming every topic with ``tag`` in front."""
    return {
        "PARTITIONS": PARTITIONS,
        "BGP_UPDATES_TOPIC": f"{tag}bgp-updates",
        "FLOWS_TOPIC": f"{tag}flows",
        "FLOWS_ENRICHED_TOPIC": f"{tag}flows-enriched",
        "BGP_RIB_DUMP_TOPIC": f"{tag}bgp-rib-dump",
        "BGP_RIB_TOPIC": f"{tag}bgp-rib",
        "FLOW_TEMPLATES_TOPIC": f"{tag}flow-templates",
        "SFLOW_COUNTERS_TOPIC": f"{tag}sflow-counters",
        "FLOWS_AGGREGATED_TOPIC": f"{tag}flows-aggregated",
    }


@pytest.fixture
def admin(kafka_broker: str) -> Iterator[AdminClient]:
    client = AdminClient({"bootstrap.servers": kafka_broker})
    yield client
    mine = [t for t in client.list_topics(timeout=10).topics if t.startswith("cat")]
    if mine:
        for fut in client.delete_topics(mine, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                fut.result(timeout=30)


def created_with(admin: AdminClient, tag: str) -> dict[str, tuple[int, dict[str, str]]]:
    """(partitions, checked configs) of every topic whose name starts with ``tag``."""
    def settled() -> Any:
        # new topics reach the metadata a little after their creation: wait until none is added
        first = {n for n in admin.list_topics(timeout=10).topics if n.startswith(tag)}
        time.sleep(1.0)
        md = admin.list_topics(timeout=10).topics
        return md if first and first == {n for n in md if n.startswith(tag)} else None

    md = wait_for(f"the topics {tag}*", settled, timeout=60)
    names = [n for n in md if n.startswith(tag)]
    resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
    out = {}
    for res, fut in admin.describe_configs(resources).items():
        entries = fut.result(timeout=30)
        configs = {k: entries[k].value for k in CHECKED}
        out[res.name] = (len(md[res.name].partitions), configs)
    return out


def expected(spec: TopicSpec, broker_defaults: dict[str, str]) -> tuple[int, dict[str, str]]:
    return spec.partitions, {**broker_defaults, **spec.config}


def broker_defaults(admin: AdminClient) -> dict[str, str]:
    """What a topic created with no configs gets (to compare the keys a spec leaves out)."""
    tag = f"cat{uuid.uuid4().hex[:8]}-plain"
    fut = admin.create_topics([_new(tag)], operation_timeout=30)[tag]
    fut.result(timeout=30)
    return created_with(admin, tag)[tag][1]


def _new(name: str) -> Any:
    from confluent_kafka.admin import NewTopic

    return NewTopic(name, num_partitions=1, replication_factor=1)


def run_bridge(broker: str, env: dict[str, Any]) -> AppSettings:
    s = BridgeSettings(**{"Quix__Broker__Address": broker, "BGP_NEIGHBORS": "127.0.6.9", **env})
    bridge_app.prepare_topics(s)
    return s


def run_collector(broker: str, env: dict[str, Any]) -> AppSettings:
    s = CollectorSettings(**{"Quix__Broker__Address": broker, **env})
    collector_app.prepare_topics(s)
    return s


def run_enricher(broker: str, env: dict[str, Any]) -> AppSettings:
    s = EnricherSettings(**{"Quix__Broker__Address": broker, **env})
    enricher_app.prepare_topics(s)
    return s


def run_aggregator(broker: str, env: dict[str, Any]) -> AppSettings:
    s = AggregatorSettings(**{"Quix__Broker__Address": broker, **env})
    Aggregator(s).ensure_topics()
    return s


def run_topics_cli(broker: str, env: dict[str, Any]) -> AppSettings:
    s = AppSettings(**{"Quix__Broker__Address": broker, **env})
    create_all(s)
    return s


CREATORS: dict[str, Callable[[str, dict[str, Any]], AppSettings]] = {
    "bridge": run_bridge,
    "collector": run_collector,
    "enricher": run_enricher,
    "aggregator": run_aggregator,
    "ribflow topics / lab": run_topics_cli,
}


@pytest.mark.parametrize("creator", list(CREATORS))
def test_every_app_creates_its_topics_as_the_catalogue_says(
    creator: str, kafka_broker: str, admin: AdminClient
) -> None:
    defaults = broker_defaults(admin)
    tag = f"cat{uuid.uuid4().hex[:8]}-"
    settings = CREATORS[creator](kafka_broker, topic_env(tag))
    cat = catalogue(settings)
    got = created_with(admin, tag)
    assert got, f"{creator} created no topic"
    unknown = sorted(set(got) - set(cat))
    assert not unknown, f"{creator} created topics the catalogue lacks: {unknown}"
    for name, actual in got.items():
        assert actual == expected(cat[name], defaults), name


def test_replay_topics_are_the_catalogues(kafka_broker: str, admin: AdminClient) -> None:
    defaults = broker_defaults(admin)
    tag = f"cat{uuid.uuid4().hex[:8]}-"
    env = {"Quix__Broker__Address": kafka_broker, "CHECKPOINT_TOPIC": f"{tag}ckpt"}
    s = ReplaySettings(**env, **topic_env(tag))
    ensure_checkpoint_topic(s, PARTITIONS)
    output = f"{tag}replay-out"
    prepare_topic(kafka_broker, output, PARTITIONS, owned=True, append=False, replication=1)
    got = created_with(admin, tag)
    ckpt = checkpoint_spec(s, s.checkpoint_topic, PARTITIONS, s.checkpoint_retention_hours)
    assert got[s.checkpoint_topic] == expected(ckpt, defaults)
    assert got[output] == expected(replay_output_spec(output, PARTITIONS, 1), defaults)


def test_the_catalogue_names_every_topic_once() -> None:
    s = AppSettings(PARTITIONS=5)
    cat = catalogue(s, prefix="x.")
    assert len(cat) == 14
    assert all(n.startswith("x.") for n in cat)
    dlqs = [spec for n, spec in cat.items() if n.endswith("-dlq")]
    assert len(dlqs) == 6 and {d.partitions for d in dlqs} == {1}
    joined = ("x.bgp-updates", "x.flows", "x.bgp-rib", "x.flows-enriched", "x.bgp-rib-dump")
    assert {cat[n].partitions for n in joined} == {5}
    assert cat["x.bgp-rib"].config == {"cleanup.policy": "compact"}
    assert cat["x.flows"].config["retention.ms"] == str(24 * 3600 * 1000)
