"""The flow collector's cost and capacity, with nfacctd (pmacct 1.7.7) side by side, one run.

    .venv/bin/python benchmarks/bench_collector.py [--broker 127.0.0.1:9092] [--seconds 10]
        [--rates 100000,150000,175000,200000,250000] [--skip-nfacctd] [--skip-live]
        [--workers 1,2] [--sources 8] [--skip-in-process]

1. decode + publish, in process: every pool (NetFlow v5, v9 and IPFIX from benchmarks/flowpool.py,
   sFlow v5 built here) goes through ``Collector.process`` with a real confluent-kafka producer to
   the real broker, until the producer has flushed. CPU = this process's user+system time
   (getrusage: librdkafka's threads included). Flows per CPU-second, one message per export
   packet vs 10 packets grouped per message (MESSAGE_MAX_PACKETS), and decode-only for scale.
   Each pool runs on both record paths (--impls): "pure" (the generated Python decoders, dict
   records, orjson; RIBFLOW_PURE_LPM=1) and "compiled" (ribflow_lpm's data-set codecs write the
   JSON); benchmarks/results/collector.json keeps the compiled figures next to the pure ones.
2. sustained UDP -> Kafka: `ribflow collector` (a subprocess, as deployed) and nfacctd get the
   same NetFlow v9 pool (softflowd's template, 25 records/packet, the pmacct anchor's shape)
   from a paced sender process at each rate for --seconds. nfacctd runs twice: with its Kafka
   plugin (JSON, one message per flow: its only Kafka mode; same broker) and with the print
   plugin writing JSON to a file (the anchor benchmark's set-up, no Kafka). Delivered flows are
   counted independently of the daemons' own metrics: Kafka end offsets (ribflow writes one
   message per packet, nfacctd one per flow) or the sum of "packets" in nfacctd's file (every
   pool record has packets=1). Kernel drops come from /proc/net/udp, CPU from a cgroup-v1
   cpuacct group (all threads and forked children) or /proc. Loss = 1 - delivered / sent.
   A daemon's sweep stops after its first step with more than 5% loss.
   --workers 1,2 runs `ribflow collector` once per COLLECTOR_WORKERS value (SO_REUSEPORT
   workers; "ribflow" is 1 worker, "ribflow-wN" N workers). The kernel spreads datagrams over
   workers by source address+port, so --sources K makes the sender one process with K exporter
   sockets (127.0.0.100.., each with its own template), round-robin; the per-worker split of
   packets (from the parent's /metrics) is printed per step. Use the same --sources for every
   daemon so that the runs compare.

The machine is shared (2 cores, the broker, other work): the load average is printed with the
results. Every process started here is stopped by pid; every topic created is deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from flowpool import Pool, all_pools, softflowd_template, v9_pool  # noqa: E402
from results import Figure, write_result  # noqa: E402

from benchmarks.pmacct.pacing import pace  # noqa: E402
from ribflow.agentmap import RouterResolver  # noqa: E402
from ribflow.bgp.keys import RouterKeys  # noqa: E402
from ribflow.flow.batching import KeyChooser  # noqa: E402
from ribflow.flow.collector import Collector, Topics  # noqa: E402
from ribflow.flow.dispatch import Dispatcher  # noqa: E402
from ribflow.rib import lpm  # noqa: E402
from tests.fixtures.kafka import delete_topics, given_or_managed_broker  # noqa: E402
from tests.fixtures.ports import free_port  # noqa: E402

NFACCTD_IP = "127.0.0.70"  # the addresses this benchmark may use: 127.0.0.70-79
SENDER_IP = "127.0.0.1"
SOURCES_BASE = "127.0.0.{}"  # --sources K > 1: exporters 127.0.0.100-(100+K-1), K <= 10
METRICS_BASE = 21600  # the workers run's /metrics: 21600 (parent), 21601.. (workers)
CGROOT = Path("/sys/fs/cgroup/cpuacct")
TCK = os.sysconf("SC_CLK_TCK")


def log(*args: object) -> None:
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------ sFlow pool


def sflow_pool(packets: int, samples: int = 8, seed: int = 5) -> Pool:
    """sFlow v5 datagrams as a switch sends them: ``samples`` flow samples, each a 128-byte raw
    Ethernet/IPv4/TCP-or-UDP header plus extended switch data, 1-in-1000 sampling."""
    rnd = random.Random(seed)
    data = []
    for i in range(packets):
        body = b""
        for k in range(samples):
            proto = 6 if rnd.random() < 0.6 else 17
            src = 0x0B000000 + (rnd.randrange(100_000) << 8) + 1 + rnd.randrange(254)
            dst = 0x0B000000 + (rnd.randrange(100_000) << 8) + 1 + rnd.randrange(254)
            l4 = struct.pack("!HH", 1024 + rnd.randrange(64_000), (80, 443, 53)[k % 3])
            l4 += b"\x00" * 9 + b"\x18" + b"\x00" * 6 if proto == 6 else b"\x00\x40\x00\x00"
            ip = struct.pack("!BBHHHBBHII", 0x45, 0, 1400, 1, 0, 64, proto, 0, src, dst) + l4
            frame = bytes(12) + b"\x08\x00" + ip
            frame = (frame + bytes(128))[:128]
            raw = struct.pack("!IIII", 1, 1418, 4, len(frame)) + frame
            switch = struct.pack("!IIII", 10, 0, 10, 0)
            recs = struct.pack("!II", 1, len(raw)) + raw + struct.pack("!II", 1001, 16) + switch
            sample = struct.pack("!IIIIIIII", i * samples + k, 3, 1000, 1000 * i, 0, 3, 4, 2)
            sample += recs
            body += struct.pack("!II", 1, len(sample)) + sample
        head = struct.pack("!II4sIIII", 5, 1, bytes([192, 0, 2, 9]), 0, i, 1000 + i, samples)
        data.append(head + body)
    return Pool("sflow", 5005, [], data, samples)


# -------------------------------------------------------------------- 1. decode + publish


@contextlib.contextmanager
def record_impl(impl: str) -> Iterator[None]:
    """The collector's record path: "pure" (Python decoders, dict records, orjson) or
    "compiled" (records as JSON by ribflow_lpm's codecs), as RIBFLOW_PURE_LPM chooses."""
    old = os.environ.get(lpm.PURE_ENV)
    os.environ[lpm.PURE_ENV] = "1" if impl == "pure" else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(lpm.PURE_ENV, None)
        else:
            os.environ[lpm.PURE_ENV] = old


def decode_only(pool: Pool, rounds: int, impl: str) -> float:
    """Records per CPU-second of decoding alone (as JSON fragments on the compiled path)."""
    d = Dispatcher()
    d.encode_records(impl == "compiled")
    for p in pool.setup:
        d.decode(p, "192.0.2.1", 1_790_000_000_000)
    n, c0 = 0, time.process_time()
    for _ in range(rounds):
        for p in pool.data:
            n += d.decode(p, "192.0.2.1", 1_790_000_000_000).record_count
    return n / (time.process_time() - c0)


def decode_publish(pool: Pool, broker: str, max_packets: int, rounds: int) -> tuple[float, float]:
    """(flows per CPU-second, flows per wall-second) of process + produce + flush."""
    topic = f"bench-flows-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker})
    admin.create_topics([NewTopic(topic, 4, 1)])[topic].result(30)
    producer = Producer(
        {
            "bootstrap.servers": broker,
            "linger.ms": 20,
            "compression.type": "lz4",
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000,
            "delivery.report.only.error": True,
        }
    )
    c = Collector(
        [],
        Dispatcher(),
        producer,
        RouterResolver(),
        Topics(topic, topic, topic, topic),
        KeyChooser(RouterKeys(1)),
        max_packets=max_packets,
    )
    try:
        for p in pool.setup:
            c.process(p, "192.0.2.1", 1_790_000_000_000)
        producer.flush(60)
        n, c0, w0 = 0, cpu_self(), time.perf_counter()
        for _ in range(rounds):
            for p in pool.data:
                c.process(p, "192.0.2.1", 1_790_000_000_000)
                n += pool.records_per_packet
            producer.poll(0)
        c.flush_batches()
        left = producer.flush(120)
        assert left == 0, f"{left} messages not delivered"
        return n / (cpu_self() - c0), n / (time.perf_counter() - w0)
    finally:
        # the producer goes first: a live one asking for metadata would re-create the topic
        del c, producer
        gc.collect()
        delete_topics(broker, topic)


# ------------------------------------------------------------------------- 2. sustained


def send_main(args: argparse.Namespace) -> None:
    """Sender process: the v9 pool at a fixed flow rate to --dst; one JSON line of results."""
    tid, fields = softflowd_template()
    pool = v9_pool("v9", tid, fields, args.pool_packets, 25, seed=11)
    host, port = args.dst.rsplit(":", 1)
    addr = (host, int(port))
    socks = []
    for k in range(args.sources):
        sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sk.bind((SENDER_IP if args.sources == 1 else SOURCES_BASE.format(100 + k), 0))
        socks.append(sk)
    bufs = [bytearray(p) for p in pool.data]
    tpl = bytearray(pool.setup[0])
    seq = args.start_seq
    struct.pack_into("!I", tpl, 12, seq)
    for sk in socks:  # every exporter socket announces its template first
        sk.sendto(tpl, addr)
    time.sleep(0.2)
    n_socks = len(socks)
    pps = args.rate / 25 if args.rate else 0
    sent = 0
    i = args.offset % len(bufs)
    c0, t0 = time.process_time(), time.perf_counter()
    tend = t0 + args.seconds
    while True:
        for _ in range(16):
            b = bufs[i]
            seq += 1
            struct.pack_into("!I", b, 12, seq)
            socks[sent % n_socks].sendto(b, addr)
            sent += 1
            i = (i + 1) % len(bufs)
            if sent % 200 == 0:
                seq += 1
                struct.pack_into("!I", tpl, 12, seq)
                socks[(sent // 200) % n_socks].sendto(tpl, addr)
        now = time.perf_counter()
        if now >= tend:
            break
        pace(sent, pps, t0, now)
    el = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "packets": sent,
                "flows": sent * 25,
                "seconds": el,
                "flows_per_s": sent * 25 / el,
                "sender_cpu_s": time.process_time() - c0,
                "next_seq": seq + 1,
                "next_offset": i,
            }
        ),
        flush=True,
    )


