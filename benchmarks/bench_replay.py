#!/usr/bin/env python3
"""Replay benchmark: `ribflow replay` next to the live enricher, on the same data, in one run.

Workload (seeded): one router per partition, each with a synthetic table (tests/fixtures/synth.py)
loaded at T0, then ``--churn`` re-announcements of random prefixes with other attribute sets
spread over a 10-minute window, and ``--flows`` flow records (messages of 25, as export packets
carry them) spread over the same window, every record's source and destination inside the table.
Everything is produced to fresh topics with explicit Kafka timestamps, then

1. the live enricher (`ribflow enricher`, its defaults: RocksDB state with changelog, bgp-rib
   table; RIB dumps off) consumes both topics from the start, stopping 5 s after it goes idle;
2. `ribflow replay --from T0 --to end` replays the window into its own topic (point-in-time,
   RIBs in memory, no state store) and exits when done.

Each side is a child process: wall time from start until its last flow was written (startup,
group join and the table load included), CPU seconds from ``wait4``, peak RSS from the
process's VmHWM (sampled every 0.2 s until it exits); the broker and this script are not
counted. The machine is shared with other work: the load average is
printed with the results.

    .venv/bin/python benchmarks/bench_replay.py [--routes 100000] [--flows 200000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))
from ribflow.kafka.producer import produce_waiting  # noqa: E402
from ribflow.replay.window import format_time  # noqa: E402
from tests.fixtures.synth import SynthTable  # noqa: E402

WINDOW_MS = 600_000
ROUTERS = ["127.0.0.3", "127.0.0.5", "127.0.0.7", "127.0.0.9"]


@dataclass
class Workload:
    bgp: list[tuple[str, int, bytes, int]]  # (key, partition, value, ts)
    flows: list[tuple[str, int, bytes, int]]
    n_flows: int
    paths: int
    t0: int


def workload(routes: int, flows: int, churn: int, partitions: int) -> Workload:
    t0 = (int(time.time()) - 7200) * 1000
    start = t0 + 60_000
    rnd = random.Random(11)
    bgp: list[tuple[str, int, bytes, int]] = []
    flow_msgs: list[tuple[str, int, bytes, int]] = []
    paths = n_flows = 0
    for p in range(partitions):
        router = ROUTERS[p % len(ROUTERS)]
        table = SynthTable(routes // partitions, seed=42 + p)
        paths += len(table.routes)
        seq = 0
        for msg in table.updates(router, epoch=t0, time_ms=t0):
            seq = msg["seq"]
            bgp.append((router, p, orjson.dumps(msg), t0))
        v4 = [r for r in table.routes if r.afi == 1]
        for i in range(churn // partitions):
            seq += 1
            r = v4[rnd.randrange(len(v4))]
            next_hop, attrs = table.sets4[rnd.randrange(len(table.sets4))]
            ts = start + i * WINDOW_MS // max(1, churn // partitions)
            msg = {"v": 1, "type": "update", "router": router, "peer": router, "peer_as": 65001,
                   "time_ms": ts, "epoch": t0, "seq": seq, "attrs": attrs, "withdraw": [],
                   "announce": [{"family": "ipv4 unicast", "next_hop": next_hop,
                                 "nlri": [{"prefix": r.prefix, "path_id": 0}]}]}  # fmt: skip
            bgp.append((router, p, orjson.dumps(msg), ts))
        records = table.flow_records(flows // partitions, exporter=router, seed=7 + p)
        n_flows += len(records)
        n_msgs = -(-len(records) // 25)
        for i in range(n_msgs):
            ts = start + i * WINDOW_MS // n_msgs
            batch = records[i * 25 : (i + 1) * 25]
            for rec in batch:
                rec["time_export_ms"] = rec["time_received_ms"] = rec["end_ms"] = ts
                rec["start_ms"] = ts - 1000
            value = {"v": 1, "router": router, "exporter": router, "records": batch}
            flow_msgs.append((router, p, orjson.dumps(value), ts))
    return Workload(bgp, flow_msgs, n_flows, paths, t0)


class Kafka:
    def __init__(self, broker: str) -> None:
        self.broker = broker
        self.admin = AdminClient({"bootstrap.servers": broker})
        self.made: list[str] = []

    def topic(self, name: str, partitions: int) -> str:
        self.admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)
        self.made.append(name)
        return name

    def produce(self, topic: str, messages: list[tuple[str, int, bytes, int]]) -> None:
        p = Producer(
            {
                "bootstrap.servers": self.broker,
                "linger.ms": 20,
                "compression.type": "lz4",
                "queue.buffering.max.messages": 500_000,
            }
        )
        for key, partition, value, ts in messages:
            produce_waiting(p, topic, value, key.encode(), partition=partition, timestamp=ts)
        assert p.flush(120) == 0

    def count(self, topic: str) -> int:
        c = Consumer({"bootstrap.servers": self.broker, "group.id": "bench-replay-watermarks"})
        try:
            md = c.list_topics(topic, timeout=10).topics.get(topic)
            if md is None or md.error is not None:
                return 0
            return sum(c.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
                       for p in md.partitions)  # fmt: skip
        finally:
            c.close()

    def cleanup(self, tag: str) -> None:
        existing = self.admin.list_topics(timeout=10).topics
        doomed = [t for t in existing if tag in t]
        if doomed:
            for fut in self.admin.delete_topics(doomed, operation_timeout=60).values():
                with contextlib.suppress(Exception):
                    fut.result(timeout=60)
        groups = [g.group_id for g in self.admin.list_consumer_groups().result(timeout=30).valid
                  if tag in g.group_id]  # fmt: skip
        if groups:
            for fut in self.admin.delete_consumer_groups(groups).values():
                with contextlib.suppress(Exception):
                    fut.result(timeout=30)


@dataclass
class Measured:
    wall: float  # start -> last flow written
    flowing: float  # first -> last flow written (after startup and the table load)
    cpu: float
    rss_mb: float  # VmHWM, sampled every 0.2 s until exit
    written: int
    exit_code: int


def vm_hwm_kb(pid: int) -> int:
    """Peak RSS of the process since its exec (``ru_maxrss`` of a child would include the
    parent's RSS at fork time, and this script holds the whole workload in memory)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd: list[str], env: dict[str, str], kafka: Kafka, out_topic: str,
            expect: int, log: Path) -> Measured:  # fmt: skip
    """Run ``cmd``; time until ``expect`` messages are in ``out_topic``; rusage at its exit."""
    with log.open("wb") as f:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO / "src"), **env},
                                stdout=f, stderr=subprocess.STDOUT)  # fmt: skip
    done_at = first_at = None
    hwm_kb = 0
    try:
        while True:
            hwm_kb = max(hwm_kb, vm_hwm_kb(proc.pid))
            if done_at is None:
                written = kafka.count(out_topic)
                now = time.perf_counter()
                if first_at is None and written > 0:
                    first_at = now
                if written >= expect:
                    done_at = now
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - started > 3600:
                proc.kill()
            time.sleep(0.2)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    if done_at is None and kafka.count(out_topic) >= expect:
        done_at = time.perf_counter()
    return Measured(
        wall=(done_at or float("nan")) - started,
        flowing=(done_at or float("nan")) - (first_at or started),
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=hwm_kb / 1024,
        written=kafka.count(out_topic),
        exit_code=proc.returncode,
    )


