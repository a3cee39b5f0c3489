"""COLLECTOR_WORKERS > 1: SO_REUSEPORT workers, each exporter on one worker, exactly once.

The kernel claim the design rests on (one source address+port -> always the same socket of a
reuseport group) is checked on real sockets. Then the real thing: `ribflow collector` with two
workers and real Kafka receives the lab's real export packets (softflowd NetFlow v5/v9/IPFIX
and the lab's sFlow) from 16 exporters (one source address each); every record must arrive
exactly once, equal to `ribflow decode` of the same datagrams, both workers must have had
traffic (per-worker metrics), and SIGTERM to the parent must stop every worker (checked by
pid). A restart with two workers decodes template-less v9 data at once from the templates the
previous set wrote (state written by several workers is not confused). A worker that dies takes
the set down (exit 1) instead of leaving exporters re-hashed onto stale templates.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ribflow.flow.pcap import iter_datagrams
from ribflow.flow.settings import CollectorSettings
from ribflow.flow.udp import open_listener
from ribflow.flow.workers import bind_groups
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.ports import free_port_run
from tests.flow.collector_harness import REPO, kcat, ribflow_decode, stop
from tests.flow.netflow_support import LAB
from tests.flow.sflow_build import write_pcap
from tests.flow.test_collector_live import strip_templates_v9

HOST = "127.0.0.110"  # the collector's address; exporters are 127.0.0.100-109 and 111-119
EXPORTERS = [f"127.0.0.{i}" for i in (*range(100, 110), *range(111, 117))]  # 16 exporters
CAPTURES = [
    LAB / "flows-v5.pcap",
    LAB / "flows-v9.pcap",
    LAB / "flows-ipfix.pcap",
    REPO / "tests" / "data" / "sflow" / "lab-flows-sflow.pcap",
]


def payloads(path: Path) -> list[bytes]:
    return [d.payload for d in iter_datagrams(path)]


# --- the kernel's side --------------------------------------------------------------------


def test_one_source_always_lands_on_the_same_socket() -> None:
    """24 sources x 30 datagrams onto a 2-socket reuseport group: each source's datagrams all
    reach one socket, and the sources are spread over both (all on one: p = 2**-23)."""
    first = open_listener("127.0.0.118", 0, 1 << 20, reuseport=True)
    second = open_listener("127.0.0.118", first.port, 1 << 20, reuseport=True)
    senders = []
    try:
        for i in range(24):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f"127.0.0.{100 + i % 8}", 0))
            senders.append(s)
        for _round in range(30):
            for i, s in enumerate(senders):
                s.sendto(str(i).encode(), ("127.0.0.118", first.port))
        seen: dict[int, set[int]] = {}
        got = 0
        deadline = time.monotonic() + 30
        while got < 24 * 30 and time.monotonic() < deadline:
            for n, lst in enumerate((first, second)):
                try:
                    data, _addr = lst.sock.recvfrom(100)
                except BlockingIOError:
                    continue
                seen.setdefault(int(data), set()).add(n)
                got += 1
        assert got == 24 * 30
        assert all(len(socks) == 1 for socks in seen.values()), seen
        assert {n for socks in seen.values() for n in socks} == {0, 1}
    finally:
        for s in senders:
            s.close()
        first.close()
        second.close()


def test_bind_groups_puts_every_worker_on_the_port_the_first_got(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LISTEN_HOSTS", "127.0.0.119")
    monkeypatch.setenv("LISTEN_PORTS", "0")
    settings = CollectorSettings(_env_file=None)  # type: ignore[call-arg]
    groups = bind_groups(settings, 3)
    try:
        ports = {lst.port for g in groups for lst in g}
        assert len(groups) == 3 and all(len(g) == 1 for g in groups)
        assert len(ports) == 1 and ports != {0}
        inodes = {lst.inode for g in groups for lst in g}
        assert len(inodes) == 3  # three sockets, one per worker
    finally:
        for g in groups:
            for lst in g:
                lst.close()


# --- the collector with two workers, real Kafka --------------------------------------------


@dataclass
class Workers:
    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    worker_pids: list[int]
    log: Path

    def metric_by_worker(self, name: str) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = re.match(rf'^{name}\{{.*worker="(\d+)".*\}} (\S+)$', line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
        return out


@contextmanager
def two_workers(tmp_path: Path, broker: str, env: dict[str, str], name: str) -> Iterator[Workers]:
    metrics_port = free_port_run("127.0.0.1", 3)  # the parent and two workers
    work = tmp_path / name
    work.mkdir()
    log = work / "collector.log"
    full_env = {
        **os.environ, "Quix__Broker__Address": broker, "COLLECTOR_WORKERS": "2",
        "LISTEN_HOSTS": HOST, "LISTEN_PORTS": "0", "METRICS_PORT": str(metrics_port),
        "PARTITIONS": "1", "UDP_RCVBUF_BYTES": str(8 << 20), "COLLECTOR_LINGER_MS": "5",
        "FOLLOW_BGP_UPDATES": "false", "PYTHONPATH": str(REPO / "src"), **env,
    }  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "collector"],
            env=full_env, cwd=work, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        ready = None
        while ready is None:
            text = log.read_text(errors="replace")
            ready = re.search(r"collector ready: 2 workers on [\d.]+:(\d+) .* \(pids (\d+) (\d+)\)",
                              text)  # fmt: skip
            assert proc.poll() is None, f"collector exited {proc.returncode}:\n{text}"
            assert time.monotonic() < deadline, f"collector never got ready:\n{text}"
            time.sleep(0.1)
        pids = [int(ready.group(2)), int(ready.group(3))]
        yield Workers(proc, int(ready.group(1)), metrics_port, pids, log)
    finally:
        stop(proc)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def send_all(port: int, per_exporter: dict[str, list[bytes]]) -> None:
    """Each exporter from its own socket (one source address+port), interleaved, paced."""
    socks = {}
    try:
        for addr in per_exporter:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((addr, 0))
            socks[addr] = s
        longest = max(len(p) for p in per_exporter.values())
        for k in range(longest):
            for addr, packets in per_exporter.items():
                if k < len(packets):
                    socks[addr].sendto(packets[k], (HOST, port))
            time.sleep(0.002)
    finally:
        for s in socks.values():
            s.close()


def decoded(tmp_path: Path, per_exporter: dict[str, list[bytes]]) -> list[dict[str, Any]]:
    """`ribflow decode` of the same datagrams, each exporter's as its own capture."""
    files: list[Path] = []
    for addr, packets in per_exporter.items():
        pcap = tmp_path / f"from-{addr}.pcap"
        write_pcap(pcap, packets, dport=2055, src=addr, dst=HOST, first_ts=int(time.time()))
        files.append(pcap)
    return ribflow_decode(*files)


