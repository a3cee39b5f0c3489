"""Real-Kafka helpers of the enricher's integration tests: produce, read back, run the app.

Outputs are read back with kcat (an independent client) where the test is about what landed in
Kafka; the enricher runs as a real ``python -m ribflow enricher`` process that tests stop by pid
(SIGTERM, or SIGKILL for crash tests), also when they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.fixtures.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def produce(broker: str, topic: str, messages: Iterable[tuple[str, Any, int]]) -> int:
    """Produce ``(key, value, timestamp_ms)``; values that are not bytes are JSON-encoded."""
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    n = 0
    for key, value, ts in messages:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        producer.produce(topic, raw, key.encode(), timestamp=ts)
        n += 1
    assert producer.flush(30) == 0, "messages not delivered"
    return n


def kcat_read(
    broker: str,
    topic: str,
    expect: int,
    timeout: float = 60.0,
    committed_only: bool = False,
) -> list[tuple[bytes, bytes | None]]:
    """Read a topic from the start with kcat until ``expect`` messages arrived (or timeout).

    Returns ``(key, value)`` pairs (value None for tombstones). kcat prints each message as
    ``key<TAB>value`` with ``-Z`` turning nulls into the string NULL; keys never contain tabs.
    """
    deadline = time.monotonic() + timeout
    got: list[tuple[bytes, bytes | None]] = []
    while True:
        cmd = ["kcat", "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q", "-Z"]
        cmd += ["-f", "%k\\t%S\\t%s\\n"]
        isolation = "read_committed" if committed_only else "read_uncommitted"
        cmd += ["-X", f"isolation.level={isolation}"]
        out = subprocess.run(cmd, capture_output=True, timeout=60).stdout
        got = []
        for line in out.split(b"\n"):
            if not line:
                continue
            key, size, value = line.split(b"\t", 2)
            got.append((key, None if size == b"-1" else value))
        if len(got) >= expect or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def read_json(
    broker: str, topic: str, expect: int, timeout: float = 60.0, committed_only: bool = False
) -> list[dict[str, Any]]:
    """JSON values of a topic (tombstones skipped), one object per message."""
    pairs = kcat_read(broker, topic, expect, timeout, committed_only)
    return [orjson.loads(v) for _, v in pairs if v is not None]


def committed_caught_up(broker: str, group: str, topic: str, partitions: int) -> bool:
    """Whether ``group`` committed every partition of ``topic`` up to its end."""
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = consumer.committed(tps, timeout=10)
        for tp in committed:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), 10)
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        consumer.close()


class EnricherProcess:
    """One ``python -m ribflow enricher`` process with its own environment and log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EnricherProcess:
        env = {**os.environ, **self.env, "PYTHONPATH": str(REPO / "src")}
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "enricher"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_log(self, text: str, timeout: float = 90.0, count: int = 1) -> None:
        wait_for(text, lambda: self.log().count(text) >= count or not self.alive(), timeout)
        assert self.log().count(text) >= count, f"enricher exited:\n{self.log()[-3000:]}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        """Signal the process (by pid) and wait; SIGKILL if it does not go in time."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=30)


@contextmanager
def running(*procs: EnricherProcess) -> Iterator[tuple[EnricherProcess, ...]]:
    """Start the processes; whatever happens, stop every one of them by pid."""
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.stop(signal.SIGKILL if not p.alive() else signal.SIGTERM)


def enricher_env(
    broker: str, topics: dict[str, str], state_dir: Path, group: str, **extra: str
) -> dict[str, str]:
    """Environment of an enricher process over the given topic names."""
    env = {
        "Quix__Broker__Address": broker,
        "Quix__Consumer__Group": group,
        "Quix__State__Dir": str(state_dir),
        "BGP_UPDATES_TOPIC": topics["bgp"],
        "FLOWS_TOPIC": topics["flows"],
        "FLOWS_ENRICHED_TOPIC": topics["enriched"],
        "BGP_RIB_DUMP_TOPIC": topics["dump"],
        "BGP_RIB_TOPIC": topics["rib"],
        "COMMIT_INTERVAL": "1",
        "SESSION_TIMEOUT_MS": "6000",
        "RIB_DUMP_INTERVAL": "0",
        "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env