def udp_drops(ip: str, port: int) -> int:
    """Kernel drops of every socket bound to ip:port (all workers of a reuseport group)."""
    key = "".join(f"{b:02X}" for b in reversed(socket.inet_aton(ip))) + f":{port:04X}"
    total = 0
    with open("/proc/net/udp") as fh:
        for line in fh:
            p = line.split()
            if len(p) > 12 and p[1] == key:
                total += int(p[12])
    return total


def packets_by_worker(metrics_port: int) -> dict[str, float]:
    """ribflow_collector_packets_total per worker from the parent's relabelled /metrics."""
    import urllib.request

    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return out
    for m in re.finditer(r'^ribflow_collector_packets_total\{.*worker="(\d+)".*\} (\S+)$',
                         text, re.M):  # fmt: skip
        out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


def end_offsets(broker: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": broker, "group.id": "bench-offsets"})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        return sum(
            c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions
        )
    finally:
        c.close()


@dataclass
class Daemon:
    """A process under test, its CPU account and how to count what it wrote."""

    name: str
    proc: subprocess.Popen[bytes]
    ip: str
    port: int
    topic: str  # its Kafka topic, or "" when it writes a file
    flows_per_message: int
    cgroup: Path | None
    out_file: Path | None = None
    metrics_port: int = 0  # >0: a multi-worker collector's parent /metrics

    def cpu(self) -> float:
        if self.cgroup is not None:
            return int((self.cgroup / "cpuacct.usage").read_text()) / 1e9
        return proc_cpu(self.proc.pid)

    def flows_out(self, broker: str) -> int:
        """Flows written so far: Kafka end offsets, or the sum of "packets" in its JSON file
        (every pool record has packets=1, so the sum counts flows even when aggregated; the
        file is read incrementally, whole lines only)."""
        if self.out_file is None:
            return end_offsets(broker, self.topic) * self.flows_per_message
        if not self.out_file.exists():
            return self._file_flows
        with open(self.out_file, "rb") as fh:
            fh.seek(self._file_offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1
        self._file_offset += end
        self._file_flows += sum(int(x) for x in PACKETS_RE.findall(chunk[:end]))
        return self._file_flows

    def reset_file(self) -> None:
        """Empty the output file between steps (it would reach GBs); counts carry on."""
        if self.out_file is not None and self.out_file.exists():
            self.flows_out("")
            with open(self.out_file, "r+b") as fh:
                fh.truncate(0)
            self._file_offset = 0

    _file_offset: int = 0
    _file_flows: int = 0


PACKETS_RE = re.compile(rb'"packets": (\d+)')


def proc_cpu(pid: int) -> float:
    total = 0.0
    for p in [pid, *children(pid)]:
        with contextlib.suppress(OSError):
            s = Path(f"/proc/{p}/stat").read_text()
            f = s[s.rindex(")") + 2 :].split()
            total += sum(int(x) for x in f[11:15]) / TCK
    return total


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError, ValueError):
                s = Path(f"/proc/{d}/stat").read_text()
                if int(s[s.rindex(")") + 2 :].split()[1]) == pid:
                    out.append(int(d))
    return out


