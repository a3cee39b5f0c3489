"""The collector benchmark's sustained part (bench_collector.py, step 2): `ribflow collector` and
nfacctd as daemons under test (CPU from a cpuacct cgroup or /proc, flows out from Kafka end
offsets or nfacctd's file, kernel drops from /proc/net/udp), and one step of the script's paced
sender (its --send mode) at a rate.

The importing script puts the repository root and src/ on sys.path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.fixtures.kafka import delete_topics
from tests.fixtures.ports import free_port

REPO = Path(__file__).resolve().parents[1]
BENCH_COLLECTOR = REPO / "benchmarks" / "bench_collector.py"  # its --send mode is the sender
NFACCTD_IP = "127.0.0.70"  # the addresses this benchmark may use: 127.0.0.70-79
METRICS_BASE = 21600  # the workers run's /metrics: 21600 (parent), 21601.. (workers)
CGROOT = Path("/sys/fs/cgroup/cpuacct")
TCK = os.sysconf("SC_CLK_TCK")


def log(*args: object) -> None:
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


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
            str(BENCH_COLLECTOR),
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
