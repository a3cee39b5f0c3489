"""The aggregation stage's cost, reduction and state, with a pass-through Quix app side by side.

    .venv/bin/python benchmarks/bench_aggregate.py [--broker 127.0.0.1:9092] [--records 1000000]
        [--lab-records 48000] [--partitions 4] [--cases lab,syn,...]

Datasets (flows-enriched-shaped records, made here, deterministic):
- lab: nfacctd's 24 enriched lab flows (tests/data/aggregate/pmacct-enriched-full.json)
  repeated at 1,000 flows/s: the lab traffic, looped like `ribflow lab up` loops it;
- syn: --records synthetic flows at 5,000 flows/s of flow time with realistic cardinality:
  8 exporters, Zipf hosts (200k sources, 50k destinations), 2,000 origin ASes with fixed
  paths and BGP next hops (16), web/DNS-heavy ports, ephemeral source ports, flow start/end times
  up to 60 s before arrival.

Each case is one process (`ribflow aggregator`, or the pass-through app below) reading the same
messages from the start with its own consumer group, exactly-once unless the case says
otherwise. Measured from the group's committed offsets (not the app's own metrics): records/s
between the first commit and the commit of the end offsets, CPU seconds of the process over the
run (/proc: user + system, librdkafka threads included) per record, aggregates written (end
offsets of the output), peak RSS (VmHWM), on-disk state at the end. The reduction is records in
/ aggregates out of the windows that closed during the run; "open windows" is how many
(key, window) pairs the dataset leaves open at the end (the state that remains), from which the
state bytes per open window are derived.

Cases: pass-through (a Quix app consuming and producing the same bytes: one Kafka hop), the
seed's aggregate list, a coarse BGP list, the coarse list on NDJSON batches of 25 records per
message (the enricher's batching option), and the coarse list on a 1-partition copy (all
windows in one partition). "state MB" is the local state directory (the aggregator keeps none:
its state is in Kafka).

Reference for the records per CPU-second (case `nfacctd`): nfacctd with the seed's `aggregate:`
line (print plugin, refresh = the window), fed the synthetic flows as NetFlow v9 over loopback
at NF_RATE flows/s; its CPU (all its processes) over the run. The issue's three figures (CPU
per record vs the pass-through, records per CPU-second vs nfacctd, peak RSS with the seed's list)
are written to benchmarks/results/aggregate.json (`--no-write`: not).

The machine is shared (2 cores, the broker, other helpers' work): the load average is printed.
Every process started here is stopped by pid; every topic created is deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from benchmarks.procstat import group_cpu  # noqa: E402
from benchmarks.results import Figure, write_result  # noqa: E402
from ribflow.aggregate.settings import SEED_AGGREGATE  # noqa: E402
from ribflow.kafka.producer import produce_waiting  # noqa: E402
from tests.enrich.daemons import nfacctd, started  # noqa: E402
from tests.fixtures.kafka import warm_up  # noqa: E402
from tests.fixtures.ports import free_port  # noqa: E402
from tests.fixtures.waiting import wait_for  # noqa: E402

COARSE = "src_as, dst_as, peer_src_ip, peer_dst_as, peer_dst_ip, proto"
WINDOW_S = 10  # the seed's kafka_refresh_time
GRACE_S = 10
SYN_RATE = 5000  # flows per second of flow time (a mid-size network)
LAB_RATE = 1000
BATCH = 25
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


# -- datasets ------------------------------------------------------------------------------


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def lab_dataset(n: int, base: int) -> list[dict[str, Any]]:
    path = REPO / "tests" / "data" / "aggregate" / "pmacct-enriched-full.json"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    out = []
    for i in range(n):
        rec = {k: v for k, v in lines[i % len(lines)].items() if k != "event_type"}
        arrival = base + i / LAB_RATE
        rec.update(timestamp_arrival=stamp(arrival), timestamp_start=stamp(arrival - 3),
                   timestamp_end=stamp(arrival - 1))  # fmt: skip
        out.append(rec)
    return out


def _zipf(n: int, s: float = 1.1) -> list[float]:
    acc, cum = 0.0, []
    for k in range(1, n + 1):
        acc += 1 / k**s
        cum.append(acc)
    return cum


def synthetic_dataset(n: int, base: int, seed: int = 8) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    srcs = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(200_000)]
    dsts = [f"203.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(50_000)]
    src_w, dst_w, as_w = _zipf(len(srcs)), _zipf(len(dsts)), _zipf(2000)
    paths = {}
    for origin in range(2000):
        transit = [
            rng.choice([174, 1299, 2914, 3356, 6939, 6453]) for _ in range(rng.randint(1, 3))
        ]
        paths[64512 + origin] = [*transit, 64512 + origin]
    origins = list(paths)
    exporters = [f"192.0.2.{i}" for i in range(1, 9)]
    hops = [f"198.51.100.{i}" for i in range(1, 17)]
    comms = ["", "65001:100", "65001:100_65001:200", "65001:300_no-export"]
    out = []
    src_pick = rng.choices(srcs, cum_weights=src_w, k=n)
    dst_pick = rng.choices(dsts, cum_weights=dst_w, k=n)
    as_pick = rng.choices(origins, cum_weights=as_w, k=n)
    for i in range(n):
        proto = rng.choices(["tcp", "udp", "icmp"], [80, 18, 2])[0]
        dport = rng.choices([443, 80, 53, rng.randrange(1024, 65536)], [50, 20, 10, 20])[0]
        path = paths[as_pick[i]]
        arrival = base + i / SYN_RATE
        packets = max(1, int(rng.lognormvariate(1.5, 1.2)))
        out.append({
            "as_src": 64500, "as_dst": as_pick[i], "comms": rng.choice(comms),
            "as_path": "_".join(map(str, path)), "local_pref": rng.choice([100, 200]),
            "peer_as_dst": path[0], "peer_ip_src": rng.choice(exporters),
            "peer_ip_dst": hops[as_pick[i] % len(hops)], "iface_in": rng.randrange(1, 9),
            "iface_out": rng.randrange(1, 9), "ip_src": src_pick[i], "ip_dst": dst_pick[i],
            "port_src": rng.randrange(32768, 61000) if proto != "icmp" else 0,
            "port_dst": dport if proto != "icmp" else 0,
            "tcp_flags": rng.choice(["2", "16", "18", "24", "27"]) if proto == "tcp" else "0",
            "ip_proto": proto, "tos": 0,
            "timestamp_start": stamp(arrival - rng.randrange(60)),
            "timestamp_end": stamp(arrival - rng.randrange(2)),
            "timestamp_arrival": stamp(arrival),
            "packets": packets, "bytes": packets * rng.randrange(40, 1500),
        })  # fmt: skip
    return out


def aggregates(records: list[dict[str, Any]], spec: str) -> tuple[int, int, int]:
    """(records in windows closed by the end, their (key, window) pairs, pairs still open)."""
    from ribflow.aggregate import RowBuilder, TimeBins, parse_aggregate

    bins = TimeBins.from_pmacct(WINDOW_S, None, GRACE_S)
    builder = RowBuilder(parse_aggregate(spec), bins)
    last = 0
    pairs: dict[tuple[str, int], int] = {}
    for rec in records:
        row = builder.row(rec, 0)
        last = max(last, row[1])
        slot = (row[0], bins.window_start(row[1]))
        pairs[slot] = pairs.get(slot, 0) + 1
    closed = [(k, n) for k, n in pairs.items() if k[1] + bins.window_ms + bins.grace_ms <= last]
    return sum(n for _, n in closed), len(closed), len(pairs) - len(closed)


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


# -- report --------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    passes = {r.case.name.split("-")[0]: r for r in results if r.case.spec is None}
    head = ("case", "records", "msgs", "rec/s", "CPU µs/rec", "vs pass", "aggr out",
            "reduction", "open win", "peak RSS MB", "state MB", "B/open win", "late")  # fmt: skip
    rows = [head]
    for r in results:
        c = r.case
        cpu_us = r.cpu / r.measured_records * 1e6 if r.measured_records else 0
        ratio = ""
        base = passes.get(c.name.split("-")[0])
        if base and base.measured_records and base.cpu and r is not base:
            ratio = f"{cpu_us / (base.cpu / base.measured_records * 1e6):.2f}x"
        closed_recs, closed_pairs, open_pairs = c.expect
        red = f"{closed_recs / closed_pairs:.1f}" if c.spec and closed_pairs else "-"
        per_open = f"{r.state / open_pairs:.0f}" if c.spec and open_pairs else "-"
        out = f"{r.out} ({closed_pairs})" if c.spec else str(r.out)
        rows.append((c.name, str(c.records), str(c.messages), f"{r.rate:,.0f}", f"{cpu_us:.1f}",
                     ratio, out, red, str(open_pairs) if c.spec else "-",
                     f"{r.hwm / 2**20:.0f}", f"{r.state / 2**20:.1f}", per_open,
                     f"{r.late:.0f}" if c.spec else "-"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def figures_of(results: list[Result], nf: dict[str, float]) -> list[Figure]:
    """The issue's three measures, each next to the reference measured in the same run."""
    by = {r.case.name: r for r in results}
    seed, base = by.get("syn-seed"), by.get("syn-pass")
    out: list[Figure] = []
    if seed is None or not seed.measured_records:
        return out
    us = seed.cpu / seed.measured_records * 1e6
    base_us = base.cpu / base.measured_records * 1e6 if base and base.measured_records else None
    out.append(Figure("CPU per enriched record, seed's aggregate list", "us/record", round(us, 2),
                      "pass-through Quix app, same messages",
                      round(base_us, 2) if base_us else None, "<= 1.5x"))  # fmt: skip
    if nf.get("nf_cpu"):
        out.append(Figure("records per CPU-second, seed's aggregate list", "records/CPU-s",
                          round(seed.measured_records / seed.cpu),
                          "nfacctd print plugin, same aggregate: line, same flows",
                          round(nf["nf_out"] / nf["nf_cpu"]), ">= 1.0x"))  # fmt: skip
    open_windows = seed.case.expect[2]
    out.append(Figure(f"peak RSS, seed's list, {open_windows:,} open windows at the end", "MB",
                      round(seed.hwm / 2**20), "pass-through Quix app",
                      round(base.hwm / 2**20) if base else None, "<= 200 MB"))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--broker", default=os.environ.get("Quix__Broker__Address", "127.0.0.1:9092"))
    ap.add_argument("--records", type=int, default=1_000_000, help="synthetic flows")
    ap.add_argument("--lab-records", type=int, default=48_000, help="lab flows (24 x passes)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=1800, help="per case, seconds")
    ap.add_argument(
        "--cases",
        default="lab-pass,lab-seed,lab-coarse,syn-pass,syn-seed,syn-coarse,syn-coarse-batch25,"
        "syn-coarse-1part,syn-coarse-alo,nfacctd",
    )
    ap.add_argument("--no-write", action="store_true", help="do not write results/aggregate.json")
    args = ap.parse_args(argv)
    wanted = args.cases.split(",")
    base = int(time.time()) // 3600 * 3600 - 3 * 3600
    work = Path(tempfile.mkdtemp(prefix="bench-aggregate-"))
    made: list[str] = []
    admin = AdminClient({"bootstrap.servers": args.broker})

    def topic(name: str, parts: int) -> str:
        full = f"bench-in-{name}-{uuid.uuid4().hex[:6]}"
        admin.create_topics([NewTopic(full, num_partitions=parts, replication_factor=1)])[
            full
        ].result(30)
        made.append(full)
        return full

    cases: list[Case] = []
    nf: dict[str, float] = {}
    try:
        warm_up(args.broker)  # a fresh broker's group coordinator answers only after a while
        print(f"load average before: {os.getloadavg()}", flush=True)
        if any(c.startswith("lab") for c in wanted):
            lab = lab_dataset(args.lab_records, base)
            src = topic("lab", args.partitions)
            msgs = produce(args.broker, src, lab)
            for name, spec in (("lab-pass", None), ("lab-seed", SEED_AGGREGATE),
                               ("lab-coarse", COARSE)):  # fmt: skip
                if name in wanted:
                    expect = aggregates(lab, spec) if spec else (0, 0, 0)
                    cases.append(Case(name, src, len(lab), msgs, spec, expect=expect))
        if any(c.startswith("syn") for c in wanted):
            t = time.monotonic()
            syn = synthetic_dataset(args.records, base)
            print(f"synthetic dataset: {len(syn)} flows in {time.monotonic() - t:.0f}s", flush=True)
            src = topic("syn", args.partitions)
            msgs = produce(args.broker, src, syn)
            exp_seed = aggregates(syn, SEED_AGGREGATE)
            exp_coarse = aggregates(syn, COARSE)
            specs: dict[str, tuple[str | None, str, int, str]] = {
                "syn-pass": (None, src, msgs, "exactly-once"),
                "syn-seed": (SEED_AGGREGATE, src, msgs, "exactly-once"),
                "syn-coarse": (COARSE, src, msgs, "exactly-once"),
                "syn-coarse-alo": (COARSE, src, msgs, "at-least-once"),
            }
            if "syn-coarse-batch25" in wanted:
                bsrc = topic("syn-batch", args.partitions)
                specs["syn-coarse-batch25"] = (COARSE, bsrc, produce(args.broker, bsrc, syn, BATCH),
                                               "exactly-once")  # fmt: skip
            if "syn-coarse-1part" in wanted:
                psrc = topic("syn-1part", 1)
                specs["syn-coarse-1part"] = (COARSE, psrc, produce(args.broker, psrc, syn),
                                             "exactly-once")  # fmt: skip
            for name, (spec, source, n_msgs, guarantee) in specs.items():
                if name in wanted:
                    expect = (
                        (exp_seed if spec == SEED_AGGREGATE else exp_coarse) if spec else (0, 0, 0)
                    )
                    cases.append(Case(name, source, len(syn), n_msgs, spec, guarantee, expect))
            if "nfacctd" in wanted:
                print("running nfacctd (print plugin, same aggregate: line) ...", flush=True)
                nf = bench_nfacctd(syn, SEED_AGGREGATE, work)
                print(f"nfacctd: {nf}", flush=True)
            del syn
        results = []
        for case in cases:
            print(f"running {case.name} ...", flush=True)
            results.append(run_case(args.broker, case, work, args.timeout))
            print(table(results[-1:]).splitlines()[-1], flush=True)
        print()
        print(f"window {WINDOW_S}s, grace {GRACE_S}s, {args.partitions} input partitions; "
              f"load average after: {os.getloadavg()}")  # fmt: skip
        print(
            "aggr out: written during the run (closed (key, window) pairs in the dataset); "
            "reduction = records / closed pairs; vs pass = CPU per record / pass-through's"
        )
        print(table(results))
        figures = figures_of(results, nf)
        for f in figures:
            print(f"{f.measure}: {f.value:,.1f} {f.unit} (ref {f.reference}: "
                  f"{f.reference_value if f.reference_value is not None else '-'}; "
                  f"ratio {f.ratio}; target {f.target})")  # fmt: skip
        if figures and not args.no_write:
            notes = (f"--records {args.records}, {args.partitions} input partitions, window "
                     f"{WINDOW_S}s, grace {GRACE_S}s, exactly-once; shared 2-core machine, load "
                     f"average after {tuple(round(x, 1) for x in os.getloadavg())}; nfacctd "
                     f"{nf.get('nf_out', 0):,.0f} of {nf.get('nf_sent', 0):,.0f} flows out "
                     "(NetFlow v9 over loopback, print plugin, BGP-only primitives empty)"
                     )  # fmt: skip
            print(write_result("aggregate", figures, notes=notes))
    finally:
        cleanup(args.broker, made + [f"{t}-dlq" for t in made])
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
