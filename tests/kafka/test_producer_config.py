"""The one producer-configuration factory: each role's effective librdkafka configuration.

The expected dictionaries are the configurations each producer was built with by hand before
the factory existed (collector, bridge, replay output, checkpoint store, enricher): the factory
must not change what any producer does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ribflow.bgp.settings import BridgeSettings
from ribflow.enrich.settings import EnricherSettings
from ribflow.flow.settings import CollectorSettings
from ribflow.kafka.client import producer_config, producer_tuning

PLAIN = {"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "plaintext"}


def _on_delivery(err: object, msg: object) -> None:  # stands for the collector's callback
    pass


TUNED = {
    "COLLECTOR_LINGER_MS": "7",
    "COLLECTOR_COMPRESSION": "zstd",
    "KAFKA_QUEUE_MESSAGES": "5000",
    "KAFKA_QUEUE_MB": "3",
}


@pytest.mark.parametrize("env", [{}, TUNED])
def test_the_collector_produces_data(env: dict[str, str]) -> None:
    s = CollectorSettings(**env)  # type: ignore[arg-type]
    conf = producer_config(
        s, "data", {"on_delivery": _on_delivery}, linger_ms=s.linger_ms,
        compression=s.compression, queue_messages=s.kafka_queue_messages,
        queue_mb=s.kafka_queue_mb,
    )  # fmt: skip
    assert conf == {
        **PLAIN,
        "linger.ms": int(env.get("COLLECTOR_LINGER_MS", 20)),
        "compression.type": env.get("COLLECTOR_COMPRESSION", "lz4"),
        "queue.buffering.max.messages": int(env.get("KAFKA_QUEUE_MESSAGES", 100_000)),
        "queue.buffering.max.kbytes": int(env.get("KAFKA_QUEUE_MB", 256)) * 1024,
        "batch.size": 1 << 20,
        "delivery.report.only.error": True,
        "on_delivery": _on_delivery,
    }


def test_the_bridge_produces_the_log() -> None:
    s = BridgeSettings(BRIDGE_LINGER_MS="9", BRIDGE_BUFFER_MB="2")  # type: ignore[call-arg]
    conf = producer_config(
        s, "log", {"client.id": "ribflow-bridge"}, linger_ms=s.bridge_linger_ms,
        compression=s.bridge_compression, queue_messages=s.bridge_buffer_messages,
        queue_mb=s.bridge_buffer_mb,
    )  # fmt: skip
    assert conf == {
        **PLAIN,
        "client.id": "ribflow-bridge",
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 0,
        "queue.buffering.max.messages": s.bridge_buffer_messages,
        "queue.buffering.max.kbytes": 2 * 1024,
        "linger.ms": 9,
        "compression.type": "lz4",
        "delivery.report.only.error": True,
    }


def test_the_replay_output_and_the_checkpoints() -> None:
    assert producer_config("127.0.0.1:9092", "replay") == {
        **PLAIN,
        "enable.idempotence": True,
        "linger.ms": 20,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
    }
    assert producer_config("127.0.0.1:9092", "state") == {
        **PLAIN,
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 50,
        "message.max.bytes": 4 * 1024 * 1024,
    }


def test_the_enricher_is_transactional_only_under_exactly_once(tmp_path: Path) -> None:
    state = {"Quix__State__Dir": str(tmp_path)}
    once = EnricherSettings(**state, PROCESSING_GUARANTEE="exactly-once", COMMIT_INTERVAL="45")
    tid = once.resolved_transactional_id()
    assert producer_tuning("streaming", streaming=once, transactional_id=tid) == {
        "linger.ms": 20,
        "compression.type": "lz4",
        "transaction.timeout.ms": 90_000,
        "transactional.id": tid,
    }
    least = EnricherSettings(**state)
    assert producer_tuning("streaming", streaming=least, transactional_id=tid) == {
        "linger.ms": 20,
        "compression.type": "lz4",
        "transaction.timeout.ms": 60_000,
    }
    with pytest.raises(ValueError, match="transactional_id"):
        producer_tuning("streaming", streaming=once)


def test_the_tuning_may_not_redefine_the_connection() -> None:
    with pytest.raises(ValueError, match="connection setting"):
        producer_config("127.0.0.1:9092", "data", {"bootstrap.servers": "elsewhere:9092"})
