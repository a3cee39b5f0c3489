"""An exporter whose clock is two days behind loses nothing to retention (issue 13).

Real components only: a Kafka broker started here whose retention check runs every second,
ribflow's topics created with the project's own retention configuration (``topic_specs``), the
real collector process, an IPFIX export built to RFC 7011 with an export time two days ago.

The control run is the behaviour before the fix (MAX_EXPORT_SKEW_MS above the skew: the export
time becomes the Kafka timestamp): the broker deletes that message, which shows the retention
check runs and that this test fails when the timestamp is not bounded. The default run keeps
its message, stamped with the arrival time, and the record keeps its export time.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from ribflow.kafka.local import BrokerConfig
from ribflow.settings import AppSettings
from ribflow.topics import ensure_topics
from ribflow.topics_cli import topic_specs
from tests.fixtures.kafka import free_port, managed_broker
from tests.fixtures.waiting import wait_for
from tests.flow.collector_harness import collector
from tests.flow.netflow_support import data_set, ipfix_packet, ipfix_template_set

pytestmark = pytest.mark.integration

HOST = "127.0.5.1"  # this test's own loopback address (its broker)
DAY_MS = 86_400_000
CHECK_MS = 1000  # the broker's log.retention.check.interval.ms


@pytest.fixture(scope="module")
def short_retention_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cfg = BrokerConfig(
        host=HOST,
        port=free_port(HOST),
        controller_port=free_port(HOST),
        data_dir=tmp_path_factory.mktemp("kafka-retention"),
        heap="384m",
        extra={
            "log.retention.check.interval.ms": str(CHECK_MS),
            "log.initial.task.delay.ms": "0",
            "auto.create.topics.enable": "false",
        },
    )
    with managed_broker(cfg) as address:
        yield address


def make_topics(broker: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """ribflow's topics as `ribflow topics` creates them (same configs), names prefixed."""
    monkeypatch.setenv("Quix__Broker__Address", broker)
    monkeypatch.setenv("PARTITIONS", "1")
    settings = AppSettings()
    specs = topic_specs(settings, prefix)
    ensure_topics(broker, specs)
    flows = prefix + settings.flows_topic
    spec = next(s for s in specs if s.name == flows)
    assert int(spec.config["retention.ms"]) < 2 * DAY_MS  # two days old is past retention
    return {
        "FLOWS_TOPIC": flows,
        "SFLOW_COUNTERS_TOPIC": prefix + settings.sflow_counters_topic,
        "FLOW_TEMPLATES_TOPIC": prefix + settings.flow_templates_topic,
        "BGP_UPDATES_TOPIC": prefix + settings.bgp_updates_topic,
        "CREATE_TOPICS": "false",
        "DLQ_SUFFIX": "-dlq",
    }


def export_two_days_behind(now_ms: int) -> tuple[bytes, int]:
    """One IPFIX message (template + one record) whose export time is two days before now."""
    export_s = now_ms // 1000 - 2 * DAY_MS // 1000
    fields = [(8, 4), (12, 4), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8)]
    record = (
        bytes([192, 0, 2, 1])
        + bytes([198, 51, 100, 7])
        + struct.pack("!BQQQQ", 17, 1500, 3, export_s * 1000 - 5000, export_s * 1000 - 1000)
    )
    pkt = ipfix_packet(ipfix_template_set(300, fields), data_set(300, record), secs=export_s)
    return pkt, export_s * 1000


def low_high(broker: str, topic: str) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": broker, "group.id": "skew-probe"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low), int(high)
    finally:
        c.close()


def read_all(broker: str, topic: str) -> list[tuple[int, dict[str, Any]]]:
    """(Kafka timestamp, value) of every message still in ``topic``."""
    low, high = low_high(broker, topic)
    if high <= low:
        return []
    c = Consumer({"bootstrap.servers": broker, "group.id": "skew-read",
                  "enable.auto.commit": False})  # fmt: skip
    out: list[tuple[int, dict[str, Any]]] = []
    try:
        c.assign([TopicPartition(topic, 0, low)])
        deadline = time.monotonic() + 60
        while len(out) < high - low and time.monotonic() < deadline:
            msg = c.poll(1.0)
            if msg is None or msg.error():
                continue
            out.append((msg.timestamp()[1], orjson.loads(msg.value())))
    finally:
        c.close()
    return out


def run_collector(
    broker: str, topics: dict[str, str], tmp_path: Path, name: str, **env: str
) -> tuple[int, int]:
    """Send the export through a real collector; (arrival ms, export ms) once it is in Kafka."""
    with collector(tmp_path, broker, {**topics, **env}, name=name) as running:
        now_ms = int(time.time() * 1000)
        pkt, export_ms = export_two_days_behind(now_ms)
        running.send([pkt])
        wait_for("the flows message", lambda: low_high(broker, topics["FLOWS_TOPIC"])[1] == 1,
                 timeout=90)  # fmt: skip
    return now_ms, export_ms


def test_exporter_two_days_behind_keeps_its_flows(
    short_retention_broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = short_retention_broker
    kept = make_topics(broker, "kept.", monkeypatch)
    control = make_topics(broker, "control.", monkeypatch)

    sent_ms, export_ms = run_collector(broker, kept, tmp_path, "bounded")
    # Control: the export time as the Kafka timestamp (what the collector did before).
    run_collector(broker, control, tmp_path, "unbounded", MAX_EXPORT_SKEW_MS=str(7 * DAY_MS))

    # The broker's retention check deletes the control message ...
    wait_for("retention to delete the message stamped two days ago",
             lambda: low_high(broker, control["FLOWS_TOPIC"])[0] == 1, timeout=120)  # fmt: skip
    time.sleep(3 * CHECK_MS / 1000)  # ... and has run a few more times since
    # ... and leaves the bounded one alone.
    assert low_high(broker, kept["FLOWS_TOPIC"]) == (0, 1)
    [(ts, value)] = read_all(broker, kept["FLOWS_TOPIC"])
    assert sent_ms - 60_000 <= ts <= int(time.time() * 1000)  # the arrival time
    [record] = value["records"]
    assert record["time_export_ms"] == export_ms  # the record keeps the exporter's time
    assert abs(record["time_export_ms"] - ts) >= 2 * DAY_MS - 60_000
    assert (record["src_addr"], record["dst_addr"], record["bytes"]) == (
        "192.0.2.1",
        "198.51.100.7",
        1500,
    )
