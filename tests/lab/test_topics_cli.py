"""`ribflow topics`: every ribflow topic with its partitions and configs, on a real broker."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from ribflow.settings import AppSettings
from ribflow.topics_cli import topic_specs

pytestmark = pytest.mark.integration


def test_topics_creates_all_with_partitions_and_compaction(kafka_broker: str) -> None:
    prefix = f"tt{uuid.uuid4().hex[:8]}-"
    cmd = [sys.executable, "-m", "ribflow", "topics", "--broker", kafka_broker,
           "--partitions", "3", "--prefix", prefix]
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    try:
        first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        specs = topic_specs(AppSettings(PARTITIONS=3), prefix)
        assert f"{len(specs)} topics created" in first.stdout
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "0 topics created" in again.stdout  # idempotent

        md = admin.list_topics(timeout=10).topics
        names = {s.name for s in specs}
        assert names <= set(md)
        assert {f"{prefix}bgp-updates", f"{prefix}flows", f"{prefix}flows-enriched",
                f"{prefix}bgp-rib-dump", f"{prefix}bgp-rib", f"{prefix}flows-dlq"} <= names
        for spec in specs:
            assert len(md[spec.name].partitions) == spec.partitions
        assert len(md[f"{prefix}flows"].partitions) == 3
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in (f"{prefix}bgp-rib",
                                                                       f"{prefix}flows")]
        configs = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
        assert configs[f"{prefix}bgp-rib"]["cleanup.policy"].value == "compact"
        assert configs[f"{prefix}flows"]["cleanup.policy"].value == "delete"

        # a co-partitioning mistake made elsewhere is reported, not hidden
        admin.delete_topics([f"{prefix}flows"], operation_timeout=30)[f"{prefix}flows"].result()
        bad = [sys.executable, "-m", "ribflow", "topics", "--broker", kafka_broker,
               "--partitions", "5", "--prefix", prefix]
        out = subprocess.run(bad, capture_output=True, text=True, timeout=120)
        assert out.returncode == 1
        assert "same partition count" in out.stderr
    finally:
        mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        if mine:
            for fut in admin.delete_topics(mine, operation_timeout=30).values():
                with contextlib.suppress(Exception):
                    fut.result(timeout=30)
