#!/usr/bin/env python3
"""Enricher benchmark, Kafka to Kafka, next to (a) a pass-through Quix app and (b) nfacctd.

For each table (synthetic 1M paths; the real 2002 RIS table; the lab's gen_mrt.py 100k+20k
table that bench-pmacct feeds nfacctd), in one run:

1. the table is produced to a fresh bgp-updates topic and a fresh enricher process loads it:
   paths per CPU-second of the enricher process (state writes, changelog and bgp-rib included)
   and its RSS growth per path (RocksDB included);
2. flows whose source and destination fall in the table are produced (batches of 25 records,
   as export packets carry them) and enriched: flows per CPU-second, one JSON message per flow
   (the default) and, in a second pass, NDJSON per batch (ENRICHED_BATCH);
3. a pass-through Quix app moves the same flow messages to another topic: flows per
   CPU-second, and the ratio enriched / pass-through (goal >= 0.5);
4. the enricher is stopped, its state directory wiped, and restarted: seconds until every
   partition's RIB is rebuilt from the changelog (goal < 60 s for 1M);
5. lab table only, decoder + enricher Kafka to Kafka: the same NetFlow v9 export packets
   (bench-pmacct's flowgen pool, sent by its sender.py at --rate) go to a ``ribflow collector``
   (agent map: the sender is the gobgpd router) writing ``flows``, read by the warm enricher
   writing one message per enriched flow; flows out per CPU-second of both ribflow processes
   (every process of their sessions);
6. lab table only: nfacctd 1.7.7 with its BGP daemon (fed by gobgpd with the same MRT table)
   receives the same packets from the same sender at the same rate, and its processes' CPU
   (core + plugin + writers) per flow out is read from /proc. ``ribflow decode`` of the same
   packets is printed too (the decoder's CPU per flow offline).

Processes are measured from /proc (utime+stime); the broker and the load generator are not
counted. The machine is shared with other work: the load average is printed with the results.
Daemons use 127.0.42.45-48 and a free gRPC port only. Without --broker (or
Quix__Broker__Address) a managed Kafka is started on 127.0.42.1 for the run. With the lab table,
the figures go to benchmarks/results/enricher.json (benchmarks/results.py; --no-write: not).

    .venv/bin/python benchmarks/bench_enricher.py [--tables synthetic,ris,lab] [--flows 200000]
        [--rate 100000] [--broker HOST:PORT] [--no-write]
    .venv/bin/python benchmarks/bench_enricher.py --memory --tables lab --flows 50000
        (table load + one flow pass only; RSS from a started idle enricher, by kind of mapping)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.procstat import group_cpu  # noqa: E402
from benchmarks.results import Figure, write_result  # noqa: E402
from ribflow.kafka.producer import produce_waiting  # noqa: E402
from ribflow.mrt.tables import read_rib  # noqa: E402
from tests.enrich.daemons import gobgp, gobgpd, gobgpd_config, nfacctd, nfacctd_bgp_conf, started  # noqa: E402
from tests.fixtures.kafka import given_or_managed_broker  # noqa: E402
from tests.fixtures.ports import free_port  # noqa: E402
from tests.fixtures.synth import SynthTable  # noqa: E402
from tests.fixtures.waiting import wait_for  # noqa: E402

BENCH_PMACCT = REPO / "benchmarks" / "pmacct"
LAB_GEN = REPO / "tests" / "data" / "enrich" / "gen_mrt.py"
RIS = REPO / "tests" / "data" / "rib" / "bview.20020722.2337.gz"
TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROUTER = "127.0.0.3"
GOBGPD, NFACCTD, SENDER, COLLECTOR = "127.0.42.45", "127.0.42.46", "127.0.42.47", "127.0.42.48"
KAFKA_HOST = "127.0.42.1"
PARTITIONS = 2
T0 = int(time.time() * 1000) - 7_200_000  # recent: old records fall to retention


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


# -- tables and flows --------------------------------------------------------------------------
@dataclass
class Workload:
    name: str
    bgp: list[tuple[str, bytes]]
    flows: list[tuple[str, bytes]]  # (router key, flows v1 message of 25 records)
    paths: int
    n_flows: int
    extra: dict[str, Any] = field(default_factory=dict)


def _batches(router: str, exporter: str, records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [
        (
            router,
            orjson.dumps(
                {"v": 1, "router": router, "exporter": exporter, "records": records[i : i + 25]}
            ),
        )
        for i in range(0, len(records), 25)
    ]


def synthetic_workload(routes: int, flows: int) -> Workload:
    table = SynthTable(routes)
    bgp = [(ROUTER, orjson.dumps(m)) for m in table.updates(ROUTER)]
    records = table.flow_records(flows, exporter=ROUTER)
    return Workload(f"synthetic {routes:,}", bgp, _batches(ROUTER, ROUTER, records),
                    len(table.routes), len(records))  # fmt: skip


def _updates_from_entries(entries: Iterator[Any], router_of: Any) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    seqs: dict[str, int] = {}
    pending: dict[str, list[Any]] = {}

    def emit(router: str) -> None:
        _, nh, attrs, prefixes = pending.pop(router)
        seqs[router] = seqs.get(router, 0) + 1
        family = "ipv6 unicast" if ":" in prefixes[0] else "ipv4 unicast"
        msg = {"v": 1, "type": "update", "router": router, "peer": router, "time_ms": T0,
               "epoch": 1, "seq": seqs[router], "attrs": attrs, "withdraw": [],
               "announce": [{"family": family, "next_hop": nh,
                             "nlri": [{"prefix": p} for p in prefixes]}]}  # fmt: skip
        out.append((router, orjson.dumps(msg)))

    for e in entries:
        router = router_of(e)
        sig = orjson.dumps(e.attrs, option=orjson.OPT_SORT_KEYS) + (e.next_hop or "").encode()
        sig += b"6" if ":" in e.prefix else b"4"
        cur = pending.get(router)
        if cur is not None and (cur[0] != sig or len(cur[3]) >= 200):
            emit(router)
            cur = None
        if cur is None:
            pending[router] = [sig, e.next_hop, e.attrs, [e.prefix]]
        else:
            cur[3].append(e.prefix)
    for router in list(pending):
        emit(router)
    return out


def ris_workload(flows: int) -> Workload:
    entries = list(read_rib(RIS))
    bgp = _updates_from_entries(iter(entries), lambda e: e.peer)
    main_peer = "193.203.0.1"
    rnd = random.Random(3)
    v4 = [e.prefix for e in entries if e.peer == main_peer and ":" not in e.prefix]
    records = []
    for i in range(flows):
        pair = []
        for _ in range(2):
            net, _, length = rnd.choice(v4).partition("/")
            base = int.from_bytes(bytes(int(x) for x in net.split(".")), "big")
            host = base | rnd.getrandbits(32 - int(length)) if int(length) < 32 else base
            pair.append(".".join(str(b) for b in host.to_bytes(4, "big")))
        records.append({"exporter": main_peer, "version": 9, "time_received_ms": T0,
                        "src_addr": pair[0], "dst_addr": pair[1], "src_port": 1024 + i % 60000,
                        "dst_port": 443, "proto": 6, "tcp_flags": 27, "packets": 1,
                        "bytes": 100, "sampling_rate": 1})  # fmt: skip
    return Workload("RIPE RIS rrc05 2002 (36 routers)", bgp,
                    _batches(main_peer, main_peer, records), len(entries), flows)  # fmt: skip


def _pool_packets(pool: Path) -> list[bytes]:
    data = pool.read_bytes()
    assert data.startswith(b"AFPOOL1\n")
    (count,) = struct.unpack_from("!I", data, 8)
    pos, out = 12, []
    for _ in range(count):
        (length,) = struct.unpack_from("!H", data, pos)
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return out


def _write_pcap(packets: list[bytes], path: Path, src: str, dst: str, dport: int) -> None:
    s, d = bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split("."))
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 228))
        for i, payload in enumerate(packets):
            udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, s, d)
            f.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, i % 1000, len(ip) + len(udp),
                                len(ip) + len(udp)) + ip + udp)  # fmt: skip


def lab_workload(flows: int, work: Path) -> Workload:
    mrt = work / "rib-100k.mrt"
    subprocess.run([sys.executable, str(LAB_GEN), str(mrt), "100000", "20000"], check=True,
                   capture_output=True)  # fmt: skip
    seen: dict[str, Any] = {}
    for e in read_rib(mrt):
        seen[e.prefix] = e  # the generator repeats its tail (gobgp workaround): keep one each
    bgp = _updates_from_entries(iter(seen.values()), lambda e: GOBGPD)
    pool = work / "pool.bin"
    subprocess.run([sys.executable, str(BENCH_PMACCT / "flowgen.py"), "pool", str(pool),
                    "--flows", str(flows)], check=True, capture_output=True)  # fmt: skip
    packets = _pool_packets(pool)
    pcap = work / "pool.pcap"
    _write_pcap(packets, pcap, SENDER, NFACCTD, 2100)  # the template packet comes first
    c0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ribflow", "decode", "-q", str(pcap)],
                          capture_output=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    decode_wall = time.perf_counter() - c0
    records = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
    wl = Workload("lab gen_mrt 100k v4 + 20k v6 (bench-pmacct's table)", bgp,
                  _batches(GOBGPD, SENDER, records), len(seen), len(records))  # fmt: skip
    wl.extra.update(mrt=mrt, pool=pool, pcap=pcap, decode_wall=decode_wall)
    return wl


def decode_cpu_per_flow(pcap: Path, n: int) -> float:
    """CPU seconds per flow of ``ribflow decode`` on the same packets (children's CPU)."""
    before = os.times()
    subprocess.run([sys.executable, "-m", "ribflow", "decode", "-q", str(pcap)],
                   stdout=subprocess.DEVNULL, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    after = os.times()
    return ((after.children_user - before.children_user)
            + (after.children_system - before.children_system)) / n  # fmt: skip


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
            [sys.executable, __file__, "--passthrough", broker, src, dst, group, str(log.parent)],
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


# -- one table -----------------------------------------------------------------------------------
def bench_table(
    kafka: Kafka,
    wl: Workload,
    work: Path,
    groups: list[str],
    extra_env: dict[str, str],
    rate: float = 100_000,
) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]
    t = {k: kafka.topic(f"bench-{k}-{tag}", compact=(k == "rib"))
         for k in ("bgp", "flows", "enriched", "enriched2", "enriched3", "dump", "rib",
                   "pass")}  # fmt: skip
    group = f"bench-enricher-{tag}"
    groups.append(group)
    state = work / f"state-{tag}"
    env = {
        "Quix__Broker__Address": kafka.broker, "Quix__Consumer__Group": group,
        "Quix__State__Dir": str(state), "BGP_UPDATES_TOPIC": t["bgp"], "FLOWS_TOPIC": t["flows"],
        "FLOWS_ENRICHED_TOPIC": t["enriched"], "BGP_RIB_DUMP_TOPIC": t["dump"],
        "BGP_RIB_TOPIC": t["rib"], "RIB_DUMP_INTERVAL": "0", "COMMIT_INTERVAL": "2",
        "LOG_LEVEL": "INFO", "PARTITIONS": str(PARTITIONS), **extra_env,
    }  # fmt: skip
    r: dict[str, float] = {"paths": wl.paths, "flows": wl.n_flows}
    kafka.produce(t["bgp"], ((k, v, T0) for k, v in wl.bgp))
    gid = group + "-enricher"
    log = work / f"enricher-{tag}.log"
    proc = enricher(env, log)
    try:
        time.sleep(0.5)
        cpu0, rss0, t0 = cpu_seconds(proc.pid), rss_bytes(proc.pid), time.perf_counter()
        wait(lambda: kafka.caught_up(gid, t["bgp"]), 3600, "the table load", proc, log)
        r["load_cpu"] = cpu_seconds(proc.pid) - cpu0
        r["load_wall"] = time.perf_counter() - t0
        r["rss_per_path"] = (rss_bytes(proc.pid) - rss0) / wl.paths
        # flows, one JSON per flow
        kafka.produce(t["flows"], ((k, v, T0 + 3_600_000) for k, v in wl.flows))
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        wait(lambda: kafka.caught_up(gid, t["flows"]) and kafka.count(t["enriched"]) >= wl.n_flows,
             3600, "the enrichment", proc, log)  # fmt: skip
        r["flows_cpu"] = cpu_seconds(proc.pid) - cpu0
        r["flows_wall"] = time.perf_counter() - t0
        r["enriched"] = kafka.count(t["enriched"])
    finally:
        stop(proc)
    # second pass: NDJSON per batch (same group and state: the RIB comes from local state)
    env2 = {**env, "ENRICHED_BATCH": "true", "FLOWS_ENRICHED_TOPIC": t["enriched2"]}
    log2 = work / f"enricher2-{tag}.log"
    proc = enricher(env2, log2)
    try:
        wait(lambda: "RIB rebuilt" in log2.read_text(), 600, "the warm restart", proc, log2)
        kafka.produce(t["flows"], ((k, v, T0 + 7_200_000) for k, v in wl.flows))
        cpu0 = cpu_seconds(proc.pid)
        wait(lambda: kafka.caught_up(gid, t["flows"]), 3600, "the NDJSON pass", proc, log2)
        r["batch_cpu"] = cpu_seconds(proc.pid) - cpu0
    finally:
        stop(proc)
    if "pool" in wl.extra:  # decoder + enricher: the collector feeds the warm enricher
        env3 = {**env, "FLOWS_ENRICHED_TOPIC": t["enriched3"]}
        r.update(bench_live(kafka, wl, work, env3, gid, t["flows"], t["enriched3"], rate))
    # restore from the changelog after losing the local state
    shutil.rmtree(state)
    log3 = work / f"enricher3-{tag}.log"
    t0 = time.perf_counter()
    proc = enricher(env, log3)
    try:

        def rebuilt() -> bool:
            lines = [ln for ln in log3.read_text().splitlines() if "RIB rebuilt" in ln]
            paths = sum(int(ln.split(" paths")[0].rsplit(" ", 1)[1]) for ln in lines)
            return len(lines) >= PARTITIONS and paths >= wl.paths

        wait(rebuilt, 1800, "the restore from the changelog", proc, log3)
        r["restore_s"] = time.perf_counter() - t0
    finally:
        stop(proc)
    # pass-through over the same flow messages (every pass's)
    pgroup = f"bench-pass-{tag}"
    plog = work / f"pass-{tag}.log"
    proc = passthrough(kafka.broker, t["flows"], t["pass"], pgroup, plog)
    try:
        # from its first message out: the app's imports and start-up are not the messages' cost
        deadline = time.monotonic() + 300
        while (moved0 := kafka.count(t["pass"])) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        cpu0 = cpu_seconds(proc.pid)
        total = kafka.count(t["flows"])  # every pass's messages (bench passes and collector's)
        wait(lambda: kafka.count(t["pass"]) >= total and
             kafka.caught_up(pgroup, t["flows"]), 3600, "the pass-through", proc, plog)  # fmt: skip
        per_message = (cpu_seconds(proc.pid) - cpu0) / max(total - moved0, 1)
        r["pass_cpu"] = per_message * len(wl.flows)  # the cost of one pass of the bench's messages
    finally:
        stop(proc)
    return r


# -- decoder + enricher ---------------------------------------------------------------------------
def bench_live(
    kafka: Kafka,
    wl: Workload,
    work: Path,
    env: dict[str, str],
    gid: str,
    flows_topic: str,
    enriched_topic: str,
    rate: float,
) -> dict[str, float]:
    """The sender's packets through `ribflow collector` into the warm enricher: flows out per
    CPU-second of both processes (and all their children)."""
    tag = uuid.uuid4().hex[:6]
    side = {k: kafka.topic(f"bench-{k}-{tag}") for k in ("counters", "templates")}
    agent_map = work / "agent.map"
    agent_map.write_text(f"bgp_ip={GOBGPD} ip={SENDER}\n")
    port = free_port(COLLECTOR, "udp")
    cenv = {
        "Quix__Broker__Address": kafka.broker, "LISTEN_HOSTS": COLLECTOR,
        "LISTEN_PORTS": str(port), "FLOWS_TOPIC": flows_topic,
        "SFLOW_COUNTERS_TOPIC": side["counters"], "FLOW_TEMPLATES_TOPIC": side["templates"],
        "FOLLOW_BGP_UPDATES": "false", "AGENT_MAP_FILE": str(agent_map), "METRICS_PORT": "0",
        "PARTITIONS": str(PARTITIONS), "LOG_LEVEL": "INFO",
    }  # fmt: skip
    elog, clog = work / f"enricher-live-{tag}.log", work / f"collector-{tag}.log"
    before = kafka.count(enriched_topic)
    proc = enricher(env, elog)
    coll: subprocess.Popen[bytes] | None = None
    try:
        wait(lambda: "RIB rebuilt" in elog.read_text(), 600, "the warm restart", proc, elog)
        with clog.open("ab") as out:
            coll = subprocess.Popen(
                [sys.executable, "-m", "ribflow", "collector"],
                env={**os.environ, "PYTHONPATH": str(REPO / "src"), **cenv},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait(lambda: "collector ready" in clog.read_text(), 90, "the collector", coll, clog)
        time.sleep(1)
        e_cpu0, c_cpu0 = group_cpu(proc.pid), group_cpu(coll.pid)
        t0 = time.perf_counter()
        sent = send_pool(wl, f"{COLLECTOR}:{port}", rate)

        def settled() -> bool:  # every delivered packet read, the output stable for 3 s
            n = kafka.count(enriched_topic)
            time.sleep(3)
            return kafka.caught_up(gid, flows_topic) and kafka.count(enriched_topic) == n > before

        wait(settled, 1800, "the decoder + enricher pass", proc, elog)
        collector_cpu = group_cpu(coll.pid) - c_cpu0
        enricher_cpu = group_cpu(proc.pid) - e_cpu0
        cpu = collector_cpu + enricher_cpu
        wall = time.perf_counter() - t0
        drops = _collector_drops(clog)
    finally:
        if coll is not None:
            stop(coll)
        stop(proc)
    out_n = kafka.count(enriched_topic) - before
    print(f"# decoder + enricher: sent {sent['flows']:,} flows at {sent['flows_per_s']:,.0f}/s, "
          f"{out_n:,} enriched out, CPU {cpu:.2f} s (collector {collector_cpu:.2f}, enricher "
          f"{enricher_cpu:.2f}), wall {wall:.1f} s{drops}", flush=True)  # fmt: skip
    return {"live_sent": sent["flows"], "live_out": out_n, "live_cpu": cpu,
            "live_collector_cpu": collector_cpu, "live_enricher_cpu": enricher_cpu}  # fmt: skip


def _collector_drops(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "drop" in ln.lower()]
    return f"; collector log: {lines[-1][-160:]}" if lines else ""


def send_pool(wl: Workload, dst: str, rate: float) -> dict[str, Any]:
    """bench-pmacct's sender: the pool's packets to ``dst`` from SENDER, at ``rate`` flows/s."""
    sent = subprocess.run(
        [sys.executable, str(BENCH_PMACCT / "sender.py"), str(wl.extra["pool"]), "--rate",
         str(rate), "--flows", str(wl.n_flows), "--dst", dst, "--src", SENDER],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info: dict[str, Any] = orjson.loads(sent.stdout.strip().splitlines()[-1])
    return info


# -- nfacctd ---------------------------------------------------------------------------------------
NFACCTD_REST = """nfacctd_pipe_size: 4194304
plugin_pipe_size: 104857600
plugin_buffer_size: 102400
plugins: print[out]
aggregate[out]: src_host, dst_host, src_port, dst_port, proto, src_as, dst_as, as_path, \
peer_dst_ip, local_pref, std_comm
print_output[out]: json
print_output_file[out]: {d}/out.json
print_output_file_append[out]: true
print_refresh_time[out]: 5
print_cache_entries[out]: 500009
"""


def bench_nfacctd(wl: Workload, work: Path, rate: float) -> dict[str, float]:
    grpc = free_port(GOBGPD)
    d = work / "nfacctd"
    d.mkdir(exist_ok=True)
    (d / "bgp_agent.map").write_text(f"bgp_ip=10.0.0.45\t\tip={SENDER}\n")
    router = gobgpd(d, GOBGPD, grpc, gobgpd_config(GOBGPD, "10.0.0.45", 65001, [], [NFACCTD]))
    collector = nfacctd(d, nfacctd_bgp_conf(d, NFACCTD, "10.0.0.46", 65001, NFACCTD_REST))
    out = d / "out.json"
    with started(router, collector):
        wait_for("gobgpd's API", lambda: _gobgp_ok(grpc), 30)
        gobgp(GOBGPD, grpc, "mrt", "inject", "global", str(wl.extra["mrt"]), timeout=600)
        wait_for("nfacctd to get the table", lambda: _advertised(grpc, NFACCTD) >= wl.paths, 600)
        listening = f"waiting for NetFlow/IPFIX data on {NFACCTD}:2100"
        wait_for(listening, lambda: listening in (d / "nfacctd.log").read_text(), 60)
        time.sleep(3)
        cpu0 = group_cpu(collector.pid)
        info = send_pool(wl, f"{NFACCTD}:2100", rate)

        def flows_out() -> int:
            if not out.exists():
                return 0
            return sum(int(x) for x in _packets_field(out.read_bytes()))

        last = -1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the print plugin stops writing
            time.sleep(6)
            now = flows_out()
            if now == last and now > 0:
                break
            last = now
        cpu = group_cpu(collector.pid) - cpu0
        received = flows_out()
    return {"nf_sent": info["flows"], "nf_out": received, "nf_cpu": cpu}


def _packets_field(data: bytes) -> Iterator[bytes]:
    key = b'"packets": '
    pos = data.find(key)
    while pos >= 0:
        end = data.find(b",", pos)
        yield data[pos + len(key) : end]
        pos = data.find(key, end)


def _gobgp_ok(grpc: int) -> bool:
    try:
        gobgp(GOBGPD, grpc, "global", timeout=5)
        return True
    except (AssertionError, subprocess.TimeoutExpired):
        return False


def _advertised(grpc: int, neighbor: str) -> int:
    info = orjson.loads(gobgp(GOBGPD, grpc, "neighbor", neighbor, "-j"))
    return sum(int(af.get("state", {}).get("advertised", 0) or 0)
               for af in info.get("afi_safis", []) or [])  # fmt: skip


# -- memory mode (--memory) ----------------------------------------------------------------------
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


def bench_memory(
    kafka: Kafka, wl: Workload, work: Path, groups: list[str], extra_env: dict[str, str]
) -> Iterator[str]:
    """RSS per path measured from an idle, started enricher (imports and Kafka setup excluded)."""
    tag = uuid.uuid4().hex[:6]
    t = {k: kafka.topic(f"bench-{k}-{tag}", compact=(k == "rib"))
         for k in ("bgp", "flows", "enriched", "dump", "rib")}  # fmt: skip
    group = f"bench-enricher-{tag}"
    groups.append(group)
    env = {
        "Quix__Broker__Address": kafka.broker, "Quix__Consumer__Group": group,
        "Quix__State__Dir": str(work / f"state-{tag}"), "BGP_UPDATES_TOPIC": t["bgp"],
        "FLOWS_TOPIC": t["flows"], "FLOWS_ENRICHED_TOPIC": t["enriched"],
        "BGP_RIB_DUMP_TOPIC": t["dump"], "BGP_RIB_TOPIC": t["rib"], "RIB_DUMP_INTERVAL": "0",
        "COMMIT_INTERVAL": "2", "LOG_LEVEL": "INFO", "PARTITIONS": str(PARTITIONS), **extra_env,
    }  # fmt: skip
    log = work / f"enricher-{tag}.log"
    proc = enricher(env, log)
    gid = group + "-enricher"
    try:
        wait(lambda: log.read_text().count("RIB rebuilt") >= PARTITIONS, 600, "the start", proc,
             log)  # fmt: skip
        time.sleep(3)
        rss0, groups0 = rss_bytes(proc.pid), smaps_groups(proc.pid)
        kafka.produce(t["bgp"], ((k, v, T0) for k, v in wl.bgp))
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        wait(lambda: kafka.caught_up(gid, t["bgp"]), 3600, "the table load", proc, log)
        load_cpu, load_wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - t0
        time.sleep(3)  # one more checkpoint: the memtables and producer queues settle
        rss1, groups1 = rss_bytes(proc.pid), smaps_groups(proc.pid)
        flows_cpu = 0.0
        if wl.flows:
            kafka.produce(t["flows"], ((k, v, T0 + 3_600_000) for k, v in wl.flows))
            cpu0 = cpu_seconds(proc.pid)
            wait(lambda: kafka.caught_up(gid, t["flows"])
                 and kafka.count(t["enriched"]) >= wl.n_flows, 3600, "the enrichment", proc,
                 log)  # fmt: skip
            flows_cpu = cpu_seconds(proc.pid) - cpu0
        rss2 = rss_bytes(proc.pid)
    finally:
        stop(proc)
    yield f"\n== {wl.name}: {wl.paths:,} paths, {wl.n_flows:,} flows (memory mode)"
    yield row("RSS idle after start, MB", f"{rss0 / 2**20:,.1f}")
    yield row("RSS after the table load, MB", f"{rss1 / 2**20:,.1f}")
    yield row("RSS growth per path (started -> loaded)", f"{(rss1 - rss0) / wl.paths:,.0f}",
              "pmacct 440", f"{440 * wl.paths / max(rss1 - rss0, 1):.2f}")  # fmt: skip
    for kind in sorted(set(groups0) | set(groups1)):
        grow = groups1.get(kind, 0) - groups0.get(kind, 0)
        yield row(f"  of which {kind}, B/path", f"{grow / wl.paths:,.0f}",
                  f"{groups1.get(kind, 0) / 2**20:,.1f} MB at end")  # fmt: skip
    yield row("table load, paths per CPU-second", f"{wl.paths / load_cpu:,.0f}",
              f"wall {load_wall:,.1f} s")  # fmt: skip
    if flows_cpu:
        yield row("enriched flows per CPU-s (1 msg/flow)", f"{wl.n_flows / flows_cpu:,.0f}",
                  f"RSS after {rss2 / 2**20:,.1f} MB")  # fmt: skip


# -- report ----------------------------------------------------------------------------------------
def row(name: str, ours: str, ref: str = "", ratio: str = "") -> str:
    return f"{name:<44} {ours:>14} {ref:>26} {ratio:>8}"


def report(wl: Workload, r: dict[str, float]) -> Iterator[str]:
    yield f"\n== {wl.name}: {int(r['paths']):,} paths, {int(r['flows']):,} flows"
    yield row("metric", "ribflow", "reference", "ratio")
    apply = r["paths"] / r["load_cpu"]
    yield row("table load, paths per CPU-second (in app)", f"{apply:,.0f}", "goal 100,000",
              f"{apply / 100_000:.2f}")  # fmt: skip
    yield row("table load, wall seconds", f"{r['load_wall']:,.1f}", "pmacct 120k in ~1.2", "")
    yield row("RSS growth per path (incl. RocksDB)", f"{r['rss_per_path']:,.0f}",
              "pmacct 440", f"{440 / max(r['rss_per_path'], 1):.2f}")  # fmt: skip
    enrich = r["flows"] / r["flows_cpu"]
    batch = r["flows"] / r["batch_cpu"]
    passth = r["flows"] / r["pass_cpu"]
    yield row("enriched flows per CPU-s (1 msg/flow)", f"{enrich:,.0f}",
              f"pass-through {passth:,.0f}", f"{enrich / passth:.2f}")  # fmt: skip
    yield row("enriched flows per CPU-s (NDJSON/batch)", f"{batch:,.0f}",
              f"pass-through {passth:,.0f}", f"{batch / passth:.2f}")  # fmt: skip
    yield row("enrichment wall seconds (1 msg/flow)", f"{r['flows_wall']:,.1f}")
    yield row("restore from changelog, seconds", f"{r['restore_s']:,.1f}", "goal < 60",
              f"{60 / r['restore_s']:.2f}")  # fmt: skip
    if "nf_cpu" in r:
        nf = r["nf_out"] / r["nf_cpu"] if r["nf_cpu"] else 0.0
        yield row("nfacctd+BGP flows per CPU-s (all procs)", f"{nf:,.0f}",
                  f"sent {int(r['nf_sent']):,}, out {int(r['nf_out']):,}", "")  # fmt: skip
        live = r["live_out"] / r["live_cpu"]
        yield row("collector + enricher, Kafka to Kafka", f"{live:,.0f}", f"nfacctd {nf:,.0f}",
                  f"{live / nf:.2f}" if nf else "")  # fmt: skip
        yield row("  sent, enriched out", f"{int(r['live_out']):,}",
                  f"sent {int(r['live_sent']):,}")  # fmt: skip
        yield row("ribflow enricher alone vs nfacctd", f"{enrich:,.0f}",
                  f"nfacctd {nf:,.0f}", f"{enrich / nf:.2f}" if nf else "")  # fmt: skip
        yield row("`ribflow decode` (offline) flows per CPU-s",
                  f"{1 / r['decode_cpu_per_flow']:,.0f}")  # fmt: skip


def figures(wl: Workload, r: dict[str, float], rate: float) -> list[Figure]:
    """The results file's figures (lab table: the one nfacctd gets too)."""
    nf = r["nf_out"] / r["nf_cpu"]
    passth = r["flows"] / r["pass_cpu"]
    return [
        Figure(f"decoder + enricher, Kafka to Kafka, 1 message per enriched flow, flows per "
               f"CPU-second of all ribflow processes (collector + enricher), {wl.name}, NetFlow "
               f"v9 at {rate:,.0f} flows/s", "flows/CPU-s", round(r["live_out"] / r["live_cpu"]),
               "nfacctd with BGP, all its processes, same packets", round(nf),
               ">= 1.5x (at least 1.0x)"),
        Figure("of which the collector (UDP to Kafka), same run", "flows/CPU-s",
               round(r["live_out"] / r["live_collector_cpu"])),
        Figure("of which the enricher (Kafka to Kafka, flows as the collector writes them at "
               f"{rate:,.0f} flows/s), same run", "flows/CPU-s",
               round(r["live_out"] / r["live_enricher_cpu"])),
        Figure("enricher alone, Kafka to Kafka, 1 message per enriched flow, same table",
               "flows/CPU-s", round(r["flows"] / r["flows_cpu"]),
               "pass-through Quix app, same messages", round(passth), ">= 0.5"),
        Figure("enricher alone, NDJSON per batch (ENRICHED_BATCH), same table", "flows/CPU-s",
               round(r["flows"] / r["batch_cpu"]), "pass-through Quix app, same messages",
               round(passth)),
    ]  # fmt: skip


def broker(address: str | None, work: Path) -> contextlib.AbstractContextManager[str]:
    """The given broker, else a managed one for this run only."""
    return given_or_managed_broker(address, KAFKA_HOST, work)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--passthrough"]:
        run_passthrough(*argv[1:6])
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--broker",
        default=os.environ.get("Quix__Broker__Address"),
        help="Kafka to use (default: a managed one on 127.0.42.1 for the run)",
    )
    ap.add_argument(
        "--rate",
        type=float,
        default=100_000,
        help="flows/s of the NetFlow sender, for the collector and for nfacctd",
    )
    ap.add_argument("--no-write", action="store_true", help="do not write results/enricher.json")
    ap.add_argument("--tables", default="synthetic,ris,lab")
    ap.add_argument("--routes", type=int, default=1_000_000)
    ap.add_argument("--flows", type=int, default=200_000)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra enricher setting, e.g. RIB_TABLE=false")  # fmt: skip
    ap.add_argument("--memory", action="store_true",
                    help="only the table load and one flow pass, RSS measured from a started, "
                    "idle enricher, by kind of mapping")  # fmt: skip
    args = ap.parse_args(argv)
    groups: list[str] = []
    load0 = tuple(round(x, 1) for x in os.getloadavg())
    # SIGTERM unwinds like an exception, so every process and topic made here is cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-enricher-") as tmp, \
            broker(args.broker, Path(tmp)) as address:  # fmt: skip
        work = Path(tmp)
        kafka = Kafka(address)
        print(f"# bench_enricher: broker {address}, load average {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} CPUs (shared with other work) {' '.join(args.env)}",
              flush=True)  # fmt: skip
        try:
            for table in args.tables.split(","):
                if table == "synthetic":
                    wl = synthetic_workload(args.routes, args.flows)
                elif table == "ris":
                    wl = ris_workload(args.flows)
                else:
                    wl = lab_workload(args.flows, work)
                extra = dict(e.split("=", 1) for e in args.env)
                if args.memory:
                    for line in bench_memory(kafka, wl, work, groups, extra):
                        print(line, flush=True)
                    continue
                r = bench_table(kafka, wl, work, groups, extra, args.rate)
                if table == "lab":
                    r.update(bench_nfacctd(wl, work, args.rate))
                    r["decode_cpu_per_flow"] = decode_cpu_per_flow(wl.extra["pcap"], wl.n_flows)
                for line in report(wl, r):
                    print(line, flush=True)
                if table == "lab" and not args.no_write:
                    lpm = "pure-Python" if os.environ.get("RIBFLOW_PURE_LPM") else "compiled"
                    notes = (f"{wl.n_flows:,} flows (messages of 25 records), {wl.paths:,} paths;"
                             f" collector+enricher: {int(r['live_out']):,} of "
                             f"{int(r['live_sent']):,} sent flows out; nfacctd: "
                             f"{int(r['nf_out']):,} of {int(r['nf_sent']):,} out; {lpm} LPM; "
                             f"load average before {load0}, after "
                             f"{tuple(round(x, 1) for x in os.getloadavg())} (a shared machine: "
                             "the ratios are of one run, the references measured in it)"
                             + (f"; {' '.join(args.env)}" if args.env else ""))  # fmt: skip
                    path = write_result("enricher", figures(wl, r, args.rate), notes=notes)
                    print(f"# wrote {path}")
        finally:
            kafka.cleanup(groups)
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
