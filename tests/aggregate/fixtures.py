"""Fixtures of the aggregation tests: the aggregator as a real process, Kafka in and out.

The expected sums are computed here by a plain group-by over the input records that does not
use ribflow's code: :func:`expected_sums` re-states pmacct's rules (missing value -> default,
packets/bytes times sampling_rate above 1, time bin = floor of the flow time).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.fixtures.waiting import wait_for

Sums = dict[tuple[tuple[Any, ...], str], list[int]]


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


def stamp(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def expected_sums(
    records: Iterable[dict[str, Any]],
    keys: list[tuple[str, Any]],
    bin_s: int,
    time_key: str = "timestamp_arrival",
) -> Sums:
    """Plain group-by: (values of ``keys`` with defaults, bin stamp) -> [flows, packets, bytes].

    ``keys`` lists (record key, default) in the order of pmacct's output; time values in the
    records are epoch seconds (numbers).
    """
    out: Sums = defaultdict(lambda: [0, 0, 0])
    for rec in records:
        rate = rec.get("sampling_rate") or 1
        scale = rate if rate > 1 else 1
        values = []
        for k, default in keys:
            v = rec.get(k)
            if k == "sampling_rate" and v is not None and v > 1:
                v = 1
            v = default if v is None else v
            values.append(tuple(v) if isinstance(v, list) else v)
        t = int(rec[time_key])
        slot = (tuple(values), stamp(t - t % bin_s))
        acc = out[slot]
        acc[0] += rec.get("flows", 1)
        acc[1] += rec["packets"] * scale
        acc[2] += rec["bytes"] * scale
    return dict(out)


def partial_records(
    per_partition: Iterable[list[dict[str, Any]]],
    keys: list[tuple[str, Any]],
    bin_s: int,
    time_key: str = "timestamp_arrival",
) -> int:
    """How many more records than (key, bin) slots the aggregator writes when each input
    partition sums its own records (no repartition): a slot whose records are in n input
    partitions comes out n times, as partial sums."""
    seen: dict[tuple[tuple[Any, ...], str], int] = defaultdict(int)
    for records in per_partition:
        for slot in expected_sums(records, keys, bin_s, time_key):
            seen[slot] += 1
    return sum(n - 1 for n in seen.values())


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


def output_sums(records: Iterable[dict[str, Any]], keys: list[str]) -> tuple[Sums, int]:
    """Sum purge records by (their primitive values, stamp_inserted); also count duplicates."""
    out: Sums = defaultdict(lambda: [0, 0, 0])
    seen: dict[tuple[tuple[Any, ...], str], int] = defaultdict(int)
    for rec in records:
        if rec.get("event_type") != "purge":
            continue
        values = tuple(tuple(v) if isinstance(v, list) else v for v in (rec[k] for k in keys))
        slot = (values, rec["stamp_inserted"])
        seen[slot] += 1
        acc = out[slot]
        acc[0] += rec["flows"]
        acc[1] += rec["packets"]
        acc[2] += rec["bytes"]
    return dict(out), sum(n - 1 for n in seen.values())


def totals(sums: Sums) -> list[int]:
    return [sum(v[i] for v in sums.values()) for i in range(3)]


_CLOSER_INT = ("as_src", "as_dst", "peer_as_src", "peer_as_dst", "local_pref", "med",
               "port_src", "port_dst", "iface_in", "iface_out", "tos", "mask_src", "mask_dst",
               "export_proto_version", "tag")  # fmt: skip
_CLOSER_STR = ("ip_src", "ip_dst", "net_src", "net_dst", "peer_ip_src", "peer_ip_dst",
               "as_path", "comms", "lcomms", "ecomms", "ip_proto", "as_path_src",
               "timestamp_start", "timestamp_end")  # fmt: skip


def closers(ts_s: float, n: int = 32) -> list[tuple[bytes, bytes, int]]:
    """Flows far later than the test's flows, each differing in every primitive so that under
    any aggregate list they spread over every partition: they move each partition's clock past
    the last window, which is then written. Their own window is never closed."""
    out = []
    for i in range(n):
        rec: dict[str, Any] = {k: 60000 + i for k in _CLOSER_INT}
        rec.update({k: f"closer{i}" for k in _CLOSER_STR})
        rec.update({"packets": 1, "bytes": 1, "timestamp_arrival": ts_s})
        out.append((f"closer-{i}".encode(), orjson.dumps(rec), int(ts_s * 1000)))
    return out


def metric(host: str, port: int, sample: str) -> float:
    """The value of one sample (``name{labels}``) on the aggregator's /metrics (0 if absent)."""
    text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read()
    for line in text.decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def window_records(
    base: int, w: int, rng: random.Random, per_window: int, window_s: int
) -> list[dict[str, Any]]:
    """``per_window`` random flows inside window ``w`` (of ``window_s`` seconds from ``base``),
    in time order."""
    recs = [
        {
            "ip_src": f"10.9.{rng.randrange(4)}.{rng.randrange(10)}",
            "ip_proto": rng.choice(["tcp", "udp"]),
            "packets": rng.randint(1, 50),
            "bytes": rng.randint(40, 60000),
            "timestamp_arrival": base + w * window_s + rng.random() * window_s,
        }
        for _ in range(per_window)
    ]
    return sorted(recs, key=lambda r: r["timestamp_arrival"])


def router_messages(recs: list[dict[str, Any]]) -> list[tuple[bytes, bytes, int]]:
    """One message per flow, all with one router key: the flows stay in time order through one
    input partition."""
    return [(b"router", orjson.dumps(r), int(r["timestamp_arrival"] * 1000)) for r in recs]


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's murmur2 partitioner (Java's default, librdkafka's ``murmur2``,
    which Quix's producer uses) gives ``key``: Kafka's Utils.murmur2, restated here."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ len(key)) & mask
    whole = len(key) & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        h = ((h * m) & mask) ^ ((k * m) & mask)
    rest = len(key) - whole
    if rest >= 3:
        h ^= key[whole + 2] << 16
    if rest >= 2:
        h ^= key[whole + 1] << 8
    if rest >= 1:
        h ^= key[whole]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions
