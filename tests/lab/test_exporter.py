"""The exporter loop: real softflowd passes, decoded by tshark, carry the plan's flows, now."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ribflow.lab.exporter import Exporter, ExporterStatus
from ribflow.lab.packets import UDP, ethernet, ip_packet, udp, write_pcap
from ribflow.lab.procs import pid_alive
from ribflow.lab.table import generated_entries
from ribflow.lab.traffic import plan_flows, save_plan
from tests.lab.fixtures import EXPORT_SINK

pytestmark = pytest.mark.integration


Received = list[tuple[float, bytes, int]]


def _receive(sock: socket.socket, out: Received, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, (_, sport) = sock.recvfrom(65535)
        except TimeoutError:
            continue
        out.append((time.time(), data, sport))


@pytest.mark.parametrize("version", [9, 10])
def test_two_passes_export_the_plan_with_current_times(tmp_path: Path, version: int) -> None:
    prefixes = [e.prefix for e in generated_entries(1000, 100, seed=4, router_as=65001)]
    flows = plan_flows(prefixes, 60, seed=8)
    save_plan(tmp_path / "plan.json", flows)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((EXPORT_SINK, 0))
    port = sink.getsockname()[1]
    got: Received = []
    stop = threading.Event()
    reader = threading.Thread(target=_receive, args=(sink, got, stop), daemon=True)
    reader.start()
    exporter = Exporter(tmp_path / "plan.json", f"{EXPORT_SINK}:{port}", version, 1.0, tmp_path)
    t0 = time.time()
    try:
        assert exporter.run(max_passes=2) == 0
        time.sleep(0.5)
    finally:
        stop.set()
        reader.join(5)
        sink.close()
    t1 = time.time()
    status = ExporterStatus.read(tmp_path / "exporter.json")
    assert status is not None and status.passes == 2 and status.failures == 0
    assert status.last_softflowd_pid > 0
    assert not pid_alive(status.last_softflowd_pid), "softflowd still running after its pass"
    assert got, "softflowd sent nothing"

    # tshark decodes what arrived (wrapped in IP/UDP headers as it arrived on loopback)
    pcap = tmp_path / "export.pcap"
    write_pcap(
        pcap,
        [
            (ts, ethernet(ip_packet("127.0.0.1", EXPORT_SINK, UDP, udp(sp, port, d))))
            for ts, d, sp in got
        ],
    )
    cmd = [
        "tshark",
        "-r",
        str(pcap),
        "-d",
        f"udp.port=={port},cflow",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-e",
        "cflow.srcaddr",
        "-e",
        "cflow.srcaddrv6",
        "-e",
        "cflow.dstaddr",
        "-e",
        "cflow.dstaddrv6",
        "-e",
        "cflow.unix_secs",
        "-e",
        "cflow.sysuptime",
        "-e",
        "cflow.timestart",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pairs: list[tuple[str, str]] = []
    starts: list[float] = []
    for line in out.splitlines():
        src4, src6, dst4, dst6, secs, uptime, rel = line.split("|")
        srcs = [a for a in (src4 + "," + src6).split(",") if a]
        dsts = [a for a in (dst4 + "," + dst6).split(",") if a]
        pairs += list(zip(srcs, dsts, strict=True))
        if version == 9 and rel:  # v9: start = header time + (FIRST_SWITCHED - sysUptime)
            for first in rel.split(","):
                delta = (round((float(first) - float(uptime)) * 1000) + 2**31) % 2**32 - 2**31
                starts.append(int(secs) + delta / 1000)
    planned = {(f.src, f.dst) for f in flows}
    assert set(pairs) == planned
    assert len(pairs) == 2 * len({(f.src, f.dst, f.proto, f.sport, f.dport) for f in flows})
    if version == 9:  # flows start "now" (each pass retimed), not at the plan's times
        assert len(starts) == len(pairs)
        assert all(t0 - 5 <= t <= t1 + 1 for t in starts), (min(starts), max(starts), t0, t1)


def test_lab_health_comes_from_the_exporter_this_up_started(tmp_path: Path) -> None:
    """A status file left by an earlier lab ("36 passes") is not the new exporter's health: the
    lab's check reports healthy only once the exporter it started has finished a pass itself."""
    from ribflow.lab import procs
    from ribflow.lab.components import LabPaths, exporter_health, exporter_spec
    from ribflow.lab.settings import LabSettings
    from tests.fixtures.waiting import wait_for

    paths = LabPaths(tmp_path)
    prefixes = [e.prefix for e in generated_entries(200, 0, seed=4, router_as=65001)]
    save_plan(paths.plan, plan_flows(prefixes, 10, seed=8))
    paths.exporter_dir.mkdir(parents=True)
    stale = ExporterStatus(pid=999_999, passes=36, flows_per_pass=10, last_pass_end=time.time())
    stale.write(paths.exporter_dir / "exporter.json")
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.6.1", 0))
    settings = LabSettings(
        LAB_COLLECTOR_ADDRESS="127.0.6.1", LAB_NETFLOW_PORT=sink.getsockname()[1]
    )
    rec = procs.start(exporter_spec(settings, paths))
    health = exporter_health(paths)
    try:
        ok, detail = health(rec)  # at once: the old file must not count
        assert not ok and "36" not in detail, detail
        seen: list[str] = []

        def healthy() -> str | None:
            ok, detail = health(rec)
            seen.append(detail)
            return detail if ok else None

        detail = wait_for("the new exporter's first pass", healthy, timeout=120)
        assert not detail.startswith("36 "), detail
        status = ExporterStatus.read(paths.exporter_dir / "exporter.json")
        assert status is not None and status.pid == rec.pid and 1 <= status.passes < 36
        assert all("36 passes" not in d for d in seen), seen
    finally:
        procs.stop(rec)
        sink.close()