def report(wl: Workload, live: Measured, replay: Measured, args: Any) -> Iterator[str]:
    def row(name: str, a: float, b: float, fmt: str) -> str:
        ratio = b / a if a else float("nan")
        return f"| {name} | {a:{fmt}} | {b:{fmt}} | {ratio:.2f} |"

    load = os.getloadavg()
    yield (f"Workload: {wl.paths:,} paths on {args.partitions} routers/partitions, "
           f"{args.churn:,} route changes and {wl.n_flows:,} flows over 10 min")  # fmt: skip
    yield f"Load average during the run: {load[0]:.2f} {load[1]:.2f} (2 cores, shared machine)"
    yield ""
    yield "| measure | live enricher | replay | replay / live |"
    yield "|---|---|---|---|"
    yield row("flows written", live.written, replay.written, ",.0f")
    yield row("wall s, start to last flow (startup + table load included)", live.wall,
              replay.wall, ".1f")  # fmt: skip
    yield row("flows/s (wall, start to last flow)", wl.n_flows / live.wall,
              wl.n_flows / replay.wall, ",.0f")  # fmt: skip
    yield row("flows/s (first to last flow written, 0.2 s polls)", wl.n_flows / live.flowing,
              wl.n_flows / replay.flowing, ",.0f")  # fmt: skip
    yield row("CPU s of the process", live.cpu, replay.cpu, ".1f")
    yield row("flows per CPU-second (table load included)", wl.n_flows / live.cpu,
              wl.n_flows / replay.cpu, ",.0f")  # fmt: skip
    yield row("peak RSS MB (VmHWM)", live.rss_mb, replay.rss_mb, ",.0f")
    yield ""
    yield (
        "live: RocksDB state + changelog + bgp-rib table writes, stopped 5 s after idle (its "
        "CPU includes that idle wait); replay: RIBs in memory only, point-in-time holding."
    )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--broker", default=os.environ.get("Quix__Broker__Address", "127.0.0.1:9092"))
    p.add_argument("--routes", type=int, default=100_000)
    p.add_argument("--flows", type=int, default=200_000)
    p.add_argument("--churn", type=int, default=5000)
    p.add_argument("--partitions", type=int, default=2)
    args = p.parse_args(argv)
    kafka = Kafka(args.broker)
    tag = f"bench-replay-{uuid.uuid4().hex[:6]}"
    wl = workload(args.routes, args.flows, args.churn, args.partitions)
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        bgp = kafka.topic(f"{tag}-bgp", args.partitions)
        flows = kafka.topic(f"{tag}-flows", args.partitions)
        kafka.produce(bgp, wl.bgp)
        kafka.produce(flows, wl.flows)
        common = {"Quix__Broker__Address": args.broker, "BGP_UPDATES_TOPIC": bgp,
                  "FLOWS_TOPIC": flows, "LOG_LEVEL": "WARNING"}  # fmt: skip
        live_out = f"{tag}-live-enriched"
        live_env = {**common, "Quix__Consumer__Group": f"{tag}-live",
                    "Quix__State__Dir": str(work / "state"), "FLOWS_ENRICHED_TOPIC": live_out,
                    "BGP_RIB_DUMP_TOPIC": f"{tag}-dump", "BGP_RIB_TOPIC": f"{tag}-rib",
                    "RIB_DUMP_INTERVAL": "0", "COMMIT_INTERVAL": "5"}  # fmt: skip
        live = measure([sys.executable, "-m", "ribflow", "enricher", "--timeout", "5"],
                       live_env, kafka, live_out, wl.n_flows, work / "live.log")  # fmt: skip
        end = wl.t0 + 60_000 + WINDOW_MS + 1000
        prefix = f"{tag}-replay"
        replay_env = {**common, "Quix__Consumer__Group": tag, "REPLAY_TOPIC_PREFIX": prefix,
                      "CHECKPOINT_TOPIC": f"{tag}-checkpoints"}  # fmt: skip
        from ribflow.replay.window import Window

        out = f"{prefix}.{Window(wl.t0, end).label}"
        cmd = [sys.executable, "-m", "ribflow", "replay", "--from", format_time(wl.t0),
               "--to", format_time(end), "--progress", "never"]  # fmt: skip
        replay = measure(cmd, replay_env, kafka, out, wl.n_flows, work / "replay.log")
        for line in report(wl, live, replay, args):
            print(line)
        if replay.exit_code != 0:
            print((work / "replay.log").read_text()[-3000:], file=sys.stderr)
        else:
            summary = (work / "replay.log").read_text().strip().splitlines()
            print("\nreplay summary:\n" + "\n".join(summary[-12:]))
    finally:
        kafka.cleanup(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
