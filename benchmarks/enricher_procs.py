"""Kafka, processes and /proc readings of the enricher benchmark (bench_enricher.py; bench_scale.py
uses them too).

The importing script puts the repository root on sys.path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ribflow.kafka.producer import produce_waiting

REPO = Path(__file__).resolve().parents[1]
BENCH_ENRICHER = REPO / "benchmarks" / "bench_enricher.py"  # its --passthrough runs the Quix app
TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PARTITIONS = 2


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TCK  # utime, stime, cutime, cstime


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


# -- Kafka -----------------------------------------------------------------------------------
class Kafka:
    def __init__(self, broker: str) -> None:
        self.broker = broker
        self.admin = AdminClient({"bootstrap.servers": broker})
        self.made: list[str] = []

    def topic(self, name: str, partitions: int = PARTITIONS, compact: bool = False) -> str:
        config = {"cleanup.policy": "compact"} if compact else {}
        fut = self.admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name]
        fut.result(timeout=30)
        self.made.append(name)
        return name

    def produce(self, topic: str, messages: Iterator[tuple[str, bytes, int]]) -> int:
        p = Producer({"bootstrap.servers": self.broker, "linger.ms": 20,
                      "compression.type": "lz4",
                      "queue.buffering.max.messages": 500_000})  # fmt: skip
        n = 0
        for key, value, ts in messages:
            produce_waiting(p, topic, value, key.encode(), timestamp=ts)
            n += 1
            if n % 10000 == 0:
                p.poll(0)
        assert p.flush(120) == 0
        return n

    def end_offsets(self, topic: str) -> dict[int, int]:
        c = Consumer({"bootstrap.servers": self.broker, "group.id": "bench-watermarks"})
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
                    for p in md.partitions}  # fmt: skip
        finally:
            c.close()

    def count(self, topic: str) -> int:
        return sum(self.end_offsets(topic).values())

    def caught_up(self, group: str, topic: str) -> bool:
        ends = self.end_offsets(topic)
        c = Consumer({"bootstrap.servers": self.broker, "group.id": group})
        try:
            committed = c.committed([TopicPartition(topic, p) for p in ends], timeout=10)
            return all(ends[tp.partition] == 0 or tp.offset >= ends[tp.partition]
                       for tp in committed)  # fmt: skip
        finally:
            c.close()

    def cleanup(self, groups: list[str]) -> None:
        existing = self.admin.list_topics(timeout=10).topics
        doomed = [t for t in existing if t in self.made or any(f"__{g}" in t for g in groups)]
        doomed += [t + "-dlq" for t in self.made if t + "-dlq" in existing]
        if doomed:
            for fut in self.admin.delete_topics(doomed, operation_timeout=60).values():
                with contextlib.suppress(Exception):
                    fut.result(timeout=60)


# -- processes ---------------------------------------------------------------------------------
def enricher(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ribflow", "enricher"],
            env={**os.environ, "PYTHONPATH": str(REPO / "src"), **env},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def passthrough(broker: str, src: str, dst: str, group: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(BENCH_ENRICHER), "--passthrough", broker, src, dst, group,
             str(log.parent)],
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def run_passthrough(broker: str, src: str, dst: str, group: str, workdir: str) -> None:
    """A Quix app that moves every message of ``src`` to ``dst`` unchanged."""
    from quixstreams import Application

    app = Application(broker_address=broker, consumer_group=group, auto_offset_reset="earliest",
                      commit_interval=1.0, loglevel=None, use_changelog_topics=False,
                      state_dir=str(Path(workdir) / "pass-state"),
                      producer_extra_config={"linger.ms": 20,
                                             "compression.type": "lz4"})  # fmt: skip
    t_in = app.topic(src, key_deserializer="bytes", value_deserializer="bytes")
    t_out = app.topic(dst, key_serializer="bytes", value_serializer="bytes")
    app.dataframe(t_in).to_topic(t_out)
    app.run()


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait(check: Any, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None,
         log: Path | None = None, every: float = 0.5) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what}: process exited\n{log.read_text()[-3000:] if log else ''}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)



def smaps_groups(pid: int) -> dict[str, int]:
    """RSS bytes by kind of mapping: heap, large anonymous (thread arenas, RocksDB), files."""
    out: dict[str, int] = {}
    name = "?"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                parts = line.split()
                path = parts[5] if len(parts) > 5 else ""
                lo, hi = (int(x, 16) for x in head.split("-"))
                anon = ("anonymous, 1 MiB (pymalloc arenas)" if hi - lo == 1 << 20
                        else "anonymous, other (thread arenas, big blocks)")  # fmt: skip
                name = ("heap (brk)" if path == "[heap]" else "stack/vdso" if path.startswith("[")
                        else anon if not path
                        else "python ext (.so)" if ".so" in path else "other files")  # fmt: skip
            elif head == "Rss:":
                out[name] = out.get(name, 0) + int(line.split()[1]) * 1024
    return out
