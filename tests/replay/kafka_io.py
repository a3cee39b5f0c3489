"""Real-Kafka helpers of the replay tests: write a scenario, read a topic back with kcat,
run the CLI or the live enricher as processes (stopped by pid, also on failure)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer

from tests.replay.scenario import Msg

REPO = Path(__file__).resolve().parents[2]


def write(broker: str, bgp: str, flows: str, messages: Iterable[Msg]) -> None:
    """Produce in the given order, each with its explicit partition and Kafka timestamp."""
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5, "enable.idempotence": True})
    for m in messages:
        topic = bgp if m.topic == "bgp" else flows
        producer.produce(topic, m.value, m.key.encode(), partition=m.partition, timestamp=m.ts)
    assert producer.flush(30) == 0


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    ts: int
    key: bytes
    value: bytes


def kcat(broker: str, topic: str, expect: int, timeout: float = 60.0) -> list[Record]:
    """Every message of ``topic`` (kcat, an independent client) once ``expect`` are there."""
    deadline = time.monotonic() + timeout
    while True:
        cmd = ["kcat", "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q"]
        cmd += ["-f", "%p\\t%o\\t%T\\t%k\\t%s\\n"]
        out = subprocess.run(cmd, capture_output=True, timeout=60).stdout
        got = []
        for line in out.split(b"\n"):
            if line:
                p, o, t, k, v = line.split(b"\t", 4)
                got.append(Record(int(p), int(o), int(t), k, v))
        if len(got) >= expect or time.monotonic() > deadline:
            return sorted(got, key=lambda r: (r.partition, r.offset))
        time.sleep(0.5)


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "ribflow", "replay", *args],
        env=full, capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )  # fmt: skip


_DELETE_RECORDS = """
import json, sys
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
wanted = [TopicPartition(t, p, o) for t, p, o in json.loads(sys.argv[2])]
for fut in admin.delete_records(wanted).values():
    fut.result(timeout=30)
"""


def delete_records(broker: str, offsets: list[tuple[str, int, int]]) -> None:
    """What retention does: delete every message before ``offset`` of each (topic, partition).

    Run in a child process: AdminClient.delete_records in confluent-kafka 2.12 drops a
    reference it does not own and corrupts the caller's heap (confluent-kafka-python issue
    #2275, fixed by PR #2328); here it crashed the test process at a later GC.
    """
    import json

    subprocess.run(
        [sys.executable, "-c", _DELETE_RECORDS, broker, json.dumps(offsets)],
        check=True, timeout=60,
    )  # fmt: skip


@contextmanager
def live_enricher(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``ribflow enricher`` as a process; stopped by pid whatever happens."""
    full = {**os.environ, **env, "PYTHONPATH": str(REPO / "src")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "enricher"], env=full, stdout=out,
            stderr=subprocess.STDOUT, cwd=log.parent,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
