"""The aggregation benchmark's runs (bench_aggregate.py): one case (`ribflow aggregator` or the
pass-through Quix app below) over a topic, measured from its group's committed offsets and
/proc, and nfacctd with the same aggregate: line as the reference; with their Kafka and /proc
helpers.

The importing script puts the repository root and src/ on sys.path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.aggregate_datasets import GRACE_S, WINDOW_S
from benchmarks.procstat import group_cpu
from ribflow.kafka.producer import produce_waiting
from tests.enrich.daemons import nfacctd, started
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_for

TICK = os.sysconf("SC_CLK_TCK")
NFACCTD_IP = "127.0.3.20"  # this benchmark's loopback address for nfacctd
NF_RATE = 40_000  # flows per second sent to nfacctd (UDP: no faster than it reads)

PASSTHROUGH = """
import os, sys
from quixstreams import Application
app = Application(broker_address=os.environ["BROKER"], consumer_group=os.environ["GROUP"],
                  auto_offset_reset="earliest", processing_guarantee=os.environ["GUARANTEE"],
                  commit_interval=1.0, state_dir=os.environ["STATE"], loglevel="WARNING")
src = app.topic(os.environ["SOURCE"], key_deserializer="bytes", value_deserializer="bytes")
dst = app.topic(os.environ["SINK"], key_serializer="bytes", value_serializer="bytes")
app.dataframe(src).to_topic(dst)
app.run()
"""


# -- nfacctd with the same aggregate: line ----------------------------------------------------

NFACCTD_CONF = """daemonize: false
logfile: {d}/nfacctd.log
pidfile: {d}/nfacctd.pid
nfacctd_ip: {ip}
nfacctd_port: {port}
nfacctd_time_new: true
timestamps_utc: true
nfacctd_pipe_size: 8388608
plugin_pipe_size: 104857600
plugin_buffer_size: 10240
nfacctd_as: netflow
nfacctd_net: netflow
plugins: print[agg]
aggregate[agg]: {aggregate}, flows
print_output[agg]: json
print_output_file[agg]: {d}/out.json
print_output_file_append[agg]: true
print_refresh_time[agg]: {window}
print_cache_entries[agg]: 500009
"""

#: NetFlow v9 template: what the seed's flow primitives need (BGP ones come from NetFlow:
#: src/dst AS, BGP next hop; pmacct leaves the BGP-only ones, as_path and local_pref, empty)
V9_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (5, 1), (6, 1), (10, 4), (14, 4),
             (16, 4), (17, 4), (18, 4), (2, 4), (1, 4), (22, 4), (21, 4)]  # fmt: skip
V9_RECORD = struct.Struct("!4s4sHHBBBIIII4sIIII")
V9_PER_PACKET = 25
UPTIME_MS = 1_000_000_000
PROTO_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1}


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def netflow_v9(records: list[dict[str, Any]]) -> list[bytes]:
    """The dataset's flows as NetFlow v9 export packets (template first), one exporter."""
    head = struct.Struct("!HHIIII")
    tbody = struct.pack("!HH", 256, len(V9_FIELDS)) + b"".join(
        struct.pack("!HH", *f) for f in V9_FIELDS
    )
    packets = [head.pack(9, 1, UPTIME_MS, 0, 0, 7) + struct.pack("!HH", 0, 4 + len(tbody)) + tbody]
    for i in range(0, len(records), V9_PER_PACKET):
        chunk = records[i : i + V9_PER_PACKET]
        now = _epoch(chunk[-1]["timestamp_arrival"])
        body = b"".join(
            V9_RECORD.pack(
                socket.inet_aton(r["ip_src"]), socket.inet_aton(r["ip_dst"]), r["port_src"],
                r["port_dst"], PROTO_NUMBERS[r["ip_proto"]], r["tos"], int(r["tcp_flags"]),
                r["iface_in"], r["iface_out"], r["as_src"], r["as_dst"],
                socket.inet_aton(r["peer_ip_dst"]), r["packets"], r["bytes"],
                UPTIME_MS - (now - _epoch(r["timestamp_start"])) * 1000,
                UPTIME_MS - (now - _epoch(r["timestamp_end"])) * 1000,
            )
            for r in chunk
        )  # fmt: skip
        pad = b"\0" * ((-(4 + len(body))) % 4)
        packets.append(
            head.pack(9, len(chunk), UPTIME_MS, now, 1 + i // V9_PER_PACKET, 7)
            + struct.pack("!HH", 256, 4 + len(body) + len(pad))
            + body
            + pad
        )
    return packets


def bench_nfacctd(records: list[dict[str, Any]], spec: str, work: Path) -> dict[str, float]:
    """nfacctd (print plugin) aggregating the same flows by the same list: its CPU per flow."""
    d = work / "nfacctd"
    d.mkdir(exist_ok=True)
    port = free_port(NFACCTD_IP, "udp")
    packets = netflow_v9(records)
    conf = NFACCTD_CONF.format(d=d, ip=NFACCTD_IP, port=port, aggregate=spec, window=WINDOW_S)
    collector = nfacctd(d, conf)
    out = d / "out.json"

    def flows_out() -> int:
        if not out.exists():
            return 0
        total = 0
        for line in out.read_bytes().splitlines():
            if line.startswith(b"{"):
                total += orjson.loads(line).get("flows", 0)
        return total

    with started(collector):
        listening = f"waiting for NetFlow/IPFIX data on {NFACCTD_IP}:{port}"
        log_file = d / "nfacctd.log"
        wait_for(listening, lambda: listening in log_file.read_text(), 60)
        # the plugin takes a moment after that: what the core reads before is not aggregated
        wait_for("the plugin", lambda: "cache entries=" in log_file.read_text(), 60)
        time.sleep(3)
        assert collector.proc is not None
        cpu0 = group_cpu(collector.proc.pid)
        t0 = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 2**20)
            per_s = NF_RATE / V9_PER_PACKET
            for n, pkt in enumerate(packets):
                sock.sendto(pkt, (NFACCTD_IP, port))
                ahead = n / per_s - (time.monotonic() - t0)
                if ahead > 0.01:
                    time.sleep(ahead)
        last = -1
        deadline = time.monotonic() + 10 * WINDOW_S + 120
        while time.monotonic() < deadline:  # until the print plugin stops writing
            time.sleep(WINDOW_S + 2)
            now = flows_out()
            if now == last and now > 0:
                break
            last = now
        cpu = group_cpu(collector.proc.pid) - cpu0
        received = flows_out()
    return {"nf_sent": len(records), "nf_out": received, "nf_cpu": cpu}


