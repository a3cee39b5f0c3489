"""Drive the real things around a collector in tests: the collector process, kcat, softflowd
and tshark's NetFlow/IPFIX decode. Every process started here is stopped here, by pid."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ribflow.flow.pcap import Datagram
from tests.fixtures.ports import free_port
from tests.flow.test_sflow_tshark import Obj, tshark_json

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "sflow"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise AssertionError(f"{tool} is required for this integration test and was not found")
    return path


@dataclass
class RunningCollector:
    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log: Path

    def send(self, payloads: list[bytes], pace_every: int = 50) -> None:
        """Send datagrams from 127.0.0.1, pausing briefly every ``pace_every`` packets."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            for i, p in enumerate(payloads, start=1):
                s.sendto(p, ("127.0.0.1", self.port))
                if i % pace_every == 0:
                    time.sleep(0.005)

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10
        ) as r:
            return str(r.read().decode())

    def metric(self, name: str, labels: str = "") -> float:
        """Sum of the samples of ``name`` whose label text contains ``labels``."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            if series.split("{", 1)[0] == name and labels in series:
                total += float(value)
        return total

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def collector(
    tmp_path: Path, broker: str, env: dict[str, str], name: str = "collector"
) -> Iterator[RunningCollector]:
    """Run `python -m ribflow collector` until the block ends (SIGTERM, then SIGKILL)."""
    port, metrics_port = free_port(kind="udp"), free_port()
    work = tmp_path / name
    work.mkdir(exist_ok=True)
    log = work / "collector.log"
    full_env = {
        **os.environ,
        "Quix__Broker__Address": broker,
        "LISTEN_HOSTS": "127.0.0.1",
        "LISTEN_PORTS": str(port),
        "METRICS_PORT": str(metrics_port),
        "PARTITIONS": "1",
        "UDP_RCVBUF_BYTES": str(8 << 20),
        "COLLECTOR_LINGER_MS": "5",
        "BGP_CATCHUP_TIMEOUT_S": "60",
        "PYTHONPATH": str(REPO / "src"),
        **env,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ribflow", "collector"],
            env=full_env,
            cwd=work,  # no stray .env is read
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = RunningCollector(proc, port, metrics_port, log)
    try:
        deadline = time.monotonic() + 90
        while "collector ready" not in running.log_text():
            if proc.poll() is not None:
                raise AssertionError(f"collector exited {proc.returncode}:\n{running.log_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"collector never got ready:\n{running.log_text()}")
            time.sleep(0.1)
        yield running
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def kcat(broker: str, topic: str, until: int, timeout: float = 90.0) -> list[dict[str, Any]]:
    """Messages of ``topic`` read by kcat (-J envelopes), once there are at least ``until``."""
    exe = need("kcat")
    deadline = time.monotonic() + timeout
    msgs: list[dict[str, Any]] = []
    while True:
        out = subprocess.run(
            [exe, "-b", broker, "-C", "-t", topic, "-e", "-q", "-J"],
            capture_output=True,
            timeout=60,
            check=False,
        ).stdout
        msgs = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(msgs) >= until or time.monotonic() > deadline:
            return msgs
        time.sleep(0.3)


def kcat_records(broker: str, topic: str, n_records: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """(messages, records in message order) once ``n_records`` records are in ``topic``."""
    deadline = time.monotonic() + 90
    while True:
        msgs = kcat(broker, topic, 1, timeout=max(1.0, deadline - time.monotonic()))
        records = [r for m in msgs for r in json.loads(m["payload"])["records"]]
        if len(records) >= n_records or time.monotonic() > deadline:
            return msgs, records
        time.sleep(0.3)


def ribflow_decode(*pcaps: Path) -> list[dict[str, Any]]:
    """The records `ribflow decode` (the real command) prints for the captures, in order."""
    out = subprocess.run(
        [sys.executable, "-m", "ribflow", "decode", *map(str, pcaps)],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def softflowd_export(version: int, tmp_path: Path) -> list[Datagram]:
    """softflowd's export of the lab traffic, caught on a UDP socket of ours, in arrival order
    (stamped with the arrival time); softflowd must exit 0 and have sent something."""
    exe = need("softflowd")
    got: list[Datagram] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]

        def catch() -> None:
            data, (src, sport) = sink.recvfrom(65535)
            got.append(Datagram(int(time.time() * 1000), src, sport, "127.0.0.1", port, data))

        proc = subprocess.Popen(
            [
                exe,
                "-r",
                str(DATA / "lab-traffic.pcap"),
                "-n",
                f"127.0.0.1:{port}",
                "-v",
                str(version),
                "-d",
                "-p",
                str(tmp_path / f"softflowd-v{version}.pid"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if select.select([sink], [], [], 0.2)[0]:
                    catch()
                elif proc.poll() is not None:
                    # softflowd is done; anything still in flight arrives well within 2 s
                    while select.select([sink], [], [], 2.0)[0]:
                        catch()
                    break
            output = proc.stdout.read().decode() if proc.stdout else ""
            assert proc.wait(timeout=10) == 0, output
        finally:
            stop(proc)
            if proc.stdout:
                proc.stdout.close()
    assert got, f"softflowd -v {version} exported nothing"
    return got


# ----------------------------------------------------------------- tshark's NetFlow/IPFIX view


def _num(v: Any) -> int | None:
    if v is None:
        return None
    return int(v, 16) if str(v).startswith("0x") else int(v)


def _epoch_ms(text: str) -> int:
    """tshark's 'Nov 28, 2026 17:33:07.000000000 UTC' -> epoch ms."""
    head, frac = text.replace(" UTC", "").rsplit(".", 1)
    dt = datetime.strptime(" ".join(head.split()), "%b %d, %Y %H:%M:%S").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000 + int(frac[:3])


