"""The lab's traffic: flows inside the table; captures that tshark decodes as we meant them."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from ribflow.lab.packets import ICMP, TCP, UDP, checksum, write_pcap
from ribflow.lab.table import generated_entries
from ribflow.lab.traffic import (
    Flow,
    covering,
    is_inside,
    load_factor,
    load_plan,
    plan_flows,
    render,
    retimed,
    save_plan,
    selected,
)

PREFIXES = [e.prefix for e in generated_entries(3000, 300, seed=11, router_as=65001)]


def test_checksum_of_rfc1071_example() -> None:
    # RFC 1071 §3 worked example: the one's complement sum of these words is 0xddf2
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_plan_addresses_fall_inside_the_table() -> None:
    flows = plan_flows(PREFIXES, 500, seed=3)
    assert len(flows) == 500
    pool = set(PREFIXES)
    assert all(is_inside(f.dst, pool) and is_inside(f.src, pool) for f in flows)
    assert not is_inside("192.0.2.1", pool)
    assert any(f.v6 for f in flows) and any(not f.v6 for f in flows)
    assert {f.proto for f in flows} == {TCP, UDP, ICMP}
    # skewed: the busiest destination prefix carries many flows, not 1/400 of them
    busiest = Counter(covering(f.dst, pool) for f in flows).most_common(1)[0][1]
    assert busiest >= 20
    assert plan_flows(PREFIXES, 500, seed=3) == flows  # seed-stable


def test_plan_round_trips_through_json(tmp_path: Path) -> None:
    flows = plan_flows(PREFIXES, 50, seed=1)
    save_plan(tmp_path / "p.json", flows)
    assert load_plan(tmp_path / "p.json") == flows


def test_render_ends_now_and_keeps_packet_counts() -> None:
    flows = plan_flows(PREFIXES, 80, seed=2)
    frames = render(flows, span=2.0)
    assert len(frames) == sum(f.packets for f in flows)
    offsets = [t for t, _ in frames]
    assert offsets == sorted(offsets)
    assert offsets[0] >= -2.0 and offsets[-1] <= 0.0
    now = 1_800_000_000.0
    assert [t for t, _ in retimed(frames, now)] == [now + t for t in offsets]


def test_passes_vary_slowly_between_55_and_100_percent() -> None:
    factors = [load_factor(n) for n in range(60)]
    assert min(factors) >= 0.55 and max(factors) <= 1.0
    assert max(factors) - min(factors) > 0.4  # a full wave within 30 passes
    assert all(abs(a - b) < 0.1 for a, b in itertools.pairwise(factors))  # slowly
    sizes = [len(selected(1000, n, load_factor(n))) for n in range(30)]
    assert all(abs(size - 1000 * load_factor(n)) < 60 for n, size in enumerate(sizes))
    assert selected(1000, 3, 0.8) != selected(1000, 4, 0.8)  # another subset each pass


@pytest.mark.integration
def test_tshark_reads_the_capture_as_planned(tmp_path: Path) -> None:
    flows = [
        Flow("11.0.0.10", "11.0.1.20", TCP, 40000, 443, 5, 1200),
        Flow("2a00:0:1::5", "2a00:0:2::6", UDP, 5353, 53, 3, 100),
        Flow("11.0.0.11", "11.0.1.21", ICMP, 0, 0, 2, 56),
        Flow("2a00:0:1::7", "2a00:0:2::8", ICMP, 0, 0, 2, 56),
    ]
    now = time.time()
    pcap = tmp_path / "t.pcap"
    write_pcap(pcap, retimed(render(flows), now))
    fields = ["frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.dstport",
              "udp.dstport", "ip.len", "ipv6.plen", "icmp.type", "icmpv6.type"]
    cmd = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|",
           "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
           "-o", "ip.check_checksum:TRUE"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 12
    rows = [dict(zip(fields, ln.split("|"), strict=True)) for ln in out]
    assert all(now - 3 <= float(r["frame.time_epoch"]) <= now + 0.01 for r in rows)
    tcp = [r for r in rows if r["tcp.dstport"]]
    assert len(tcp) == 5 and {r["ip.src"] for r in tcp} == {"11.0.0.10"}
    assert max(int(r["ip.len"]) for r in tcp) == 20 + 20 + 1200
    udp6 = [r for r in rows if r["udp.dstport"]]
    assert [r["ipv6.dst"] for r in udp6] == ["2a00:0:2::6"] * 3
    assert {int(r["ipv6.plen"]) for r in udp6} == {8 + 100}
    assert [r["icmp.type"] for r in rows if r["icmp.type"]] == ["8", "8"]
    assert [r["icmpv6.type"] for r in rows if r["icmpv6.type"]] == ["128", "128"]
    checks = ["-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
              "-o", "ip.check_checksum:TRUE"]
    flagged = "tcp.checksum.status == 0 || udp.checksum.status == 0 || ip.checksum.status == 0" \
        " || icmp.checksum.status == 0 || icmpv6.checksum.status == 0 || _ws.malformed"
    bad = subprocess.run(["tshark", "-r", str(pcap), *checks, "-Y", flagged],
                         capture_output=True, text=True, check=True)
    assert bad.stdout == "", "tshark finds bad checksums or malformed packets"