# -- Kafka ---------------------------------------------------------------------------------


def produce(broker: str, topic: str, records: list[dict[str, Any]], batch: int = 1) -> int:
    # librdkafka's defaults, like the enricher's producer: record batches of up to 1 MB
    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    n = 0
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        value = b"\n".join(orjson.dumps(r) for r in chunk)
        ts = int(datetime.fromisoformat(chunk[-1]["timestamp_arrival"]).replace(
            tzinfo=UTC).timestamp() * 1000)  # fmt: skip
        produce_waiting(producer, topic, value, chunk[0]["peer_ip_src"].encode(), timestamp=ts)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    return n


def end_offsets(broker: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": broker, "group.id": "bench-offsets"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}  # fmt: skip
    finally:
        consumer.close()


def internal_done(broker: str, watcher: Consumer, group: str) -> bool:
    """Whether the group has also consumed its repartition topic to the end."""
    topics = [
        t for t in watcher.list_topics(timeout=10).topics if t.startswith(f"repartition__{group}")
    ]
    for topic in topics:
        ends = end_offsets(broker, topic)
        got = committed(watcher, topic, list(ends))
        # exactly-once: the last transaction's commit marker takes the last offset
        if any(got[p] < ends[p] - 1 for p in ends):
            return False
    return True


def committed(consumer: Consumer, topic: str, parts: list[int]) -> dict[int, int]:
    got = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
    return {tp.partition: max(tp.offset, 0) for tp in got}


# -- processes -----------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            vals[line.split(":")[0]] = int(line.split()[1]) * 1024
    return vals["VmRSS"], vals["VmHWM"]


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def late_flows(port: int) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith('ribflow_aggregate_late_total{unit="flows"}'):
            return float(line.split()[-1])
    return 0.0


@dataclass
class Case:
    name: str
    source: str
    records: int
    messages: int
    spec: str | None  # None: pass-through
    guarantee: str = "exactly-once"
    expect: tuple[int, int, int] = (0, 0, 0)


@dataclass
class Result:
    case: Case
    wall: float = 0.0
    measured_records: float = 0.0
    cpu: float = 0.0
    out: int = 0
    hwm: int = 0
    state: int = 0
    late: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.measured_records / self.wall if self.wall else 0.0


def run_case(broker: str, case: Case, work: Path, timeout: float) -> Result:
    group = f"bench-{case.name}-{uuid.uuid4().hex[:6]}"
    sink = f"bench-out-{case.name}-{uuid.uuid4().hex[:6]}"
    parts_n = len(end_offsets(broker, case.source))
    admin = AdminClient({"bootstrap.servers": broker})
    made = admin.create_topics([NewTopic(sink, num_partitions=parts_n, replication_factor=1)])
    made[sink].result(30)
    state = work / f"state-{case.name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("Quix__")}
    port = free_port()
    if case.spec is None:
        env.update(BROKER=broker, GROUP=group, GUARANTEE=case.guarantee, STATE=str(state),
                   SOURCE=case.source, SINK=sink)  # fmt: skip
        cmd = [sys.executable, "-c", PASSTHROUGH]
        group_id = group
    else:
        env.update({
            "Quix__Broker__Address": broker, "Quix__Consumer__Group": group,
            "Quix__State__Dir": str(state), "FLOWS_ENRICHED_TOPIC": case.source,
            "FLOWS_AGGREGATED_TOPIC": sink, "AGGREGATE": case.spec,
            "REFRESH_TIME": str(WINDOW_S), "GRACE": str(GRACE_S), "HISTORY": "",
            "AUTO_OFFSET_RESET": "earliest", "COMMIT_INTERVAL": "1",
            "PROCESSING_GUARANTEE": case.guarantee, "PARTITIONS": str(parts_n),
            "METRICS_PORT": str(port), "LOG_LEVEL": "WARNING",
        })  # fmt: skip
        cmd = [sys.executable, "-m", "ribflow", "aggregator"]
        group_id = f"{group}-aggregator"
    ends = end_offsets(broker, case.source)
    total = sum(ends.values())
    log = (work / f"{case.name}.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    res = Result(case)
    watcher = Consumer({"bootstrap.servers": broker, "group.id": group_id})
    try:
        t0 = c0 = None
        cpu0 = 0.0
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{case.name} exited:\n{(work / f'{case.name}.log').read_text()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{case.name} did not finish in {timeout}s")
            done = sum(committed(watcher, case.source, list(ends)).values())
            now = time.monotonic()
            if t0 is None and 0 < done < total:
                t0, c0, cpu0 = now, done, proc_cpu(proc.pid)
            if done >= total and internal_done(broker, watcher, group_id):
                break
            time.sleep(0.2)
        if t0 is None or c0 is None:  # finished between two samples: count from the start
            t0, c0 = started, 0
            res.notes.append("rate includes start-up")
        res.wall = now - t0
        res.cpu = proc_cpu(proc.pid) - cpu0
        res.measured_records = (total - c0) * case.records / case.messages
        res.hwm = proc_mem(proc.pid)[1]
        if case.spec is not None:
            res.late = late_flows(port)
        time.sleep(2)  # let the last transaction's output land before counting it
        res.out = sum(end_offsets(broker, sink).values())
    finally:
        watcher.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        res.state = dir_size(state) if state.exists() else 0
        cleanup(broker, [sink, f"{sink}-dlq"], group)
    return res


def cleanup(broker: str, topics: list[str], mark: str | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": broker})
    names = list(topics)
    if mark:
        names += [t for t in admin.list_topics(timeout=10).topics if mark in t]
    if names:
        for fut in admin.delete_topics(names, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                fut.result(30)