def comparable(rec: dict[str, Any]) -> str:
    """A record without what depends on the arrival time (sFlow has no export clock)."""
    drop = {"time_received_ms"} | ({"start_ms", "end_ms"} if rec["version"] == 5005 else set())
    return json.dumps({k: v for k, v in rec.items() if k not in drop}, sort_keys=True)


def flows_in(broker: str, topic: str) -> list[dict[str, Any]]:
    return [r for m in kcat(broker, topic, 1) for r in json.loads(m["payload"])["records"]]


@pytest.fixture
def topics(topic_factory: TopicFactory) -> dict[str, str]:
    return {
        "FLOWS_TOPIC": topic_factory("flows"),
        "SFLOW_COUNTERS_TOPIC": topic_factory("sflow-counters"),
        "FLOW_TEMPLATES_TOPIC": topic_factory(
            "flow-templates", config={"cleanup.policy": "compact"}
        ),
        "BGP_UPDATES_TOPIC": topic_factory("bgp-updates"),
    }


@pytest.mark.integration
def test_two_workers_exactly_once_and_a_clean_stop(
    tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    per_exporter = {a: payloads(CAPTURES[i % len(CAPTURES)]) for i, a in enumerate(EXPORTERS)}
    sent = sum(len(p) for p in per_exporter.values())
    expected = Counter(comparable(r) for r in decoded(tmp_path, per_exporter))
    n_expected = sum(expected.values())
    with two_workers(tmp_path, kafka_broker, topics, "run") as w:
        assert all(alive(pid) for pid in w.worker_pids)
        send_all(w.port, per_exporter)
        deadline = time.monotonic() + 90
        records = flows_in(kafka_broker, topics["FLOWS_TOPIC"])
        while len(records) < n_expected and time.monotonic() < deadline:
            time.sleep(0.5)
            records = flows_in(kafka_broker, topics["FLOWS_TOPIC"])
        per_worker = w.metric_by_worker("ribflow_collector_packets_total")
        while sum(per_worker.values()) < sent and time.monotonic() < deadline:
            time.sleep(0.5)  # tallies reach Prometheus once per STATS_INTERVAL_S
            per_worker = w.metric_by_worker("ribflow_collector_packets_total")
        up = w.metric_by_worker("ribflow_collector_worker_up")
        w.proc.send_signal(signal.SIGTERM)
        assert w.proc.wait(60) == 0, w.log.read_text()
        assert not any(alive(pid) for pid in w.worker_pids)
    assert up == {"0": 1.0, "1": 1.0}
    assert sum(per_worker.values()) == sent
    assert len([n for n in per_worker.values() if n]) == 2, per_worker  # both had exporters
    final = Counter(comparable(r) for r in flows_in(kafka_broker, topics["FLOWS_TOPIC"]))
    assert sum(final.values()) == n_expected  # nothing lost, nothing twice
    assert final == expected


@pytest.mark.integration
def test_restart_of_two_workers_uses_the_templates_both_wrote(
    tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    v9 = payloads(LAB / "flows-v9.pcap")
    first = {a: v9 for a in EXPORTERS[:8]}
    data_only = {a: [strip_templates_v9(p) for p in v9] for a in EXPORTERS[:8]}
    assert len(data_only[EXPORTERS[0]][0]) < len(v9[0])  # the first packet has the templates
    expected = Counter(comparable(r) for r in decoded(tmp_path, first))
    n = sum(expected.values())
    with two_workers(tmp_path, kafka_broker, topics, "first") as w:
        send_all(w.port, first)
        deadline = time.monotonic() + 90
        while len(flows_in(kafka_broker, topics["FLOWS_TOPIC"])) < n:
            assert time.monotonic() < deadline, "the first run's flows never came"
            time.sleep(0.5)
        w.proc.send_signal(signal.SIGTERM)
        assert w.proc.wait(60) == 0
    saved = {m["key"] for m in kcat(kafka_broker, topics["FLOW_TEMPLATES_TOPIC"], 8)}
    assert {k.split("|")[1] for k in saved if k.startswith("tpl|")} == set(first)
    with two_workers(tmp_path, kafka_broker, topics, "second") as w:
        send_all(w.port, data_only)
        deadline = time.monotonic() + 90
        while len(records := flows_in(kafka_broker, topics["FLOWS_TOPIC"])) < 2 * n:
            assert time.monotonic() < deadline, "the restarted workers' flows never came"
            time.sleep(0.5)
        assert not any(w.metric_by_worker("ribflow_collector_rejected_packets_total").values())
    second = Counter(comparable(r) for r in records[n:])
    assert len(records) == 2 * n and second == expected


@pytest.mark.integration
def test_a_dead_worker_stops_the_set(
    tmp_path: Path, kafka_broker: str, topics: dict[str, str]
) -> None:
    with two_workers(tmp_path, kafka_broker, topics, "dies") as w:
        os.kill(w.worker_pids[0], signal.SIGKILL)
        assert w.proc.wait(60) == 1
        deadline = time.monotonic() + 30
        while alive(w.worker_pids[1]):
            assert time.monotonic() < deadline, "the other worker was never stopped"
            time.sleep(0.1)
        assert "stopping every worker" in w.log.read_text()
