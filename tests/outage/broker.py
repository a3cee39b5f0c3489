"""A private Kafka broker that outage tests stop and start again (same port, same data dir).

Never the session broker: each test module gets its own managed broker on 127.0.0.140 and fixed
ports of the 23000-23999 range, stopped by pid at the end (also when a test fails).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from ribflow.kafka.local import BrokerConfig, LocalKafka, broker_answers
from tests.fixtures.kafka import warm_up
from tests.fixtures.waiting import wait_for

HOST = "127.0.0.140"  # the broker and the apps under test
SENDER = "127.0.0.141"  # where test traffic comes from


class Broker:
    """One managed broker: ``stop`` kills it (by pid), ``start`` brings it back."""

    def __init__(self, data_dir: Path, port: int) -> None:
        cfg = BrokerConfig(
            host=HOST,
            port=port,
            controller_port=port + 1,
            data_dir=data_dir,
            heap="384m",
            # after a crash the controller waits for the dead broker's registration to expire
            # before the restarted one may register: 2 s instead of 9 s
            extra={"broker.session.timeout.ms": "2000", "broker.heartbeat.interval.ms": "500"},
        )
        self.kafka = LocalKafka(cfg)
        self.address = cfg.address
        self._down_since: float | None = None
        self.last_outage_s = 0.0  # from the start of ``stop`` to the end of ``start``

    def start(self) -> None:
        self.kafka.up()
        warm_up(self.address)
        if self._down_since is not None:
            self.last_outage_s = time.monotonic() - self._down_since
            self._down_since = None

    def stop(self) -> None:
        """Kill the broker at once (SIGKILL to its process group): a crash, not a shutdown."""
        self._down_since = time.monotonic()
        pid = self.kafka.running_pid()
        assert pid, "the broker was not running"
        os.killpg(pid, signal.SIGKILL)
        wait_for("the broker to die", lambda: self.kafka.running_pid() is None, 30, every=0.05)
        self.kafka.down()  # forgets the pid file
        assert not broker_answers(self.address, timeout=2), "the broker still answers"

    def ensure_up(self) -> None:
        if self.kafka.running_pid() is None:
            self.start()


def private_broker(port: int) -> Callable[..., Iterator[Broker]]:
    """A module-scoped fixture function: one private broker on ``port`` and ``port + 1``."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
        broker = Broker(tmp_path_factory.mktemp("outage-kafka"), port)
        try:
            broker.start()
            yield broker
        finally:
            broker.kafka.down()

    return fixture


def scrape(port: int, host: str = HOST) -> dict[str, float]:
    """Prometheus text of ``host:port`` as {series: value} (series with their labels)."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def metric(samples: dict[str, float], name: str, labels: str = "") -> float:
    """Sum of the samples of ``name`` whose label text contains ``labels``."""
    return sum(v for s, v in samples.items() if s.split("{", 1)[0] == name and labels in s)


def produce_across_stop(
    broker: Broker,
    topic: str,
    messages: list[tuple[bytes, bytes, int]],
    stop_after: int,
    every_s: float = 0.02,
) -> Producer:
    """Produce ``messages`` one by one (a live stream) and stop the broker after ``stop_after``.

    The rest wait in the (idempotent) producer, like a collector's queue; flush it once the broker
    is back. The app under test is mid-stream when Kafka dies.
    """
    producer = Producer(
        {
            "bootstrap.servers": broker.address,
            "linger.ms": 0,
            "enable.idempotence": True,
            "message.timeout.ms": 300_000,
        }
    )
    for i, (key, value, ts) in enumerate(messages):
        if i == stop_after:
            assert producer.flush(30) == 0, "the stream before the stop was not delivered"
            broker.stop()
        producer.produce(topic, value, key, timestamp=ts)
        producer.poll(0)
        if i < stop_after:
            time.sleep(every_s)
    return producer