def make_cgroup(name: str) -> Path | None:
    path = CGROOT / f"ribflow-bench-{os.getpid()}-{name}"
    try:
        path.mkdir()
        return path
    except OSError as exc:
        log(f"no cpuacct cgroup ({exc}): CPU from /proc (threads yes, reaped children only)")
        return None


def launch(
    cmd: list[str], cgroup: Path | None, env: dict[str, str], out: Path
) -> subprocess.Popen[bytes]:
    if cgroup is not None:
        cmd = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh", *cmd]
    with open(out, "wb") as fh:
        return subprocess.Popen(
            cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_daemon(d: Daemon, sig: int) -> None:
    if d.proc.poll() is None:
        d.proc.send_signal(sig)
        try:
            d.proc.wait(30)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait(10)
    if d.cgroup is not None:
        for _ in range(50):
            try:
                d.cgroup.rmdir()
                break
            except OSError:
                time.sleep(0.2)


@contextlib.contextmanager
def ribflow_collector(broker: str, workdir: Path, workers: int = 1) -> Iterator[Daemon]:
    port = free_port("127.0.0.1", "udp")
    t = f"bench-rf-{uuid.uuid4().hex[:8]}"
    metrics_port = METRICS_BASE if workers > 1 else 0
    env = {
        **os.environ,
        "Quix__Broker__Address": broker,
        "LISTEN_HOSTS": "127.0.0.1",
        "LISTEN_PORTS": str(port),
        "FLOWS_TOPIC": t,
        "SFLOW_COUNTERS_TOPIC": t + "-ctr",
        "FLOW_TEMPLATES_TOPIC": t + "-tpl",
        "FOLLOW_BGP_UPDATES": "false",
        "METRICS_PORT": str(metrics_port),
        "COLLECTOR_WORKERS": str(workers),
        "PARTITIONS": "4",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(REPO / "src"),
    }
    name = "ribflow" if workers == 1 else f"ribflow-w{workers}"
    cg = make_cgroup(name)
    log_file = workdir / "collector.log"
    proc = launch([sys.executable, "-m", "ribflow", "collector"], cg, env, log_file)
    d = Daemon(name, proc, "127.0.0.1", port, t, 25, cg, metrics_port=metrics_port)
    try:
        deadline = time.time() + 90
        while "collector ready" not in log_file.read_text(errors="replace"):
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("collector did not start:\n" + log_file.read_text())
            time.sleep(0.3)
        yield d
    finally:
        stop_daemon(d, signal.SIGTERM)
        delete_topics(broker, t, t + "-ctr", t + "-tpl", t + "-dlq")


NFACCTD_AGGREGATE = (
    "src_host, dst_host, src_port, dst_port, proto, tos, tcpflags, in_iface, out_iface"
)


@contextlib.contextmanager
def nfacctd(broker: str, workdir: Path, output: str) -> Iterator[Daemon]:
    """nfacctd decoding the same packets; output 'kafka' (JSON, one message per flow, to the
    same broker) or 'file' (JSON lines, the anchor benchmark's configuration)."""
    port = free_port(NFACCTD_IP, "udp")
    t = f"bench-nf-{uuid.uuid4().hex[:8]}" if output == "kafka" else ""
    admin = AdminClient({"bootstrap.servers": broker})
    if t:
        admin.create_topics([NewTopic(t, 4, 1)])[t].result(30)
    out_file = workdir / "out.json"
    out_file.unlink(missing_ok=True)
    host, bport = broker.rsplit(":", 1)
    lines = [
        "daemonize: false",
        f"logfile: {workdir}/nfacctd.log",
        f"pidfile: {workdir}/nfacctd.pid",
        f"nfacctd_ip: {NFACCTD_IP}",
        f"nfacctd_port: {port}",
        "nfacctd_time_new: true",
        "nfacctd_pipe_size: 33554432",
        "plugin_pipe_size: 104857600",
        "plugin_buffer_size: 102400",
        "nfacctd_as: netflow",
        "nfacctd_net: netflow",
    ]
    if output == "kafka":
        lines += [
            "plugins: kafka[k]",
            f"aggregate[k]: {NFACCTD_AGGREGATE}",
            "kafka_output[k]: json",
            f"kafka_broker_host[k]: {host}",
            f"kafka_broker_port[k]: {bport}",
            f"kafka_topic[k]: {t}",
            "kafka_refresh_time[k]: 1",
            "kafka_cache_entries[k]: 1000003",
        ]
    else:
        lines += [
            "plugins: print[p]",
            f"aggregate[p]: {NFACCTD_AGGREGATE}",
            "print_output[p]: json",
            f"print_output_file[p]: {out_file}",
            "print_output_file_append[p]: true",
            "print_refresh_time[p]: 2",
            "print_cache_entries[p]: 1000003",
        ]
    conf = workdir / "nfacctd.conf"
    conf.write_text("\n".join(lines) + "\n")
    cg = make_cgroup(f"nfacctd-{output}")
    proc = launch(["nfacctd", "-f", str(conf)], cg, dict(os.environ), workdir / "nfacctd.out")
    d = Daemon(
        f"nfacctd/{output}",
        proc,
        NFACCTD_IP,
        port,
        t,
        1,
        cg,
        None if output == "kafka" else out_file,
    )
    try:
        time.sleep(3)
        if proc.poll() is not None:
            raise SystemExit("nfacctd did not start: " + (workdir / "nfacctd.out").read_text())
        yield d
    finally:
        stop_daemon(d, signal.SIGINT)  # nfacctd ignores SIGTERM
        if t:
            delete_topics(broker, t)


def run_step(
    d: Daemon,
    broker: str,
    rate: float,
    seconds: float,
    state: dict[str, int],
    pool_packets: int,
    sources: int = 1,
) -> dict[str, Any]:
    d.reset_file()
    flows0, cpu0, drops0 = d.flows_out(broker), d.cpu(), udp_drops(d.ip, d.port)
    split0 = packets_by_worker(d.metrics_port) if d.metrics_port else {}
    r = subprocess.run(
        [
            sys.executable,
            __file__,
            "--send",
            "--dst",
            f"{d.ip}:{d.port}",
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--start-seq",
            str(state["seq"]),
            "--offset",
            str(state["offset"]),
            "--pool-packets",
            str(pool_packets),
            "--sources",
            str(sources),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    snd = json.loads(r.stdout.strip().splitlines()[-1])
    state["seq"], state["offset"] = snd["next_seq"], snd["next_offset"]
    # drained: 99.9% of what was sent has come out and nothing more for 3 s, or nothing new for
    # 20 s (a lossy step; daemons write in bursts at their refresh interval); CPU is read then
    last, since, t_end = -1, time.time(), time.time()
    while time.time() - t_end < 300:
        time.sleep(0.5)
        cur = d.flows_out(broker)
        if cur != last:
            last, since = cur, time.time()
            continue
        quiet = time.time() - since
        if (cur - flows0 >= 0.999 * snd["flows"] and quiet >= 3) or quiet >= 20:
            break
    got = d.flows_out(broker) - flows0
    cpu = d.cpu() - cpu0
    split = ""
    if d.metrics_port:
        time.sleep(1.5)  # the workers publish their tallies once per STATS_INTERVAL_S
        now = packets_by_worker(d.metrics_port)
        split = "/".join(f"{now[w] - split0.get(w, 0.0):.0f}" for w in sorted(now))
    return {
        "split": split,
        "daemon": d.name,
        "target": rate,
        "sent_per_s": snd["flows_per_s"],
        "sent": snd["flows"],
        "got": got,
        "loss_pct": 100.0 * (1 - got / snd["flows"]),
        "drops": udp_drops(d.ip, d.port) - drops0,
        "cpu_s": cpu,
        "flows_per_cpu_s": got / cpu if cpu else 0.0,
    }


# ------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", default=os.environ.get("Quix__Broker__Address"),
                    help="a running broker; default: a managed one for this run")  # fmt: skip
    ap.add_argument("--kafka-host", default="127.0.0.1", help="address of the managed broker")
    ap.add_argument("--no-write", action="store_true", help="no benchmarks/results/collector.json")
    ap.add_argument("--impls", default="pure,compiled",
                    help="in-process record paths, side by side (pure, compiled)")  # fmt: skip
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rates", default="100000,150000,175000,200000,250000")
    ap.add_argument("--packets", type=int, default=2000, help="packets per in-process pool")
    ap.add_argument("--rounds", type=int, default=10, help="passes over each in-process pool")
    ap.add_argument("--pool-packets", type=int, default=20000, help="sender pool (x25 flows)")
    ap.add_argument("--skip-nfacctd", action="store_true")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-in-process", action="store_true")
    ap.add_argument("--workers", default="1", help="COLLECTOR_WORKERS values to run, e.g. 1,2")
    ap.add_argument("--sources", type=int, default=1, help="exporter sockets of the sender")
    ap.add_argument("--workdir", default="/tmp/ribflow-bench-collector")
    # sender mode (internal)
    ap.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dst", default="")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--start-seq", type=int, default=0)
    ap.add_argument("--offset", type=int, default=0)
    args = ap.parse_args()
    if args.send:
        send_main(args)
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with given_or_managed_broker(args.broker, args.kafka_host, workdir) as broker:
        args.broker = broker
        run(args, workdir)


def run(args: argparse.Namespace, workdir: Path) -> None:
    impls = [i for i in args.impls.split(",") if i == "pure" or lpm.COMPILED is not None]
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    pools = [*all_pools(args.packets), sflow_pool(args.packets)]
    rows = []
    for pool in [] if args.skip_in_process else pools:
        for impl in impls:
            log("in-process", pool.name, impl)
            with record_impl(impl):
                dec = decode_only(pool, args.rounds, impl)
                one = decode_publish(pool, args.broker, 1, args.rounds)
                ten = decode_publish(pool, args.broker, 10, args.rounds)
            rows.append((f"{pool.name} {impl}", pool.records_per_packet, dec, one, ten))
    steps: list[dict[str, Any]] = []
    if not args.skip_live:
        rates = [float(r) for r in args.rates.split(",")]
        daemons: list[tuple[str, Any]] = [
            (f"ribflow-w{n}", lambda b, w, n=n: ribflow_collector(b, w, n))
            for n in (int(x) for x in args.workers.split(","))
        ]
        if not args.skip_nfacctd:
            daemons.append(("nfacctd-kafka", lambda b, w: nfacctd(b, w, "kafka")))
            daemons.append(("nfacctd-file", lambda b, w: nfacctd(b, w, "file")))
        for name, factory in daemons:
            sub = workdir / name
            sub.mkdir(exist_ok=True)
            with factory(args.broker, sub) as d:
                state = {"seq": 1, "offset": 0}
                run_step(  # warm-up
                    d, args.broker, 50_000, 3, state, args.pool_packets, args.sources
                )
                for rate in rates:
                    log(name, "step", rate, "load", Path("/proc/loadavg").read_text().split()[0])
                    step = run_step(
                        d, args.broker, rate, args.seconds, state, args.pool_packets, args.sources
                    )
                    step["load1"] = Path("/proc/loadavg").read_text().split()[0]
                    log(json.dumps(step))
                    steps.append(step)
                    if step["loss_pct"] > 5:
                        break  # past its capacity: higher rates only lose more
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    report(rows, steps, load0, load1, args)
    if not args.no_write:
        write_figures(rows, load0, load1, args)


def write_figures(
    rows: list[Any], load0: list[str], load1: list[str], args: argparse.Namespace
) -> None:
    """benchmarks/results/collector.json: each pool's compiled record path next to the pure-
    Python one measured in the same run (in process, decode + publish to a real broker)."""
    by = {name: one[0] for name, _rpp, _dec, one, _ten in rows}
    figures = [
        Figure(
            f"collector in process, {name.removesuffix(' compiled')} pool, decode + publish to "
            f"Kafka, 1 message per export packet, compiled record path",
            "flows/CPU-s", round(value),
            "pure-Python record path (RIBFLOW_PURE_LPM=1), same run",
            round(by[name.replace(" compiled", " pure")]),
        )
        for name, value in by.items()
        if name.endswith(" compiled") and name.replace(" compiled", " pure") in by
        and not name.startswith("sflow")  # no compiled codec: both rows are the Python path
    ]  # fmt: skip
    if not figures:
        return
    notes = (
        f"{args.packets:,} packets per pool, {args.rounds} passes; CPU of this process "
        f"(librdkafka threads included); load average {'/'.join(load0)} at start, "
        f"{'/'.join(load1)} at end (a shared machine: the ratios are of one run)"
    )
    print("# wrote", write_result("collector", figures, notes=notes))


def report(
    rows: list[Any],
    steps: list[dict[str, Any]],
    load0: list[str],
    load1: list[str],
    args: argparse.Namespace,
) -> None:
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {' '.join(load0)} at start, "
        f"{' '.join(load1)} at end (shared with the broker and other work)"
    )
    print("\n1. in process, real Kafka (flows per CPU-second; CPU includes librdkafka threads)")
    print(
        f"  {'pool, record path':26s} {'rec/pkt':>7s} {'decode-only':>12s} {'decode+publish':>15s} "
        f"{'  (wall f/s)':>12s} {'10 pkts/msg':>12s} {'grouped/1':>9s} {'vs 170k':>8s}"
    )
    for name, rpp, dec, (one, one_wall), (ten, _w) in rows:
        print(
            f"  {name:26s} {rpp:7d} {dec:12,.0f} {one:15,.0f} {one_wall:12,.0f} {ten:12,.0f} "
            f"{ten / one:9.2f} {one / 170_000:8.2f}"
        )
    if not steps:
        return
    print(
        f"\n2. sustained UDP -> Kafka, NetFlow v9 (25 flows/packet), {args.seconds:.0f} s per step"
    )
    print(
        f"  {'daemon':14s} {'target/s':>9s} {'sent/s':>9s} {'delivered':>10s} {'loss%':>8s} "
        f"{'drops':>6s} {'cpu s':>6s} {'flows/CPU-s':>12s} {'load1':>6s}  packets per worker"
    )
    for s in steps:
        print(
            f"  {s['daemon']:14s} {s['target']:9,.0f} {s['sent_per_s']:9,.0f} {s['got']:10,d} "
            f"{s['loss_pct']:8.3f} {s['drops']:6d} {s['cpu_s']:6.2f} "
            f"{s['flows_per_cpu_s']:12,.0f} {s.get('load1', ''):>6s}  {s.get('split', '')}"
        )
    best: dict[str, float] = {}
    cost: dict[str, list[float]] = {}
    for s in steps:
        if s["loss_pct"] < 0.1:
            best[s["daemon"]] = max(best.get(s["daemon"], 0.0), s["sent_per_s"])
            cost.setdefault(s["daemon"], []).append(s["flows_per_cpu_s"])
    print("\n  highest rate with < 0.1% loss (of the rates tried):")
    for name, rate in best.items():
        per_cpu = sorted(cost[name])[len(cost[name]) // 2]
        line = f"    {name:14s} {rate:10,.0f} flows/s   median {per_cpu:10,.0f} flows/CPU-s"
        if name != "ribflow" and "ribflow" in best:
            line += f"   ribflow/this: rate {best['ribflow'] / rate:.2f}"
            line += f", per CPU {sorted(cost['ribflow'])[len(cost['ribflow']) // 2] / per_cpu:.2f}"
        print(line)
    if "ribflow" in best:
        print(f"  ribflow vs the 175k flows/s goal: {best['ribflow'] / 175_000:.2f}")
        for name, rate in best.items():
            if name.startswith("ribflow-w"):
                print(f"  {name} vs 1 worker (lossless rate): {rate / best['ribflow']:.2f}")


if __name__ == "__main__":
    main()