def tshark_cflow(pcap: Path, port: int) -> list[dict[str, Any]]:
    """Flow records tshark decodes (``-d udp.port==PORT,cflow``), in packet order.

    Start/end are absolute epoch ms: NetFlow v5/v9 from the header (export time - sysUpTime +
    the record's uptime offsets), IPFIX from the systemInitTime that softflowd sends in an
    options record. Where tshark is wrong, corrected here:
    - it prints 'abstimestart: Jan 1, 1970' for an uptime offset of 0 (it takes the 0 for an
      absolute time): read as offset 0;
    - it does not undo the 32-bit wrap of sysUpTime offsets: softflowd reading a capture exports
      at uptime 0 flows that started seconds before, i.e. at offsets just below 2**32 ms, which
      tshark shows as 49.7 days after the export. An offset more than 2**31 ms after the
      header's uptime is taken as before the wrap (RFC 3954 counters wrap; every collector
      does this).
    """
    records: list[dict[str, Any]] = []
    init_ms: int | None = None
    for layers in tshark_json(pcap, "-d", f"udp.port=={port},cflow"):
        cf = layers.get("cflow")
        if cf is None:
            continue
        version = _num(cf.get("cflow.version"))
        stamp = cf.get("cflow.timestamp_tree")
        if version in (5, 9):
            secs = _num(stamp.get("cflow.unix_secs"))
            nsecs = _num(stamp.get("cflow.unix_nsecs")) or 0
            uptime_ms = round(float(cf.get("cflow.sysuptime")) * 1000)
            base_ms = secs * 1000 + nsecs // 1_000_000 - uptime_ms
        else:
            base_ms = uptime_ms = None
        for flow in _flows(cf):
            init = flow.get("cflow.sys_init_time")
            if init is not None:
                init_ms = _epoch_ms(init)
            src = flow.get("cflow.srcaddr") or flow.get("cflow.srcaddrv6")
            if src is None:
                continue
            rec: dict[str, Any] = {
                "version": version,
                "src_addr": src,
                "dst_addr": flow.get("cflow.dstaddr") or flow.get("cflow.dstaddrv6"),
                "proto": _num(flow.get("cflow.protocol")),
                "packets": _num(flow.get("cflow.packets")),
                "bytes": _num(flow.get("cflow.octets")),
                "in_if": _num(flow.get("cflow.inputint")),
                "out_if": _num(flow.get("cflow.outputint")),
                "tos": _num(flow.get("cflow.tos")),
            }
            if flow.get("cflow.srcport") is not None:
                rec["src_port"] = _num(flow.get("cflow.srcport"))
                rec["dst_port"] = _num(flow.get("cflow.dstport"))
            if flow.get("cflow.tcpflags") is not None:
                rec["tcp_flags"] = _num(flow.get("cflow.tcpflags"))
            delta = flow.get("cflow.timedelta_tree")
            if delta is not None:
                start = delta.get("cflow.timestart")
                if start is None and "1970" in str(delta.get("cflow.abstimestart")):
                    start = "0"
                rec["_start"] = _unwrap(start, uptime_ms)
                rec["_end"] = _unwrap(delta.get("cflow.timeend"), uptime_ms)
                rec["_base_ms"] = base_ms
            records.append(rec)
        if version == 10:
            for rec in records:
                if rec.get("_base_ms") is None and rec["version"] == 10 and init_ms is not None:
                    rec["_base_ms"] = init_ms
    for rec in records:
        base = rec.pop("_base_ms", None)
        start, end = rec.pop("_start", None), rec.pop("_end", None)
        if base is not None and start is not None and end is not None:
            rec["start_ms"] = base + start
            rec["end_ms"] = base + end
    return records


def _unwrap(offset_s: str | None, uptime_ms: int | None) -> int | None:
    """A record's uptime offset in ms, taken back across the 32-bit wrap when needed."""
    if offset_s is None:
        return None
    ms = round(float(offset_s) * 1000)
    if uptime_ms is not None and ms - uptime_ms > 1 << 31:
        ms -= 1 << 32
    return ms


def _flows(cf: Obj) -> Iterator[Obj]:
    """Every flow record subtree: v5 'pdu i/n', v9/IPFIX '(Flow)Set ...' -> 'Flow n'."""
    for key, sub in cf:
        if not isinstance(sub, Obj):
            continue
        if key.startswith("pdu "):
            yield sub
        elif key.startswith(("FlowSet ", "Set ")):
            for k2, flow in sub:
                if isinstance(flow, Obj) and k2.startswith("Flow "):
                    yield flow
