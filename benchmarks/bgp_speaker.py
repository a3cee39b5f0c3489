"""The measured ExaBGP speaker of benchmarks/bench_bgp.py: its CPU, its runs, their results.

``timed_run`` starts ``ribflow exabgp run`` with the routers' sessions held down, waits until every
ExaBGP process and every API process below it is idle (``wait_idle``: utime+stime from /proc), lets
the sessions up and polls until the last End-of-RIB. ``measure_alone`` runs it with the discarding
sink (bench_bgp.py --sink) as the API process, ``measure_path`` with the ribflow bridge producing
to Kafka, read back by an independent consumer. Each gives a ``Result``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from bgp_routers import EXA, SETTLE_TIMEOUT, Router, stop
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

BENCH_BGP = Path(__file__).resolve().with_name("bench_bgp.py")  # runs the sink (--sink)
RUN_TIMEOUT = 900.0  # "it never came" deadline, not an expected duration


# ------------------------------------------------------------------ processes and their CPU
def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is [0], ppid [1])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    stat = proc_stat(pid)
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK") if stat else 0.0


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat and int(stat[1]) == pid:
                out.append(int(entry.name))
    return out


def descendants(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        out += [child, *descendants(child)]
    return out


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far of each ExaBGP process and of each one's API processes (by pid)."""

    exabgp_by_pid: dict[int, float]
    api_by_pid: dict[int, float]

    @property
    def exabgp(self) -> float:
        return sum(self.exabgp_by_pid.values())

    @property
    def api(self) -> float:
        return sum(self.api_by_pid.values())

    @property
    def busiest_exabgp(self) -> float:
        """The most loaded ExaBGP process: the bound on scaling once cores are free."""
        return max(self.exabgp_by_pid.values(), default=0.0)

    def __sub__(self, other: Cpu) -> Cpu:
        def minus(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
            return {pid: s - b.get(pid, 0.0) for pid, s in a.items()}

        return Cpu(
            minus(self.exabgp_by_pid, other.exabgp_by_pid), minus(self.api_by_pid, other.api_by_pid)
        )


def speaker_cpu(speaker: subprocess.Popen[bytes]) -> Cpu:
    exa = children(speaker.pid)
    api = [d for e in exa for d in descendants(e)]
    return Cpu({p: cpu_seconds(p) for p in exa}, {p: cpu_seconds(p) for p in api})


def wait_idle(speaker: subprocess.Popen[bytes], procs: int, step: float = 0.5) -> Cpu:
    """Wait until ``procs`` ExaBGP processes and their API processes run and use no more CPU."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last: Cpu | None = None
    quiet = 0
    while time.monotonic() < deadline:
        if speaker.poll() is not None:
            raise RuntimeError(f"the speaker exited ({speaker.returncode})")
        now = speaker_cpu(speaker)
        ready = len(now.exabgp_by_pid) == procs and len(now.api_by_pid) >= procs
        if ready and last is not None and (now.exabgp + now.api) - (last.exabgp + last.api) < 0.03:
            quiet += 1
            if quiet >= 3:
                return now
        else:
            quiet = 0
        last = now
        time.sleep(step)
    raise RuntimeError(f"the speaker's {procs} process(es) never settled")


# ------------------------------------------------------------------ one measurement
@dataclass
class Result:
    table: str
    mode: str
    processes: int
    routers: int
    prefixes: int
    seconds: float
    cpu: Cpu
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.prefixes / self.seconds if self.seconds > 0 else 0.0

    @property
    def api_per_100k(self) -> float:
        return self.cpu.api / self.prefixes * 100_000 if self.prefixes else 0.0


def speaker_env(
    broker: str, topic: str, work: Path, routers: list[Router], processes: int, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGP_", "BRIDGE_", "EXABGP_"))}
    env.update(
        {
            "Quix__Broker__Address": broker,
            "BGP_UPDATES_TOPIC": topic,
            "BGP_LOCAL_ADDRESS": EXA,
            "BGP_ROUTER_ID": "10.0.0.120",
            "BGP_NEIGHBORS": ",".join(r.addr for r in routers),
            "EXABGP_PROCESSES": str(processes),
            "EXABGP_CONFIG_DIR": str(work / f"exabgp-{uuid.uuid4().hex[:6]}"),
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def timed_run(
    env: dict[str, str],
    work: Path,
    routers: list[Router],
    processes: int,
    done: Callable[[], tuple[float, float] | None],
) -> tuple[float, Cpu]:
    """Start the speaker with the sessions held down, wait until it is idle, let the sessions
    up, poll ``done`` (-> (first up, last End-of-RIB) in epoch seconds) until it answers.
    Returns (wall seconds, CPU used in between)."""
    for r in routers:
        r.sessions(up=False)
    with (work / "speaker.log").open("ab") as log:
        speaker = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "exabgp", "run"], env=env, stdout=log, stderr=log
        )
    try:
        before = wait_idle(speaker, processes)
        for r in routers:
            r.sessions(up=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        while (span := done()) is None:
            if speaker.poll() is not None:
                raise RuntimeError(f"the speaker exited ({speaker.returncode}): {work}/speaker.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"End-of-RIB never came: {work}/speaker.log")
            time.sleep(0.05)
        used = speaker_cpu(speaker) - before
    finally:
        stop(speaker)
    return span[1] - span[0], used


def measure_alone(
    table: str, routers: list[Router], processes: int, broker: str, work: Path, wire: bool
) -> Result:
    result = work / f"sink-{uuid.uuid4().hex[:6]}.jsonl"
    cmd = f"{sys.executable} {BENCH_BGP} --sink {result}"
    env = speaker_env(
        broker, "unused", work, routers, processes,
        EXABGP_BRIDGE_COMMAND=cmd, BGP_WIRE_ASPATH=str(wire).lower(),
    )  # fmt: skip
    want = 2 * len(routers)  # IPv4 and IPv6 End-of-RIB of every router

    def done() -> tuple[float, float] | None:
        rows = [json.loads(x) for x in result.read_text().splitlines()] if result.exists() else []
        if sum(r["kind"] == "eor" for r in rows) < want:
            return None
        up = min(r["time"] for r in rows if r["kind"] == "up")
        return up, max(r["time"] for r in rows if r["kind"] == "eor")

    seconds, cpu = timed_run(env, work, routers, processes, done)
    mode = "exabgp alone" if wire else "exabgp alone, no raw"
    prefixes = sum(r.prefixes for r in routers)
    return Result(table, mode, processes, len(routers), prefixes, seconds, cpu)


def measure_path(
    table: str, routers: list[Router], processes: int, broker: str, work: Path, partitions: int
) -> Result:
    topic = f"bench-bgp-{uuid.uuid4().hex[:8]}"
    env = speaker_env(broker, topic, work, routers, processes, PARTITIONS=str(partitions))
    consumer = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
        }
    )
    up: dict[str, int] = {}
    eors: dict[str, set[str]] = {}
    seen = {"nlri": 0, "messages": 0}
    assigned: list[bool] = []

    def done() -> tuple[float, float] | None:
        if not assigned:  # the bridges create the topic when they start
            md = AdminClient({"bootstrap.servers": broker}).list_topics(topic, timeout=5)
            meta = md.topics.get(topic)
            if meta is None or meta.error or not meta.partitions:
                return None
            consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
            assigned.append(True)
        for m in consumer.consume(10000, timeout=0.5):
            if m.error():
                continue
            seen["messages"] += 1
            e = orjson.loads(m.value())  # fast: this reader shares the cores it measures
            if e["type"] == "session" and e["state"] == "up":
                up[e["router"]] = e["time_ms"]
            elif e["type"] == "eor":
                eors.setdefault(e["router"], set()).add(e["family"])
            elif e["type"] == "update":
                seen["nlri"] += sum(len(g["nlri"]) for g in e["announce"])
        if len(eors) == len(routers) and all(len(f) >= 2 for f in eors.values()) and up:
            return min(up.values()) / 1000, time.time()
        return None

    try:
        seconds, cpu = timed_run(env, work, routers, processes, done)
    finally:
        consumer.close()
        admin = AdminClient({"bootstrap.servers": broker})
        for fut in admin.delete_topics([topic, f"{topic}-dlq"]).values():
            with contextlib.suppress(Exception):
                fut.result(timeout=30)
    prefixes = sum(r.prefixes for r in routers)
    res = Result(table, "whole path (Kafka)", processes, len(routers), prefixes, seconds, cpu)
    res.extra = {"nlri_read_back": seen["nlri"], "messages": seen["messages"]}
    return res
