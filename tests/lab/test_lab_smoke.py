"""The lab, end to end, on its own loopback addresses and ports (not the fixed lab ones).

`ribflow lab up` with the session's Kafka, a small generated table and real gobgpd, ExaBGP,
collector, enricher, aggregator and softflowd; then `lab tail` must show enriched flows whose
AS path, destination AS and BGP next hop are what gobgp itself says for each destination; a
route injected with the gobgp CLI must move a destination's flows to the new AS; `lab down`
must leave none of the lab's processes running (checked by pid).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from ribflow.lab import procs
from ribflow.lab.router import Gobgp
from ribflow.lab.state import LabState
from ribflow.lab.traffic import load_plan
from tests.fixtures.ports import free_port
from tests.lab.fixtures import SMOKE_COLLECTOR, SMOKE_EXABGP, SMOKE_GRPC, SMOKE_ROUTER

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

NEW_PATH = (64999, 65123)
NEW_NEXT_HOP = "192.0.2.99"


def ribflow(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ribflow", *args], capture_output=True,
                          text=True, timeout=timeout)


@dataclass
class Lab:
    dir: Path
    prefix: str
    up: subprocess.CompletedProcess[str]
    pids: set[int]


def lab_pids(lab_dir: Path) -> set[int]:
    """Every process of the lab right now: recorded pids, their groups, the bridge."""
    state = LabState.load(lab_dir)
    pids: set[int] = set()
    if state is not None:
        for rec in state.processes:
            pids.add(rec.pid)
            pids.update(procs.group_pids(rec.pid))
    with contextlib.suppress(OSError, ValueError):
        bridge = int((lab_dir / "run" / "bridge.pid").read_text())
        pids.add(bridge)
        pids.update(procs.group_pids(bridge))
    return pids


@pytest.fixture
def lab(tmp_path: Path, kafka_broker: str) -> Iterator[Lab]:
    lab_dir = tmp_path / "lab"
    prefix = f"smoke{uuid.uuid4().hex[:8]}-"
    up = ribflow(
        "lab", "up", "--dir", str(lab_dir), "--no-install",
        "--broker", kafka_broker, "--kafka", "external", "--topic-prefix", prefix,
        "--router", SMOKE_ROUTER, "--grpc-port", str(SMOKE_GRPC), "--exabgp", SMOKE_EXABGP,
        "--collector", SMOKE_COLLECTOR,
        "--netflow-port", str(free_port(SMOKE_COLLECTOR, "udp")),
        "--sflow-port", str(free_port(SMOKE_COLLECTOR, "udp")),
        "--table", "generated", "--table-v4", "3000", "--table-v6", "300",
        "--traffic-flows", "120", "--traffic-interval", "2", "--timeout", "120",
    )
    pids = lab_pids(lab_dir)
    try:
        yield Lab(lab_dir, prefix, up, pids)
    finally:
        ribflow("lab", "down", "--dir", str(lab_dir), timeout=120)
        leftovers = [p for p in pids | lab_pids(lab_dir) if procs.pid_alive(p)]
        for pid in leftovers:  # never leave a daemon behind, even when the test failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        admin = AdminClient({"bootstrap.servers": kafka_broker})
        mine = [t for t in admin.list_topics(timeout=10).topics if prefix in t]
        if mine:
            for fut in admin.delete_topics(mine, operation_timeout=30).values():
                with contextlib.suppress(Exception):
                    fut.result(timeout=30)


def tail(lab_dir: Path, count: int, timeout: float) -> list[dict[str, Any]]:
    out = ribflow("lab", "tail", "--dir", str(lab_dir), "--count", str(count),
                  "--timeout", str(timeout), timeout=timeout + 60)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def expected_from_gobgp(gobgp: Gobgp, address: str) -> tuple[str, int, str]:
    """(as_path, as_dst, peer_ip_dst) of ``address`` the way gobgp's own lookup has them."""
    best = gobgp.lookup(address)
    if best is None:
        return "", 0, ""
    path = [a for _, asns in best["segments"] for a in asns]
    return "_".join(map(str, path)), path[-1] if path else 0, best["next_hop"]


