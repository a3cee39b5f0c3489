"""The Quix internals ribflow relies on (ribflow/kafka/quix_adapter.py), checked directly.

Quix validates topics against the broker when a dataframe is made, hence real Kafka here.

If a Quix upgrade changes any of them, these tests fail before the integration tests do.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import quixstreams
from confluent_kafka import Consumer
from quixstreams import Application
from quixstreams.kafka.exceptions import KafkaProducerDeliveryError

from ribflow.enrich.codec import META_KEY, route_key
from ribflow.kafka.quix_adapter import ProducerOutput, QuixStore, pause
from ribflow.rib import AFI_IP


def _app(broker: str, make: Callable[..., str], tmp_path: Path) -> tuple[Application, QuixStore]:
    app = Application(
        broker_address=broker,
        consumer_group="quix-store-test",
        state_dir=str(tmp_path / "state"),
        use_changelog_topics=False,
        auto_create_topics=False,
        loglevel=None,
    )
    a = app.dataframe(app.topic(make("qa"), key_deserializer="bytes", value_deserializer="bytes"))
    b = app.dataframe(app.topic(make("qb"), key_deserializer="bytes", value_deserializer="bytes"))

    def step(value: Any, key: Any, timestamp: int, headers: Any, state: Any) -> None:
        return None

    sdf = a.concat(b).apply(step, stateful=True, metadata=True)
    return app, QuixStore(app, sdf)


def test_quix_version_is_the_one_the_internals_were_checked_against() -> None:
    assert quixstreams.__version__ == "3.28.1"


# Quix internals: Application/StreamingDataFrame attributes with a leading underscore, and the
# internal producer's private hooks.
_PRIVATE = re.compile(
    r"\b(?:app|application|sdf|self\._app)\._[a-z]|getattr\(\s*app\s*,\s*[\"']_"
    r"|_state_manager|_dataframe_registry|_on_delivery|_raise_for_error|_registry\."
)
SRC = Path(__file__).resolve().parents[2] / "src" / "ribflow"


def test_private_quix_apis_are_used_only_in_the_adapter() -> None:
    """Outside kafka/quix_adapter.py (and aggregate/, whose rewrite is pending) no module
    touches a Quix internal."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "kafka/quix_adapter.py" or rel.startswith("aggregate/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _PRIVATE.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == []
    adapter = (SRC / "kafka" / "quix_adapter.py").read_text()
    assert _PRIVATE.search(adapter)  # the pattern does find what the adapter does


def test_pause_without_a_consumer_is_refused_quietly() -> None:
    class NoConsumer:
        pass

    assert pause(NoConsumer(), []) is False  # type: ignore[arg-type]


