"""The broker behaviours ribflow relies on, checked on the real Apache Kafka with two clients.

confluent-kafka (librdkafka) and kcat (Debian) talk to the same broker: what one writes, the other
reads. Compaction must really remove older values (state changelogs and the bgp-rib table rely on
it) and aborted transactional writes must stay invisible to read_committed consumers (exactly-once).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from tests.fixtures.kafka import TopicFactory

pytestmark = pytest.mark.integration


def kcat() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    assert path, "kcat is not installed (apt-get install kcat)"
    return path


def kcat_consume(broker: str, topic: str, fmt: str, *options: str) -> str:
    """Everything in ``topic`` from the beginning, as kcat prints it with format ``fmt``."""
    cmd = [kcat(), "-b", broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", *options]
    res = subprocess.run([*cmd, "-f", fmt], capture_output=True, text=True, timeout=60, check=True)
    return res.stdout


def consume_all(
    broker: str,
    topic: str,
    *,
    isolation: str = "read_committed",
    expect: int | None = None,
    timeout: float = 30.0,
) -> list[tuple[bytes | None, bytes | None]]:
    """Read a topic from the beginning until it is idle (or ``expect`` messages arrived)."""
    c = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    c.subscribe([topic])
    out: list[tuple[bytes | None, bytes | None]] = []
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                if (
                    out
                    and (expect is None or len(out) >= expect)
                    and time.monotonic() - idle_since > 2
                ):
                    break
                continue
            if msg.error():
                continue
            out.append((msg.key(), msg.value()))
            idle_since = time.monotonic()
    finally:
        c.close()
    return out


def test_confluent_to_kcat_and_back(kafka_broker: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory("roundtrip")
    p = Producer({"bootstrap.servers": kafka_broker})
    for i in range(10):
        p.produce(topic, key=f"k{i}".encode(), value=f"from-confluent-{i}".encode())
    assert p.flush(30) == 0
    out = kcat_consume(kafka_broker, topic, "%k=%s\\n")
    assert sorted(out.split()) == sorted(f"k{i}=from-confluent-{i}" for i in range(10))

    lines = "".join(f"x{i}:from-kcat-{i}\n" for i in range(5))
    subprocess.run(
        [kcat(), "-b", kafka_broker, "-P", "-t", topic, "-K", ":"],
        input=lines,
        text=True,
        timeout=60,
        check=True,
    )
    got = consume_all(kafka_broker, topic, expect=15)
    from_kcat = sorted((k, v) for k, v in got if k and k.startswith(b"x"))
    assert from_kcat == sorted((f"x{i}".encode(), f"from-kcat-{i}".encode()) for i in range(5))


def test_compaction_removes_older_values(kafka_broker: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory(
        "compact",
        config={
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.001",
            "delete.retention.ms": "100",
            "min.compaction.lag.ms": "0",
        },
    )
    p = Producer({"bootstrap.servers": kafka_broker, "linger.ms": 0})
    keys = [f"route-{i}".encode() for i in range(20)]
    for version in range(3):
        for k in keys:
            p.produce(topic, key=k, value=f"v{version}".encode())
        p.flush(30)
        time.sleep(0.3)
    total_written = 3 * len(keys)
    # the active segment is never cleaned: keep rolling it with a filler key until the cleaner ran
    deadline = time.monotonic() + 120
    while True:
        p.produce(topic, key=b"filler", value=b"x")
        p.flush(30)
        got = consume_all(kafka_broker, topic, timeout=20)
        routes = [(k, v) for k, v in got if k != b"filler"]
        if len(routes) == len(keys) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert len(routes) < total_written, "the log cleaner never compacted the topic"
    assert len(routes) == len(keys), f"{len(routes)} route values left, want {len(keys)}"
    assert {k: v for k, v in routes} == dict.fromkeys(keys, b"v2")


def test_aborted_transaction_is_invisible_to_read_committed(
    kafka_broker: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("txn")
    p = Producer({"bootstrap.servers": kafka_broker, "transactional.id": f"t-{uuid.uuid4().hex}"})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, key=b"k", value=f"aborted-{i}".encode())
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=b"k", value=f"committed-{i}".encode())
    p.commit_transaction(30)

    committed = [v for _, v in consume_all(kafka_broker, topic, expect=3)]
    assert committed == [f"committed-{i}".encode() for i in range(3)]
    # the aborted records are really in the log: a read_uncommitted reader sees them
    uncommitted = [
        v for _, v in consume_all(kafka_broker, topic, isolation="read_uncommitted", expect=8)
    ]
    assert [v for v in uncommitted if v and v.startswith(b"aborted")] == [
        f"aborted-{i}".encode() for i in range(5)
    ]
    # and the independent client agrees
    out = kcat_consume(kafka_broker, topic, "%s\\n", "-X", "isolation.level=read_committed")
    assert out.split() == [f"committed-{i}" for i in range(3)]