def wait_for_record(lab_dir: Path, want: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Follow `lab tail` until a record matches every item of ``want``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ribflow", "lab", "tail", "--dir", str(lab_dir),
         "--timeout", str(timeout)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    return None
                continue
            line = proc.stdout.readline()
            if not line:
                return None
            record = json.loads(line)
            if all(record.get(k) == v for k, v in want.items()):
                return dict(record)
        return None
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_lab_up_tail_route_change_down(lab: Lab) -> None:
    assert lab.up.returncode == 0, lab.up.stdout + lab.up.stderr
    assert "lab up in" in lab.up.stdout
    gobgp = Gobgp(SMOKE_ROUTER, SMOKE_GRPC)

    # 1. enriched flows arrive, and their BGP attributes are the router's (gobgp's own LPM)
    records = tail(lab.dir, count=40, timeout=120)
    assert len(records) == 40, "fewer enriched flows than expected within 2 minutes"
    routed = 0
    for r in records:
        as_path, as_dst, next_hop = expected_from_gobgp(gobgp, r["ip_dst"])
        assert (r["as_path"], r["as_dst"], r["peer_ip_dst"]) == (as_path, as_dst, next_hop), r
        routed += as_dst != 0
    assert routed == len(records)  # every planned destination is inside the table
    # the ready-made Druid spec finds every dimension it ingests in the real records
    spec = json.loads((REPO / "docs" / "druid" / "flows-enriched.json").read_text())
    dims = {d["name"] for d in spec["spec"]["dataSchema"]["dimensionsSpec"]["dimensions"]}
    assert dims <= set(records[0]), dims - set(records[0])

    # 2. status: every process alive, topics filled
    status = ribflow("lab", "status", "--dir", str(lab.dir), "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    st = json.loads(status.stdout)
    names = {p["name"] for p in st["processes"] if p["alive"]}
    assert names == {"router", "enricher", "aggregator", "collector", "exabgp", "bridge",
                     "exporter"}
    assert st["topics"][f"{lab.prefix}flows-enriched"]["messages"] > 0

    # 3. a new, more specific route injected with the gobgp CLI moves a destination's flows
    plan = load_plan(lab.dir / "traffic.json")
    target = max((f for f in plan if not f.v6), key=lambda f: f.packets).dst
    before = expected_from_gobgp(gobgp, target)
    assert before[1] not in (0, NEW_PATH[-1])
    subprocess.run(
        ["gobgp", "-u", SMOKE_ROUTER, "-p", str(SMOKE_GRPC), "global", "rib", "-a", "ipv4",
         "add", f"{target}/32", "origin", "igp", "aspath", ",".join(map(str, NEW_PATH)),
         "nexthop", NEW_NEXT_HOP, "local-pref", "300"],
        check=True, capture_output=True, timeout=30,
    )
    assert expected_from_gobgp(gobgp, target) == ("64999_65123", 65123, NEW_NEXT_HOP)
    switched = wait_for_record(
        lab.dir,
        {"ip_dst": target, "as_dst": NEW_PATH[-1], "as_path": "64999_65123",
         "peer_ip_dst": NEW_NEXT_HOP, "mask_dst": 32},
        timeout=120,
    )
    assert switched is not None, f"flows to {target} never switched to AS {NEW_PATH[-1]}"

    # 4. the aggregator's flows-aggregated carries the seed's aggregate: line, summed per key
    #    and time bin, with the BGP attributes gobgp has for each destination
    out = ribflow("lab", "tail", "--dir", str(lab.dir), "--topic",
                  f"{lab.prefix}flows-aggregated", "--from-beginning", "--count", "5",
                  "--timeout", "240", timeout=300)  # fmt: skip
    aggregated = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert aggregated, "no aggregated record within 4 minutes: " + out.stderr[-2000:]
    keys = {"tag", "as_src", "as_dst", "as_path", "local_pref", "peer_as_src", "peer_as_dst",
            "peer_ip_src", "peer_ip_dst", "iface_in", "iface_out", "ip_src", "ip_dst",
            "port_src", "port_dst", "tcp_flags", "ip_proto", "tos", "timestamp_start",
            "timestamp_end", "stamp_inserted", "stamp_updated", "flows", "packets", "bytes"}
    for a in aggregated:
        assert keys <= set(a), keys - set(a)
        assert a["event_type"] == "purge" and a["flows"] >= 1 and a["bytes"] > 0, a
        if a["ip_dst"] != target:  # the injected route moved only the target's flows
            assert (a["as_path"], a["as_dst"], a["peer_ip_dst"]) == expected_from_gobgp(
                gobgp, a["ip_dst"]
            ), a

    # 5. down stops everything, checked by pid
    pids = lab.pids | lab_pids(lab.dir)
    assert len(pids) >= 7
    down = ribflow("lab", "down", "--dir", str(lab.dir), timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    still = [p for p in pids if procs.pid_alive(p)]
    assert not still, f"processes left after down: {still}"
    assert not (lab.dir / "lab.json").exists()