@pytest.mark.integration
def test_scan_sees_what_state_wrote_and_reassignment_gives_a_new_object(
    kafka_broker: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    app, store = _app(kafka_broker, topic_factory, tmp_path)
    raw_store = app._state_manager.get_store(stream_id=store._store.stream_id)
    first = raw_store.assign_partition(0)
    assert store.partitions() == {0: first} and store.partition(0) is first
    assert not store.recovering()
    tx = first.begin()
    state = tx.as_state(prefix=b"127.0.0.3")
    key = route_key(AFI_IP, 10 << 24, 8, 0)
    state.set_bytes(key, b'{"next_hop":"192.0.2.1"}')
    state.set_bytes(META_KEY, b'{"router":"127.0.0.3"}')
    tx.as_state(prefix=b"10.0.0.1/2").set_bytes(key, b'{"next_hop":null}')
    tx.prepare()
    tx.flush()
    scanned = sorted(QuixStore.scan(first))
    assert scanned == [
        (b"10.0.0.1/2", key, b'{"next_hop":null}'),
        (b"127.0.0.3", META_KEY, b'{"router":"127.0.0.3"}'),
        (b"127.0.0.3", key, b'{"next_hop":"192.0.2.1"}'),
    ]
    # a revoke + assign (rebalance, restart) is a different object over the same data
    raw_store.revoke_partition(0)
    assert store.partition(0) is None
    second = raw_store.assign_partition(0)
    assert second is not first and store.partition(0) is second
    assert sorted(QuixStore.scan(second)) == scanned
    raw_store.revoke_partition(0)


@pytest.mark.integration
def test_periodic_tasks_and_producer_are_reachable(
    kafka_broker: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    app, store = _app(kafka_broker, topic_factory, tmp_path)
    calls: list[int] = []
    store.register_periodic(lambda: calls.append(1))
    app._dataframe_registry.run_periodic_tasks()
    assert calls == [1]
    assert hasattr(store.producer(), "produce")
    assert callable(app._consumer.pause)  # what quix_adapter.pause relies on
    assert pause(app, []) is True


@pytest.mark.integration
def test_producer_output_writes_through_quix_and_surfaces_delivery_errors(
    kafka_broker: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    _, store = _app(kafka_broker, topic_factory, tmp_path)
    out = ProducerOutput(store.producer())
    good = topic_factory("po")
    small = topic_factory("po-small", config={"max.message.bytes": "2000"})
    for i in range(150):  # more than one poll interval
        out.produce_many(good, [b"v%d" % i], b"127.0.0.3", 1_700_000_000_000 + i)
    out.produce_keyed(good, [(b"tombstone", None)], None)
    store.producer().flush(30)
    consumer = Consumer({"bootstrap.servers": kafka_broker, "group.id": "po-" + good,
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([good])
    got: list[tuple[bytes | None, bytes | None, int]] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < 151 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got.append((msg.key(), msg.value(), msg.timestamp()[1]))
    finally:
        consumer.close()
    assert got[:150] == [(b"127.0.0.3", b"v%d" % i, 1_700_000_000_000 + i) for i in range(150)]
    assert got[150][:2] == (b"tombstone", None)
    # the broker refuses a message over the topic's limit: Quix's checkpoint flush must fail
    out.produce_many(small, [b"x" * 5000], b"k", None)
    with pytest.raises(KafkaProducerDeliveryError):
        store.producer().flush(30)


def _stateful_app(
    broker: str, topic: str, group: str, state_dir: Path, seen: list[bytes]
) -> tuple[Application, QuixStore]:
    app = Application(broker_address=broker, consumer_group=group, state_dir=str(state_dir),
                      auto_offset_reset="earliest", commit_interval=0.5, loglevel=None)  # fmt: skip
    sdf = app.dataframe(app.topic(topic, key_deserializer="bytes", value_deserializer="bytes"))

    def step(value: Any, key: Any, timestamp: int, headers: Any, state: Any) -> None:
        state.set_bytes(b"k" + value, value * 50)  # ~200 B a record: several fetches
        seen.append(value)

    sdf = sdf.apply(step, stateful=True, metadata=True)
    return app, QuixStore(app, sdf)


@pytest.mark.integration
def test_quick_recovery_restores_a_wiped_store_then_calls_back(
    kafka_broker: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    """A store wiped after a run is recovered from its changelog completely before the
    callback runs: the callback sees no recovery pending and every record."""
    from confluent_kafka import Producer

    topic = topic_factory("qr", partitions=2)
    group = f"qr-{topic}"
    producer = Producer({"bootstrap.servers": kafka_broker})
    values = [b"%04d" % i for i in range(4000)]
    for i, value in enumerate(values):
        producer.produce(topic, value, key=b"r%d" % (i % 5))
    producer.flush(30)

    seen: list[bytes] = []
    app, _ = _stateful_app(kafka_broker, topic, group, tmp_path / "state", seen)

    def stop_when_done() -> None:
        if len(seen) >= len(values):
            app.stop()

    app._dataframe_registry.register_periodic_task(stop_when_done)
    app.run(timeout=120)
    assert sorted(seen) == values  # the run's checkpoint wrote every record to the changelog
    shutil.rmtree(tmp_path / "state")

    calls: list[tuple[bool, dict[bytes, bytes]]] = []
    again, store = _stateful_app(kafka_broker, topic, group, tmp_path / "state", [])

    def after() -> None:
        items = {k: v for p in store.partitions().values() for _, k, v in QuixStore.scan(p)}
        calls.append((store.recovering(), items))
        again.stop()

    assert store.quick_recovery(after) is True
    watchdog = threading.Timer(120, again.stop)
    watchdog.start()
    try:
        again.run()
    finally:
        watchdog.cancel()
    assert calls == [(False, {b"k" + v: v * 50 for v in values})]
