"""Fixtures of the aggregation tests: the aggregator as a real process, Kafka in and out.

The flows to produce and the sums expected of them are in tests/aggregate/flows.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.aggregate.flows import output_sums, totals
from tests.fixtures.waiting import wait_for


@dataclass
class AggregatorRun:
    """One `ribflow aggregator` process (stopped by pid, never by name)."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    history: list[int] = field(default_factory=list)

    def start(self, **overrides: str) -> AggregatorRun:
        self.env.update(overrides)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "aggregator"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
        )
        self.history.append(self.proc.pid)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def group(self) -> str:
        return self.env["Quix__Consumer__Group"] + "-aggregator"

    def wait_consumed(self, broker: str, topic: str, timeout: float = 120) -> None:
        """Wait until this run has processed (committed) everything produced to ``topic``."""
        wait_consumed(broker, self.group, topic, timeout, self.alive, self.log_tail)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


AggregatorFactory = Callable[..., AggregatorRun]


def wait_consumed(
    broker: str,
    group: str,
    topic: str,
    timeout: float = 120,
    alive: Callable[[], bool] = lambda: True,
    log_tail: Callable[[], str] = lambda: "",
) -> None:
    """Wait until ``group`` has committed the end of every non-empty partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in parts]
        marks = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10) for tp in tps}
        # an empty partition has no committed offset: nothing to wait for there
        tps = [tp for tp in tps if marks[tp.partition][1] > marks[tp.partition][0]]

        def consumed() -> bool:
            assert alive(), f"aggregator died:\n{log_tail()}"
            done = consumer.committed(tps, timeout=10)
            return all(tp.offset >= marks[tp.partition][1] for tp in done)

        try:
            wait_for(f"{topic} consumed by {group}", consumed, timeout, every=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{log_tail()}") from None
    finally:
        consumer.close()


@pytest.fixture
def aggregator(kafka_broker: str, tmp_path: Path) -> Iterator[AggregatorFactory]:
    """``aggregator(input=..., output=..., AGGREGATE=..., ...)`` -> a started process."""
    runs: list[AggregatorRun] = []

    def make(input_topic: str, output_topic: str, start: bool = True, **env: str) -> AggregatorRun:
        name = f"agg{len(runs)}-{uuid.uuid4().hex[:6]}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("Quix__", "AGGREGATE"))}
        base.update(
            {
                "Quix__Broker__Address": kafka_broker,
                "Quix__Consumer__Group": f"test-{name}",
                "Quix__State__Dir": str(tmp_path / f"state-{name}"),
                "FLOWS_ENRICHED_TOPIC": input_topic,
                "FLOWS_AGGREGATED_TOPIC": output_topic,
                "AUTO_OFFSET_RESET": "earliest",
                "COMMIT_INTERVAL": "1",
                "IDLE_TIMEOUT": "3",  # an input partition without flows stops holding windows
                # windows close on flows only (closers()), unless a test turns the idle flush on
                "IDLE_FLUSH": "off",
                "PARTITIONS": "2",
                "LOG_LEVEL": "INFO",
            }
        )
        base.update(env)
        run = AggregatorRun(base, tmp_path / f"{name}.log")
        runs.append(run)
        return run.start() if start else run

    yield make
    for run in runs:
        run.stop()
    _delete_topics_of(kafka_broker, [r.env for r in runs])


def _delete_topics_of(broker: str, envs: list[dict[str, str]]) -> None:
    """Remove the topics the runs made (DLQs, repartition, changelogs)."""
    marks = set()
    for env in envs:
        marks.add(env["Quix__Consumer__Group"])
        marks.update(f"{env[k]}-dlq" for k in ("FLOWS_ENRICHED_TOPIC", "FLOWS_AGGREGATED_TOPIC"))
    delete_topics_containing(broker, marks)


def delete_topics_containing(broker: str, marks: Iterable[str]) -> None:
    """Delete every topic whose name contains one of ``marks``; best effort."""
    marks = [m for m in marks if m]
    admin = AdminClient({"bootstrap.servers": broker})
    try:
        names = [t for t in admin.list_topics(timeout=10).topics if any(m in t for m in marks)]
        if names:
            for fut in admin.delete_topics(names, operation_timeout=30).values():
                fut.result(timeout=30)
    except Exception:  # cleanup must not fail a test
        pass


def produce(broker: str, topic: str, messages: Iterable[tuple[bytes | None, bytes, int]]) -> int:
    """Produce (key, value, timestamp ms) messages; returns how many."""
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 20})
    n = 0
    for key, value, ts in messages:
        producer.produce(topic, value=value, key=key, timestamp=ts)
        n += 1
        if n % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return n


class TopicReader:
    """Reads a topic from the start with read_committed (what a downstream consumer sees)."""

    def __init__(self, broker: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": broker,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
        self.records: list[dict[str, Any]] = []
        self.keys: list[bytes | None] = []
        self.lines_per_message: list[int] = []

    def _take(self, msg: Any) -> None:
        """A message's records: one JSON object, or several newline-separated (MULTI_VALUES),
        each with the message's key."""
        lines = msg.value().split(b"\n")
        self.lines_per_message.append(len(lines))
        for line in lines:
            self.records.append(orjson.loads(line))
            self.keys.append(msg.key())

    def read_until(
        self,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout: float,
        what: str = "",
        diagnose: Callable[[list[dict[str, Any]]], str] = lambda _records: "",
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.records):
                return self.records
            for msg in self.consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                self._take(msg)
        if done(self.records):
            return self.records
        sums = totals(output_sums(self.records, [])[0])
        raise AssertionError(f"{what or 'records'} never came within {timeout}s "
                             f"({len(self.records)} read, sums {sums}) "
                             f"{diagnose(self.records)}")  # fmt: skip

    def drain(self, quiet: float = 3.0) -> list[dict[str, Any]]:
        """Read until nothing new arrives for ``quiet`` seconds."""
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            for msg in self.consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                self._take(msg)
                last = time.monotonic()
        return self.records

    def close(self) -> None:
        self.consumer.close()


def records_by_partition(broker: str, topic: str) -> dict[int, list[dict[str, Any]]]:
    """The records (JSON objects with packets and bytes, one per line) of each partition of
    ``topic``, read back from Kafka: where the producer's partitioner put them."""
    consumer = Consumer({"bootstrap.servers": broker, "group.id": f"by-part-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})  # fmt: skip
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + 60
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                for line in msg.value().split(b"\n"):
                    try:
                        rec = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(rec, dict) and "packets" in rec and "bytes" in rec:
                        out[msg.partition()].append(rec)
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
        assert not ends, f"{topic} not read to its end: {ends}"
    finally:
        consumer.close()
    return dict(out)


def metric(host: str, port: int, sample: str) -> float:
    """The value of one sample (``name{labels}``) on the aggregator's /metrics (0 if absent)."""
    text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read()
    for line in text.decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
